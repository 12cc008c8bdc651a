//! Error and warning types. Every variant says where: absolute byte offsets in the stream or
//! file (`msg_offset` = start of the message, `offset` = the offending byte) and the set or
//! template involved, so a collector can log something an operator can act on.

use std::sync::Arc;

/// Input that cannot be decoded. The message (or file) it came from should be reported.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("truncated {what} at byte offset {offset}: needs {needed} bytes, {available} left (message at {msg_offset})")]
    Truncated {
        msg_offset: u64,
        offset: u64,
        what: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("bad IPFIX version {version} at byte offset {msg_offset} (expected 10)")]
    BadVersion { msg_offset: u64, version: u16 },
    #[error("bad message length {length} at byte offset {msg_offset} (must be 16..={max})")]
    BadMessageLength {
        msg_offset: u64,
        length: usize,
        max: usize,
    },
    #[error("bad set length {length} for set id {set_id} at byte offset {set_offset} (message at {msg_offset})")]
    BadSetLength {
        msg_offset: u64,
        set_offset: u64,
        set_id: u16,
        length: u16,
    },
    #[error("invalid template {template_id} at byte offset {offset} (set at {set_offset}, message at {msg_offset}): {reason}")]
    BadTemplate {
        msg_offset: u64,
        set_offset: u64,
        offset: u64,
        template_id: u16,
        reason: &'static str,
    },
    #[error("malformed record of template {template_id} at byte offset {offset} (set at {set_offset}, message at {msg_offset}): {reason}")]
    BadRecord {
        msg_offset: u64,
        set_offset: u64,
        offset: u64,
        template_id: u16,
        reason: &'static str,
    },
    #[error("structured data nested deeper than {limit} levels at byte offset {offset} (message at {msg_offset})")]
    TooDeep {
        msg_offset: u64,
        offset: u64,
        limit: usize,
    },
    #[error("limit exceeded at byte offset {offset} (message at {msg_offset}): more than {limit} {what}")]
    LimitExceeded {
        msg_offset: u64,
        offset: u64,
        what: &'static str,
        limit: usize,
    },
    #[error("I/O error at byte offset {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: Arc<std::io::Error>,
    },
}

impl DecodeError {
    /// Absolute offset of the byte the error is about (the message start when nothing finer
    /// is known).
    pub fn offset(&self) -> u64 {
        match self {
            DecodeError::Truncated { offset, .. }
            | DecodeError::BadTemplate { offset, .. }
            | DecodeError::BadRecord { offset, .. }
            | DecodeError::TooDeep { offset, .. }
            | DecodeError::LimitExceeded { offset, .. }
            | DecodeError::Io { offset, .. } => *offset,
            DecodeError::BadVersion { msg_offset, .. }
            | DecodeError::BadMessageLength { msg_offset, .. } => *msg_offset,
            DecodeError::BadSetLength { set_offset, .. } => *set_offset,
        }
    }
}

/// Something odd but survivable in a message that otherwise decoded. Callers decide the
/// policy: a UDP collector counts them, a TCP or file reader may report them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Warning {
    #[error("data set at byte offset {set_offset} (message at {msg_offset}) uses unknown template {template_id} of domain {domain_id}; kept undecoded")]
    UnknownTemplate {
        msg_offset: u64,
        set_offset: u64,
        domain_id: u32,
        template_id: u16,
    },
    #[error("list at byte offset {offset} (message at {msg_offset}) uses unknown template {template_id} of domain {domain_id}; kept undecoded")]
    UnknownListTemplate {
        msg_offset: u64,
        offset: u64,
        domain_id: u32,
        template_id: u16,
    },
    #[error("sequence number {received} in message at byte offset {msg_offset}, expected {expected} (domain {domain_id})")]
    SequenceGap {
        msg_offset: u64,
        domain_id: u32,
        expected: u32,
        received: u32,
    },
    #[error("set with reserved id {set_id} at byte offset {set_offset} (message at {msg_offset}); kept undecoded")]
    ReservedSetId {
        msg_offset: u64,
        set_offset: u64,
        set_id: u16,
    },
    #[error("template {template_id} at byte offset {offset} (message at {msg_offset}) ignored: session already holds {limit} templates")]
    TemplateLimit {
        msg_offset: u64,
        offset: u64,
        template_id: u16,
        limit: usize,
    },
}

/// A value or structure that cannot be put on the wire as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("{what} of {len} bytes exceeds the IPFIX limit of {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("template {template_id} field {field_index}: value is {got} bytes, template says {expected}")]
    LengthMismatch {
        template_id: u16,
        field_index: usize,
        expected: u16,
        got: usize,
    },
    #[error("template {template_id}: record has {got} fields, template has {expected}")]
    FieldCount {
        template_id: u16,
        expected: usize,
        got: usize,
    },
    #[error("template {template_id} field {field_index}: value does not fit in {len} bytes")]
    ValueOutOfRange {
        template_id: u16,
        field_index: usize,
        len: u16,
    },
    #[error("template {template_id} field {field_index}: {what}")]
    WrongType {
        template_id: u16,
        field_index: usize,
        what: &'static str,
    },
    #[error("record of {len} bytes cannot fit in a message of at most {max} bytes")]
    RecordTooLarge { len: usize, max: usize },
    #[error("template {template_id} is not defined in this export session (domain {domain_id})")]
    UnknownTemplate { domain_id: u32, template_id: u16 },
    #[error("invalid template {template_id}: {reason}")]
    BadTemplate {
        template_id: u16,
        reason: &'static str,
    },
}

/// Failure to write a message to a file or stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
}
