//! IPFIX export, byte-compatible with YAF 2.16.4 (see ../shared/design/yaf-ipfix.md).
//!
//! - [`yaf`]: flow records -> YAF's data records (templates 0xB000 family, STML with the TCP
//!   and DNS entries); [`stats`]: YAF's statistics (0xD003) and tombstone (0xD004) records.
//! - [`message`]: message framing as libfixbuf does it.
//! - Transports: [`file`] (single file, `--rotate`, `--lock`), [`tcp`] (reconnect with
//!   backoff, templates on every connection, disk spool while the collector is away),
//!   [`udp`] (periodic template refresh, RFC 7011 §8.4).
//!
//! [`open`] turns an [`ExportConfig`] into an [`Exporter`]: a [`FlowSink`] whose transport
//! counters ([`Exporter::stats`], also [`FlowSink::export_stats`]) feed the metrics endpoint,
//! and whose [`Exporter::close`] writes the tombstone, closes the output and returns the final
//! counters. [`open_sink`] is the same behind `Box<dyn FlowSink>`.
//!
//! `--silk` ([`ExportConfig::silk`]) selects YAF's SiLK layout: TCP flows use the 0x0020
//! templates with the TCP fields in the top-level record (see [`yaf::FLAG_SILK`]).

pub mod file;
pub mod message;
pub mod spool;
pub mod stats;
pub mod tcp;
pub mod udp;
pub mod yaf;

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{ExportConfig, ExportTransport};
use crate::flow::sink::ExportStats;
use crate::flow::{EndedFlow, FlowRecord, FlowSink, MeterStats, SinkError};

use message::{Finished, MessageBuilder};
use stats::ExporterIdentity;
use yaf::{EncodeOptions, TemplateTable};

/// Why export failed: what and where (file, peer).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error("YAF template definitions: {0}")]
    Templates(#[from] ipfix_model::ie::yaf::TemplateDefError),
    #[error("cannot lock {path}: lock file exists (another writer, or a stale lock to remove)")]
    Locked { path: PathBuf },
    #[error("{what} {path}: {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {peer}: {source}")]
    Net {
        what: &'static str,
        peer: String,
        #[source]
        source: std::io::Error,
    },
    #[error("spool {path}: {source}")]
    Spool {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid export configuration: {0}")]
    Config(String),
}

impl From<ExportError> for SinkError {
    fn from(e: ExportError) -> Self {
        SinkError::new(e)
    }
}

/// Export settings the command line does not (yet) carry; defaults are YAF's where YAF has one.
#[derive(Clone, Debug)]
pub struct SinkOptions {
    /// DNSSEC rdata templates and records (YAF `--plugin-opts="53 DNSSEC"`).
    pub dnssec: bool,
    /// UDP: resend all templates this long after the last time (wall clock). YAF sends them
    /// three times per `--udp-temp-timeout` (RFC 5101 §10.3.6), so the command line sets a
    /// third of it: [`udp::refresh_interval`]. Default 200 s (YAF's 600 s timeout).
    pub udp_template_refresh: Duration,
    /// UDP: ... or after this many data messages (0 = time only).
    pub udp_template_refresh_messages: u64,
    /// UDP: messages are packed up to this size (a bigger record is sent alone).
    pub udp_max_message: usize,
    /// TCP: first reconnect delay; doubles up to `tcp_backoff_max`.
    pub tcp_backoff_initial: Duration,
    pub tcp_backoff_max: Duration,
    /// TCP: bytes of recently sent data messages sent again after a connection is lost, since
    /// a collector that crashed may not have read them (TCP acknowledges to the kernel, not to
    /// the application, and IPFIX has no acknowledgement). 0 (default) = off: exactly once
    /// across clean collector restarts, but a crash loses what was in flight. On: at least
    /// once; a collector may see up to this many bytes twice after a reconnect.
    pub tcp_replay_window: u64,
    /// TCP: how long the exporter keeps trying to deliver at shutdown before leaving the rest
    /// in the spool (disk spool: replayed by the next run).
    pub tcp_shutdown_timeout: Duration,
    /// Write YAF's tombstone record when an output closes.
    pub tombstone: bool,
    /// TCP/UDP: a partly filled message is sent once its first record is this old (checked
    /// whenever a record is added), so a quiet sensor does not hold flows back until 64 KiB
    /// accumulate. Files are not affected (their message boundaries stay YAF's).
    pub max_message_delay: Duration,
}

impl Default for SinkOptions {
    fn default() -> Self {
        Self {
            dnssec: false,
            udp_template_refresh: udp::refresh_interval(Duration::from_secs(600)),
            udp_template_refresh_messages: 0,
            udp_max_message: 1420,
            tcp_backoff_initial: Duration::from_millis(250),
            tcp_backoff_max: Duration::from_secs(30),
            tcp_shutdown_timeout: Duration::from_secs(5),
            tcp_replay_window: 0,
            tombstone: true,
            max_message_delay: Duration::from_secs(1),
        }
    }
}

/// An open exporter, whichever transport `--out`/`--ipfix` chose.
#[derive(Debug)]
pub enum Exporter {
    File(file::FileSink),
    Tcp(tcp::TcpSink),
    Udp(udp::UdpSink),
}

/// Opens the exporter `cfg` asks for.
pub fn open(cfg: &ExportConfig, opts: &SinkOptions) -> Result<Exporter, ExportError> {
    Ok(match cfg.transport {
        ExportTransport::File => Exporter::File(file::FileSink::open(cfg, opts)?),
        ExportTransport::Tcp => Exporter::Tcp(tcp::TcpSink::open(cfg, opts)?),
        ExportTransport::Udp => Exporter::Udp(udp::UdpSink::open(cfg, opts)?),
    })
}

/// [`open`], behind the trait object.
pub fn open_sink(cfg: &ExportConfig, opts: &SinkOptions) -> Result<Box<dyn FlowSink>, ExportError> {
    Ok(Box::new(open(cfg, opts)?))
}

impl Exporter {
    fn inner(&mut self) -> &mut dyn FlowSink {
        match self {
            Exporter::File(s) => s,
            Exporter::Tcp(s) => s,
            Exporter::Udp(s) => s,
        }
    }

    /// Transport counters now (messages and octets sent; spool and connection state for TCP,
    /// send errors for UDP). File octets count what was handed to the file writer.
    pub fn stats(&self) -> ExportStats {
        match self {
            Exporter::File(s) => s.export_stats(),
            Exporter::Tcp(s) => s.export_stats(),
            Exporter::Udp(s) => s.export_stats(),
        }
    }

    /// Flushes, writes YAF's tombstone, closes the output (files: unlock; TCP: deliver or
    /// spool within `tcp_shutdown_timeout`) and returns the final counters: for files
    /// `bytes_sent` is then the total size of the files written.
    pub fn close(self) -> Result<ExportStats, ExportError> {
        match self {
            Exporter::File(s) => s.close(),
            Exporter::Tcp(s) => Ok(s.close()),
            Exporter::Udp(s) => Ok(s.close()),
        }
    }
}

impl FlowSink for Exporter {
    fn emit(&mut self, r: FlowRecord) -> Result<(), SinkError> {
        self.inner().emit(r)
    }
    fn emit_ended(&mut self, f: EndedFlow) -> Result<(), SinkError> {
        self.inner().emit_ended(f)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner().flush()
    }
    fn on_stats(&mut self, s: &MeterStats) -> Result<(), SinkError> {
        self.inner().on_stats(s)
    }
    fn export_stats(&self) -> Option<ExportStats> {
        Some(self.stats())
    }
    fn pre_encoder(&self) -> Option<crate::flow::PreEncoder> {
        Some(match self {
            Exporter::File(s) => s.enc.pre_encoder(),
            Exporter::Tcp(s) => s.enc.pre_encoder(),
            Exporter::Udp(s) => s.enc.pre_encoder(),
        })
    }
}

/// libfixbuf's message size limit for file and TCP exporters (its `mtu` there): 65496, not
/// 65535. Packing to the same limit makes our message boundaries YAF's, to the byte.
pub const LIBFIXBUF_MAX_MESSAGE: usize = 65_496;

/// Counters every transport keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportCounters {
    /// Flow records encoded.
    pub flows: u64,
    /// DNS records left out because a flow record would exceed one IPFIX message.
    pub dns_truncated: u64,
    /// Statistics records encoded.
    pub stats_records: u64,
}

/// Encoding state shared by the transports: the template table, the message builder, which
/// flow templates the current session (file, connection) has seen.
#[derive(Debug)]
pub(crate) struct Encoder {
    table: TemplateTable,
    opts: EncodeOptions,
    pub(crate) builder: MessageBuilder,
    /// Write templates into the message stream like YAF (files). Network transports send
    /// template messages themselves on every connection / refresh instead.
    inline_templates: bool,
    base_sent: bool,
    announced: Vec<u16>,
    scratch: Vec<u8>,
    /// Buffers for decoding held DNS messages straight into records.
    dns: yaf::DnsScratch,
    pub(crate) ident: ExporterIdentity,
    pub(crate) counters: ExportCounters,
    tombstone_id: u32,
    /// When the open message got its first record (network transports).
    pending_since: Option<std::time::Instant>,
}

/// All four 4-byte-counter flow templates: what a network session announces up front, so that
/// spooled messages from any earlier session decode.
const FLOW_TEMPLATES: [u16; 4] = [0xB000, 0xB010, 0xB400, 0xB410];

impl Encoder {
    pub(crate) fn new(
        cfg: &ExportConfig,
        opts: &SinkOptions,
        max_message: usize,
        inline_templates: bool,
    ) -> Result<Self, ExportError> {
        Ok(Self {
            table: TemplateTable::load()?,
            opts: EncodeOptions {
                dnssec: opts.dnssec,
                silk: cfg.silk,
            },
            builder: MessageBuilder::new(cfg.observation_domain, max_message),
            inline_templates,
            base_sent: false,
            announced: Vec::new(),
            scratch: Vec::with_capacity(2048),
            dns: yaf::DnsScratch::default(),
            ident: ExporterIdentity::current(cfg.observation_domain),
            counters: ExportCounters::default(),
            tombstone_id: 0,
            pending_since: None,
        })
    }

    /// A new session (file): templates are sent again before the next record.
    pub(crate) fn new_session(&mut self) {
        self.base_sent = false;
        self.announced.clear();
    }

    fn ensure_base(&mut self) {
        if !self.inline_templates || self.base_sent {
            return;
        }
        self.base_sent = true;
        for (options, ids) in self.table.initial_sets(self.opts) {
            for id in ids {
                self.scratch.clear();
                if self.table.encode_template(id, &mut self.scratch) {
                    self.builder
                        .add_template(if options { 3 } else { 2 }, &self.scratch);
                }
            }
        }
    }

    fn ensure_flow_template(&mut self, tid: u16) {
        // Network sessions announce the four usual flow templates on connect; only the rare
        // 8-byte-counter variants (0xB080 flag) go inline there, and are remembered for later
        // connections by `session_templates`.
        if self.announced.contains(&tid)
            || (!self.inline_templates && FLOW_TEMPLATES.contains(&tid))
        {
            return;
        }
        self.announced.push(tid);
        let mut rec = Vec::new();
        if self.table.encode_template(tid, &mut rec) {
            // libfixbuf appends to a pending template message, else sends one of its own.
            self.builder.add_template(2, &rec);
        }
    }

    /// Encodes flows as `push_ended` would, on any thread: the records depend on the flow and
    /// the options only, never on the message or session they go into.
    pub(crate) fn pre_encoder(&self) -> crate::flow::PreEncoder {
        let opts = self.opts;
        let mut scratch = yaf::DnsScratch::default();
        Box::new(move |f: EndedFlow| {
            let (rec, dns) = f.into_parts();
            let mut bytes = Vec::with_capacity(256);
            let enc = yaf::encode_ended(&rec, dns, opts, &mut bytes, &mut scratch);
            EndedFlow::pre_encoded(
                rec,
                crate::flow::PreEncoded {
                    bytes,
                    template_id: enc.template_id,
                    dns_truncated: enc.dns_truncated,
                },
            )
        })
    }

    /// Templates only (an empty capture still yields a readable file, as with YAF).
    pub(crate) fn start(&mut self) {
        self.ensure_base();
    }

    pub(crate) fn push_flow(&mut self, rec: &FlowRecord) {
        self.push_with(|buf, opts, _| yaf::encode_flow(rec, opts, buf));
    }

    /// A flow as the table ended it: its held DNS messages are decoded straight into the
    /// record (same bytes as `push_flow(&f.into_record())`), unless another thread has
    /// encoded it already (`pre_encoder`).
    pub(crate) fn push_ended(&mut self, mut f: EndedFlow) {
        if let Some(pre) = f.take_pre_encoded() {
            self.push_with(|buf, _, _| {
                buf.extend_from_slice(&pre.bytes);
                yaf::Encoded {
                    template_id: pre.template_id,
                    dns_truncated: pre.dns_truncated,
                }
            });
            return;
        }
        let (rec, dns) = f.into_parts();
        self.push_with(|buf, opts, scratch| yaf::encode_ended(&rec, dns, opts, buf, scratch));
    }

    fn push_with(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>, EncodeOptions, &mut yaf::DnsScratch) -> yaf::Encoded,
    ) {
        self.ensure_base();
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let enc = encode(&mut buf, self.opts, &mut self.dns);
        self.ensure_flow_template(enc.template_id);
        let min = self.table.min_record_len(enc.template_id);
        self.builder.add_record_min(enc.template_id, min, &buf);
        self.scratch = buf;
        self.counters.flows += 1;
        self.counters.dns_truncated += enc.dns_truncated as u64;
        if enc.dns_truncated > 0 {
            tracing::warn!(
                dropped = enc.dns_truncated,
                "DNS records of one flow exceed one IPFIX message; the rest were left out"
            );
        }
    }

    pub(crate) fn push_stats(&mut self, s: &MeterStats) {
        self.ensure_base();
        self.scratch.clear();
        let tid = stats::encode_process_stats(
            &self.ident,
            s,
            self.counters.flows,
            message::now_secs(),
            &mut self.scratch,
        );
        let min = self.table.min_record_len(tid);
        self.builder.add_record_min(tid, min, &self.scratch);
        self.counters.stats_records += 1;
    }

    /// YAF closes its output with a tombstone in a message of its own.
    pub(crate) fn push_tombstone(&mut self) {
        self.ensure_base();
        self.builder.finish();
        self.scratch.clear();
        let tid = stats::encode_tombstone(
            &self.ident,
            self.tombstone_id,
            message::now_secs(),
            &mut self.scratch,
        );
        self.tombstone_id = self.tombstone_id.wrapping_add(1);
        self.builder.add_record(tid, &self.scratch);
        self.builder.finish();
    }

    /// Every template a fresh network session needs, as complete messages. Their sequence
    /// number is that of the next data message (template messages carry no data records).
    pub(crate) fn session_templates(&self, sequence: u32) -> Vec<Vec<u8>> {
        let mut b = MessageBuilder::new(self.ident.observation_domain, LIBFIXBUF_MAX_MESSAGE);
        b.set_sequence(sequence);
        let mut rec = Vec::new();
        for (options, ids) in self.table.initial_sets(self.opts) {
            for id in ids {
                rec.clear();
                if self.table.encode_template(id, &mut rec) {
                    b.add_template(if options { 3 } else { 2 }, &rec);
                }
            }
        }
        for id in FLOW_TEMPLATES
            .iter()
            .copied()
            .chain(self.announced.iter().copied())
        {
            rec.clear();
            if self.table.encode_template(id, &mut rec) {
                b.add_template(2, &rec);
            }
        }
        b.finish();
        b.take().map(|f| f.bytes).collect()
    }

    pub(crate) fn finish(&mut self) -> Vec<Finished> {
        self.builder.finish();
        self.builder.take().collect()
    }

    pub(crate) fn take(&mut self) -> Vec<Finished> {
        self.builder.take().collect()
    }

    /// Finishes the open message if it has been open for `max_delay` (network transports).
    pub(crate) fn finish_if_stale(&mut self, max_delay: Duration) {
        if self.builder.is_empty() {
            self.pending_since = None;
            return;
        }
        let now = std::time::Instant::now();
        match self.pending_since {
            Some(t) if now.duration_since(t) >= max_delay => {
                self.builder.finish();
                self.pending_since = None;
            }
            Some(_) => {}
            None => self.pending_since = Some(now),
        }
    }
}
