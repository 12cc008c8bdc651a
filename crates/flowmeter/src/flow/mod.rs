//! Bidirectional flows (RFC 5103) in a bounded table driven by packet time.

pub mod record;
pub mod sink;
mod table;
pub mod threaded;

pub use record::{attributes, end_reason, EndedFlow, EndedFlows, FlowRecord, PreEncoded, TcpInfo};
pub use sink::{CountingSink, FlowSink, MeterStats, PreEncoder, SinkError, VecSink};
pub use table::{FlowConfig, FlowTable, TableStats};
pub use threaded::ThreadedSink;
