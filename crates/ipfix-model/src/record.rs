//! Decoded data records and RFC 6313 structured data. Values borrow the input buffer
//! (`Cow::Borrowed`) when decoded and own their bytes when built by an exporter.

use std::borrow::Cow;
use std::sync::Arc;

use crate::template::{FieldSpec, Template};

/// Which variable-length encoding a value used on the wire (RFC 7011 §7): kept so a decoded
/// record re-encodes byte-identical (YAF writes lists in the 3-byte form even when short).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum VarLen {
    /// One length byte (< 255).
    Short,
    /// 0xFF then a 16-bit length.
    Long,
}

/// RFC 6313 list semantics (the first content byte of every list).
pub mod semantic {
    pub const NONE_OF: u8 = 0;
    pub const EXACTLY_ONE_OF: u8 = 1;
    pub const ONE_OR_MORE_OF: u8 = 2;
    pub const ALL_OF: u8 = 3;
    pub const ORDERED: u8 = 4;
    pub const UNDEFINED: u8 = 0xFF;
}

/// One field value of a record (or one basicList element).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldValue<'a> {
    /// `Some` when the template declared the field variable-length.
    pub varlen: Option<VarLen>,
    pub data: FieldData<'a>,
}

/// The content of a field: bytes, or a decoded list.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldData<'a> {
    /// Plain value bytes (no length prefix). Lists with empty content also stay here.
    Raw(Cow<'a, [u8]>),
    BasicList(BasicList<'a>),
    SubTemplateList(SubTemplateList<'a>),
    SubTemplateMultiList(SubTemplateMultiList<'a>),
}

/// A data record: its template and one value per template field, in template order.
#[derive(Clone, Debug, PartialEq)]
pub struct DataRecord<'a> {
    pub template: Arc<Template>,
    pub fields: Vec<FieldValue<'a>>,
}

/// RFC 6313 §4.5.1 basicList: elements of one information element.
#[derive(Clone, Debug, PartialEq)]
pub struct BasicList<'a> {
    pub semantic: u8,
    pub field: FieldSpec,
    pub elements: Vec<FieldValue<'a>>,
}

/// RFC 6313 §4.5.2 subTemplateList: records of one template.
#[derive(Clone, Debug, PartialEq)]
pub struct SubTemplateList<'a> {
    pub semantic: u8,
    pub template_id: u16,
    pub records: Vec<DataRecord<'a>>,
    /// Bytes left after the records: everything when the template is unknown, else trailing
    /// bytes too short for another record (normally empty).
    pub undecoded: Cow<'a, [u8]>,
}

/// RFC 6313 §4.5.3 subTemplateMultiList: entries each holding records of one template.
#[derive(Clone, Debug, PartialEq)]
pub struct SubTemplateMultiList<'a> {
    pub semantic: u8,
    pub entries: Vec<StmlEntry<'a>>,
}

/// One entry of a subTemplateMultiList.
#[derive(Clone, Debug, PartialEq)]
pub struct StmlEntry<'a> {
    pub template_id: u16,
    pub records: Vec<DataRecord<'a>>,
    /// As in [`SubTemplateList::undecoded`].
    pub undecoded: Cow<'a, [u8]>,
}

impl<'a> FieldValue<'a> {
    /// A fixed-length plain value.
    pub fn raw(bytes: impl Into<Cow<'a, [u8]>>) -> Self {
        Self {
            varlen: None,
            data: FieldData::Raw(bytes.into()),
        }
    }

    /// Plain bytes of the value (`None` for decoded lists).
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.data {
            FieldData::Raw(b) => Some(b),
            _ => None,
        }
    }

    /// Bytes the value content takes, without the varlen prefix.
    pub fn content_len(&self) -> usize {
        self.data.encoded_len()
    }

    /// Bytes on the wire including the varlen prefix.
    pub fn wire_len(&self) -> usize {
        let c = self.content_len();
        match self.varlen {
            None => c,
            Some(VarLen::Short) if c < 255 => 1 + c,
            Some(_) => 3 + c,
        }
    }

    pub fn into_owned(self) -> FieldValue<'static> {
        FieldValue {
            varlen: self.varlen,
            data: self.data.into_owned(),
        }
    }
}

impl<'a> FieldData<'a> {
    /// Encoded content length (lists included, recursively).
    pub fn encoded_len(&self) -> usize {
        match self {
            FieldData::Raw(b) => b.len(),
            FieldData::BasicList(l) => {
                1 + l.field.wire_len() + l.elements.iter().map(FieldValue::wire_len).sum::<usize>()
            }
            FieldData::SubTemplateList(l) => {
                3 + l.records.iter().map(DataRecord::wire_len).sum::<usize>() + l.undecoded.len()
            }
            FieldData::SubTemplateMultiList(l) => {
                1 + l.entries.iter().map(StmlEntry::wire_len).sum::<usize>()
            }
        }
    }

    pub fn into_owned(self) -> FieldData<'static> {
        match self {
            FieldData::Raw(b) => FieldData::Raw(Cow::Owned(b.into_owned())),
            FieldData::BasicList(l) => FieldData::BasicList(BasicList {
                semantic: l.semantic,
                field: l.field,
                elements: l.elements.into_iter().map(FieldValue::into_owned).collect(),
            }),
            FieldData::SubTemplateList(l) => FieldData::SubTemplateList(SubTemplateList {
                semantic: l.semantic,
                template_id: l.template_id,
                records: l.records.into_iter().map(DataRecord::into_owned).collect(),
                undecoded: Cow::Owned(l.undecoded.into_owned()),
            }),
            FieldData::SubTemplateMultiList(l) => {
                FieldData::SubTemplateMultiList(SubTemplateMultiList {
                    semantic: l.semantic,
                    entries: l.entries.into_iter().map(StmlEntry::into_owned).collect(),
                })
            }
        }
    }
}

impl<'a> DataRecord<'a> {
    /// Bytes of the record on the wire.
    pub fn wire_len(&self) -> usize {
        self.fields.iter().map(FieldValue::wire_len).sum()
    }

    pub fn template_id(&self) -> u16 {
        self.template.id()
    }

    /// Detaches the record from the input buffer (e.g. to keep it across an `.await`).
    pub fn into_owned(self) -> DataRecord<'static> {
        DataRecord {
            template: self.template,
            fields: self
                .fields
                .into_iter()
                .map(FieldValue::into_owned)
                .collect(),
        }
    }
}

impl<'a> StmlEntry<'a> {
    /// Bytes of the entry on the wire, including its 4-byte header.
    pub fn wire_len(&self) -> usize {
        4 + self.records.iter().map(DataRecord::wire_len).sum::<usize>() + self.undecoded.len()
    }

    pub fn into_owned(self) -> StmlEntry<'static> {
        StmlEntry {
            template_id: self.template_id,
            records: self
                .records
                .into_iter()
                .map(DataRecord::into_owned)
                .collect(),
            undecoded: Cow::Owned(self.undecoded.into_owned()),
        }
    }
}
