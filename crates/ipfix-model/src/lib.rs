//! IPFIX information model and wire codec shared by `flowmeter` and `mediator`.
//!
//! Written here rather than on netgauze-flow-pkt, which cannot carry YAF's data (wrong 3-byte
//! varlen form, opaque subTemplateMultiList, templates not scoped by observation domain,
//! one unknown template drops a whole message): see `shared/design/dependencies.md`.
//!
//! # API overview
//! - [`ie`]: the information model. [`ElementId`] `{pen, id}`, [`ie::lookup`],
//!   [`ie::lookup_name`].
//! - [`Session`]: decoding state of one transport session (TCP connection, file, UDP peer):
//!   templates keyed by (observation domain, template ID) and sequence numbers per domain.
//!   [`Session::decode`]`(&mut self, buf, offset) -> Result<`[`Message`]`, `[`DecodeError`]`>`.
//!   Oddities that do not stop decoding (unknown template, sequence gap...) land in
//!   [`Message::warnings`] as typed [`Warning`]s; data for an unknown template is kept as
//!   [`SetContent::Undecoded`] and the rest of the message still decodes.
//! - [`Message`] -> [`Set`]s -> [`SetContent`] (templates, options templates, data records,
//!   undecoded). [`Message::data_records`] iterates the top-level [`DataRecord`]s.
//! - [`DataRecord`]: `template: Arc<`[`Template`]`>` + one [`FieldValue`] per template field.
//!   A value is bytes or a decoded RFC 6313 list ([`BasicList`], [`SubTemplateList`],
//!   [`SubTemplateMultiList`]) whose records are [`DataRecord`]s again.
//! - Typed view ([`view`]): [`DataRecord::field`]`(ElementId)`, [`DataRecord::field_by_name`],
//!   [`DataRecord::iter`] give [`Field`]s with `as_u64`/`as_i64`/`as_f64`/`as_bool`/`as_ip`/
//!   `as_ipv4`/`as_ipv6`/`as_mac`/`as_str`/`as_time` (all four dateTime encodings, NTP
//!   included, as a [`Timestamp`] in UNIX nanoseconds) and [`Field::typed`]; nested lists via
//!   [`Field::sub_records`], [`DataRecord::sub_records`] and [`DataRecord::walk`]. Consumers
//!   find DNS records by element, never by template ID.
//! - Encoding: [`Message::encode`] / [`Message::to_bytes`] re-emit a decoded message
//!   byte-identical.
//! - Exporting ([`export`]): [`Template::new`] / [`Template::options`] with [`FieldSpec`]s,
//!   [`RecordBuilder`] appends typed [`Value`]s (reduced-size encoding, paddingOctets,
//!   dateTime encodings, lists in the 3-byte varlen form as YAF writes them), and
//!   [`Exporter`] packs templates and records into messages no larger than a maximum, with
//!   correct lengths and sequence numbers ([`Exporter::take_message`]).
//! - Streams and files: [`frame_len`] / [`complete_frame_len`] find message boundaries in a
//!   byte stream (TCP); [`FileReader`] reads RFC 5655 files (errors carry the byte offset),
//!   [`FileWriter`] writes them.
//! - Limits against hostile input: [`Limits`] (message size, list depth, field values per
//!   message, templates per session).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod ie;

mod decode;
mod encode;
pub mod error;
pub mod export;
pub mod message;
pub mod record;
pub mod session;
pub mod stream;
pub mod template;
pub mod time;
pub mod view;
mod wire;

pub use error::{DecodeError, EncodeError, Warning, WriteError};
pub use export::{Exporter, RecordBuilder, Value};
pub use ie::ElementId;
pub use message::{Message, MessageHeader, Set, SetContent};
pub use record::{
    BasicList, DataRecord, FieldData, FieldValue, StmlEntry, SubTemplateList, SubTemplateMultiList,
    VarLen,
};
pub use session::{Limits, Session};
pub use stream::{complete_frame_len, frame_len, FileReader, FileWriter};
pub use template::{FieldKind, FieldSpec, Template, TemplateCache, TemplateRecord, VARLEN};
pub use time::Timestamp;
pub use view::{Field, TypedValue};
