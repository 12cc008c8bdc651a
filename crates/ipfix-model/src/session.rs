//! Per-transport-session decoding state: templates and sequence numbers, scoped by
//! observation domain (RFC 7011 §8, §10).

use std::collections::HashMap;

use crate::error::{DecodeError, Warning};
use crate::message::Message;
use crate::template::TemplateCache;

/// Bounds against hostile input. The defaults carry every real exporter we know of (YAF's
/// DNS records are 3 list levels deep) with a wide margin.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted (the header's 16-bit length caps it at 65535 anyway).
    pub max_message_len: usize,
    /// Deepest list nesting; a top-level record is depth 0, its lists' records depth 1...
    pub max_depth: usize,
    /// Field values (at all nesting levels) decoded per message: bounds memory per message
    /// when a template has many zero-length fields.
    pub max_fields_per_message: usize,
    /// Templates held per session, all domains together; their field specifiers together are
    /// capped at 64 times this. Templates past either bound are ignored with a warning.
    pub max_templates: usize,
    /// Observation domains whose sequence numbers are tracked per session.
    pub max_tracked_domains: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_len: 65535,
            max_depth: 8,
            max_fields_per_message: 1 << 18,
            max_templates: 16384,
            max_tracked_domains: 4096,
        }
    }
}

/// Decoding state of one transport session: one per TCP connection, file, or UDP peer.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub(crate) templates: TemplateCache,
    /// Next expected sequence number per domain; absent when unknown (start, or after a
    /// message whose data could not all be counted).
    next_seq: HashMap<u32, u32>,
    pub(crate) limits: Limits,
}

impl Session {
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Self {
        Self {
            templates: TemplateCache::with_limit(limits.max_templates),
            next_seq: HashMap::new(),
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn templates(&self) -> &TemplateCache {
        &self.templates
    }

    pub fn templates_mut(&mut self) -> &mut TemplateCache {
        &mut self.templates
    }

    /// Decodes one message starting at `buf[0]`; `offset` is its absolute position in the
    /// stream or file (used in errors). `buf` may extend past the message; the header's
    /// length says how much was used (`message.header.length`). Templates defined in the
    /// message are applied to the session as they are met.
    pub fn decode<'a>(&mut self, buf: &'a [u8], offset: u64) -> Result<Message<'a>, DecodeError> {
        let mut msg = crate::decode::decode_message(self, buf, offset)?;
        self.track_sequence(&mut msg);
        Ok(msg)
    }

    fn track_sequence(&mut self, msg: &mut Message<'_>) {
        let d = msg.header.domain_id;
        let seq = msg.header.sequence_number;
        if let Some(&expected) = self.next_seq.get(&d) {
            if expected != seq {
                msg.warnings.push(Warning::SequenceGap {
                    msg_offset: msg.offset,
                    domain_id: d,
                    expected,
                    received: seq,
                });
            }
        }
        if msg.has_undecoded_data() {
            // Records in undecoded sets cannot be counted, so the next number is unknown.
            self.next_seq.remove(&d);
        } else if self.next_seq.contains_key(&d)
            || self.next_seq.len() < self.limits.max_tracked_domains
        {
            // Counting modulo 2^32 is what RFC 7011 §3.1 specifies.
            let n = msg.data_record_count() as u32;
            self.next_seq.insert(d, seq.wrapping_add(n));
        }
    }
}
