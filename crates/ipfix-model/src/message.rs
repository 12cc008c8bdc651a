//! IPFIX messages and sets (RFC 7011 §3.1, §3.3) as decoded or to be encoded.

use std::borrow::Cow;
use std::sync::Arc;

use crate::error::Warning;
use crate::record::DataRecord;
use crate::template::{Template, TemplateRecord};

/// IPFIX protocol version number.
pub const VERSION: u16 = 10;
/// Bytes of the message header.
pub const HEADER_LEN: usize = 16;
/// Set ID of template sets.
pub const TEMPLATE_SET_ID: u16 = 2;
/// Set ID of options template sets.
pub const OPTIONS_TEMPLATE_SET_ID: u16 = 3;
/// Smallest data set ID (= smallest template ID).
pub const MIN_DATA_SET_ID: u16 = 256;

/// The 16-byte message header.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MessageHeader {
    pub version: u16,
    /// Total message length as on the wire (recomputed when encoding).
    pub length: u16,
    /// Seconds since the UNIX epoch.
    pub export_time: u32,
    pub sequence_number: u32,
    pub domain_id: u32,
}

/// A decoded (or assembled) message.
#[derive(Clone, Debug, PartialEq)]
pub struct Message<'a> {
    pub header: MessageHeader,
    /// Absolute offset of the message in its stream or file.
    pub offset: u64,
    pub sets: Vec<Set<'a>>,
    /// Survivable oddities found while decoding (unknown templates, sequence gaps...).
    pub warnings: Vec<Warning>,
}

/// One set of a message.
#[derive(Clone, Debug, PartialEq)]
pub struct Set<'a> {
    pub id: u16,
    /// Absolute offset of the set header.
    pub offset: u64,
    pub content: SetContent<'a>,
    /// Bytes after the last record that are too short for another one (RFC 7011 §3.3.1).
    pub padding: Cow<'a, [u8]>,
}

/// What a set carries.
#[derive(Clone, Debug, PartialEq)]
pub enum SetContent<'a> {
    Templates(Vec<TemplateRecord>),
    OptionsTemplates(Vec<TemplateRecord>),
    Data {
        template: Arc<Template>,
        records: Vec<DataRecord<'a>>,
    },
    /// Data for a template this session does not know, or a reserved set ID; kept whole.
    Undecoded(Cow<'a, [u8]>),
}

impl<'a> Message<'a> {
    /// Top-level data records of all data sets, in wire order.
    pub fn data_records(&self) -> impl Iterator<Item = &DataRecord<'a>> {
        self.sets.iter().flat_map(|s| match &s.content {
            SetContent::Data { records, .. } => records.as_slice(),
            _ => &[],
        })
    }

    /// Number of top-level data records decoded.
    pub fn data_record_count(&self) -> usize {
        self.sets
            .iter()
            .map(|s| match &s.content {
                SetContent::Data { records, .. } => records.len(),
                _ => 0,
            })
            .sum()
    }

    /// True when some data set could not be decoded for want of its template.
    pub fn has_undecoded_data(&self) -> bool {
        self.sets
            .iter()
            .any(|s| s.id >= MIN_DATA_SET_ID && matches!(s.content, SetContent::Undecoded(_)))
    }

    /// Detaches the message from the input buffer.
    pub fn into_owned(self) -> Message<'static> {
        Message {
            header: self.header,
            offset: self.offset,
            sets: self.sets.into_iter().map(Set::into_owned).collect(),
            warnings: self.warnings,
        }
    }
}

impl<'a> Set<'a> {
    pub fn into_owned(self) -> Set<'static> {
        Set {
            id: self.id,
            offset: self.offset,
            content: match self.content {
                SetContent::Templates(t) => SetContent::Templates(t),
                SetContent::OptionsTemplates(t) => SetContent::OptionsTemplates(t),
                SetContent::Data { template, records } => SetContent::Data {
                    template,
                    records: records.into_iter().map(DataRecord::into_owned).collect(),
                },
                SetContent::Undecoded(b) => SetContent::Undecoded(Cow::Owned(b.into_owned())),
            },
            padding: Cow::Owned(self.padding.into_owned()),
        }
    }
}
