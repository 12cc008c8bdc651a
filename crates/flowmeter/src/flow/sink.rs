//! Where finished flows go. The IPFIX exporters implement [`FlowSink`];
//! [`VecSink`] collects in memory for tests and tools.

use super::{EndedFlow, FlowRecord};

/// A sink failure. Fatal for the run: the pipeline stops and reports it.
#[derive(Debug, thiserror::Error)]
#[error("flow sink failed: {source}")]
pub struct SinkError {
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl SinkError {
    pub fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        SinkError { source: e.into() }
    }
}

/// What YAF's statistics options record (template 0xD003) needs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeterStats {
    /// systemInitTimeMilliseconds: when the meter started (wall clock, ms).
    pub start_time_ms: u64,
    /// Packet time of the latest packet, ns (0 before the first packet).
    pub last_packet_ns: u64,
    /// packetTotalCount: packets read from the sources.
    pub packets: u64,
    /// droppedPacketTotalCount: packets the capture layer lost.
    pub dropped: u64,
    /// ignoredPacketTotalCount: packets read but not usable (not IP, malformed, ...).
    pub ignored: u64,
    /// exportedFlowRecordTotalCount: records handed to the sink.
    pub flows_exported: u64,
    /// expiredFragmentCount: datagrams given up unfinished (timeout or cap).
    pub expired_fragments: u64,
    /// assembledFragmentCount: datagrams reassembled.
    pub assembled_fragments: u64,
    /// flowTableFlushEventCount: expiry passes that ended at least one flow.
    pub flush_events: u64,
    /// flowTablePeakCount: most flows held at once.
    pub peak_flows: u64,
    /// Flows in the table now.
    pub active_flows: u64,
    /// meanFlowRate: flows per second since start (wall clock, as YAF).
    pub mean_flow_rate: u32,
    /// meanPacketRate: packets per second since start (wall clock).
    pub mean_packet_rate: u32,
    /// Flows evicted because the table was full.
    pub resource_evictions: u64,
    /// DNS messages parsed / records produced / parse errors.
    pub dns_messages: u64,
    pub dns_records: u64,
    pub dns_parse_errors: u64,
}

/// What an exporter reports about its transport (metrics). `None` where a transport has no
/// such notion (files have no connection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub messages_sent: u64,
    pub bytes_sent: Option<u64>,
    /// Bytes waiting in the spool (TCP).
    pub spool_bytes: Option<u64>,
    /// Messages / flow records dropped because the spool was full.
    pub spool_dropped_messages: Option<u64>,
    pub spool_dropped_records: Option<u64>,
    /// Connections made after the first one (TCP).
    pub reconnects: Option<u64>,
    /// Connected to the collector now (TCP).
    pub connected: Option<bool>,
    pub send_errors: Option<u64>,
}

/// Encodes an ended flow into the bytes its sink would write for it (see
/// [`FlowSink::pre_encoder`]).
pub type PreEncoder = Box<dyn FnMut(EndedFlow) -> EndedFlow + Send>;

/// Consumer of finished flows.
pub trait FlowSink {
    /// One finished flow.
    fn emit(&mut self, rec: FlowRecord) -> Result<(), SinkError>;
    /// One finished flow whose DNS records are not expanded yet (what the
    /// pipeline hands over). A sink that passes flows on to another thread
    /// overrides this, so the expansion happens there.
    fn emit_ended(&mut self, f: EndedFlow) -> Result<(), SinkError> {
        self.emit(f.into_record())
    }
    /// Push buffered output out (called at end of input and on shutdown).
    fn flush(&mut self) -> Result<(), SinkError>;
    /// Periodic statistics (every `--stats` seconds and at exit).
    fn on_stats(&mut self, _s: &MeterStats) -> Result<(), SinkError> {
        Ok(())
    }
    /// Transport counters for metrics, where the sink has them.
    fn export_stats(&self) -> Option<ExportStats> {
        None
    }
    /// For a sink that encodes each flow on its own (IPFIX): a function that does so on
    /// another thread, returning the flow with its record in [`crate::flow::PreEncoded`],
    /// which the sink then writes as is. [`crate::flow::ThreadedSink`] uses it to share
    /// the encoding when the sink's thread falls behind.
    fn pre_encoder(&self) -> Option<PreEncoder> {
        None
    }
}

/// Keeps every record in memory.
#[derive(Debug, Default)]
pub struct VecSink {
    pub records: Vec<FlowRecord>,
    pub stats: Vec<MeterStats>,
    pub flushes: usize,
}

impl FlowSink for VecSink {
    fn emit(&mut self, rec: FlowRecord) -> Result<(), SinkError> {
        self.records.push(rec);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.flushes += 1;
        Ok(())
    }
    fn on_stats(&mut self, s: &MeterStats) -> Result<(), SinkError> {
        self.stats.push(*s);
        Ok(())
    }
}

/// Counts records and drops them (benchmarks, `--out` absent dry runs).
#[derive(Debug, Default)]
pub struct CountingSink {
    pub flows: u64,
    pub dns_records: u64,
}

impl FlowSink for CountingSink {
    fn emit(&mut self, rec: FlowRecord) -> Result<(), SinkError> {
        self.flows += 1;
        self.dns_records += rec.dns.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A boxed sink is a sink (what `export::open_sink` returns can be handed to
/// [`super::ThreadedSink::spawn`]).
impl<S: FlowSink + ?Sized> FlowSink for Box<S> {
    fn emit(&mut self, rec: FlowRecord) -> Result<(), SinkError> {
        (**self).emit(rec)
    }
    fn emit_ended(&mut self, f: EndedFlow) -> Result<(), SinkError> {
        (**self).emit_ended(f)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
    fn on_stats(&mut self, s: &MeterStats) -> Result<(), SinkError> {
        (**self).on_stats(s)
    }
    fn export_stats(&self) -> Option<ExportStats> {
        (**self).export_stats()
    }
}
