//! Packet sources: capture files (pcap, pcapng) and live interfaces.
//!
//! A source hands packets to a callback rather than returning borrowed
//! packets, so file readers can lend their internal buffer without copying
//! and the live reader can hand over whole batches from its capture thread.

pub mod file;
pub mod generator;
pub mod live;
pub mod readahead;

use std::path::PathBuf;

/// One captured frame, borrowed from the source's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Capture timestamp, nanoseconds since the UNIX epoch.
    pub ts_ns: u64,
    /// Link-layer type of this frame (DLT / LINKTYPE number).
    pub linktype: u32,
    /// Length of the frame on the wire (may exceed `data.len()` when the
    /// capture was truncated by a snap length).
    pub wire_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// What one call to [`PacketSource::poll`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// This many packets were delivered; call again.
    Packets(usize),
    /// Nothing arrived before the source's read timeout (live capture only);
    /// the caller may do housekeeping and call again.
    Idle,
    /// The source is exhausted.
    Eof,
}

/// Counters a source keeps about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets the source delivered.
    pub received: u64,
    /// Packets the kernel or the capture buffer dropped (live only).
    pub dropped: u64,
    /// Packets the interface driver dropped (live only, where reported).
    pub if_dropped: u64,
}

/// Something packets can be read from.
pub trait PacketSource {
    /// Deliver up to `max` packets to `f`.
    fn poll(&mut self, max: usize, f: &mut dyn FnMut(&Packet<'_>)) -> Result<Poll, CaptureError>;

    /// Current counters.
    fn stats(&self) -> CaptureStats;

    /// Human-readable name for logs and errors (file name or interface).
    fn name(&self) -> &str;
}

/// Why a source failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{name}: not a pcap or pcapng capture ({detail})")]
    Format { name: String, detail: String },
    #[error("{name}: corrupt capture at byte offset {offset}: {detail}")]
    Corrupt {
        name: String,
        offset: u64,
        detail: String,
    },
    #[error("{name}: read error at byte offset {offset}")]
    Read { name: String, offset: u64 },
    #[error("live capture on {iface}: {detail}")]
    Live { iface: String, detail: String },
    #[error("cannot drop privileges to {what}: {detail}")]
    Privileges { what: String, detail: String },
}
