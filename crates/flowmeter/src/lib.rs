//! flowmeter: a YAF-compatible flow meter with built-in DNS deep-packet
//! inspection.
//!
//! Data flow: [`capture`] sources yield frames -> [`decode`] turns them into
//! [`decode::PacketMeta`] -> [`flow::FlowTable`] keeps bidirectional flows
//! (RFC 5103) and runs DNS inspection ([`dpi`]) -> finished
//! [`flow::FlowRecord`]s go to a [`flow::FlowSink`]. [`pipeline`] drives it.
#![forbid(unsafe_code)]

pub mod capture;
pub mod config;
pub mod decode;
pub mod dpi;
pub mod export;
pub mod flow;
pub mod pipeline;
pub mod procfs;
