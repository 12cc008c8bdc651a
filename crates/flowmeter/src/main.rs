#![forbid(unsafe_code)]
//! `flowmeter` binary: parse the command line, open inputs, run the pipeline.

mod metrics;
mod progress;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;

/// DNS inspection allocates many small strings per packet; mimalloc halves
/// what glibc's allocator costs on that pattern (see benches/throughput.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::Parser;

use flowmeter::capture::file::FileSource;
use flowmeter::capture::live::{drop_privileges, LiveSource};
use flowmeter::capture::PacketSource;
use flowmeter::config::cli::{Args, LogLevel};
use flowmeter::config::InputConfig;
use flowmeter::config::{ExportConfig, ExportTransport};
use flowmeter::export::tcp::TcpSink;
use flowmeter::export::udp::UdpSink;
use flowmeter::export::{open_sink, ExportError, SinkOptions};
use flowmeter::flow::sink::ExportStats;
use flowmeter::flow::{CountingSink, FlowRecord, FlowSink, MeterStats, SinkError};
use flowmeter::pipeline::{self, Published};

/// The exporter, kept as its concrete type where the transport has counters the metrics
/// endpoint reports (`open_sink` hides them behind `dyn FlowSink`).
enum Exporter {
    Tcp(TcpSink),
    Udp(UdpSink),
    Other(Box<dyn FlowSink>),
}

impl Exporter {
    fn open(cfg: &ExportConfig, opts: &SinkOptions) -> Result<Self, ExportError> {
        Ok(match cfg.transport {
            ExportTransport::Tcp if !cfg.silk => Exporter::Tcp(TcpSink::open(cfg, opts)?),
            ExportTransport::Udp if !cfg.silk => Exporter::Udp(UdpSink::open(cfg, opts)?),
            // open_sink also warns about --silk.
            _ => Exporter::Other(open_sink(cfg, opts)?),
        })
    }

    fn inner(&mut self) -> &mut dyn FlowSink {
        match self {
            Exporter::Tcp(s) => s,
            Exporter::Udp(s) => s,
            Exporter::Other(s) => s.as_mut(),
        }
    }
}

impl FlowSink for Exporter {
    fn emit(&mut self, r: FlowRecord) -> Result<(), SinkError> {
        self.inner().emit(r)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner().flush()
    }
    fn on_stats(&mut self, s: &MeterStats) -> Result<(), SinkError> {
        self.inner().on_stats(s)
    }
    fn export_stats(&self) -> Option<ExportStats> {
        match self {
            Exporter::Tcp(s) => {
                let t = s.stats();
                Some(ExportStats {
                    messages_sent: t.messages_sent,
                    spool_bytes: Some(t.spooled_bytes),
                    spool_dropped_messages: Some(t.drops.messages),
                    spool_dropped_records: Some(t.drops.records),
                    reconnects: Some(t.connects.saturating_sub(1)),
                    connected: Some(t.connects > t.disconnects),
                    ..ExportStats::default()
                })
            }
            Exporter::Udp(s) => {
                let u = s.stats();
                Some(ExportStats {
                    messages_sent: u.messages_sent,
                    send_errors: Some(u.send_errors),
                    ..ExportStats::default()
                })
            }
            Exporter::Other(s) => s.export_stats(),
        }
    }
}

/// `--print-flows`: one text line per flow.
struct PrintSink<W: std::io::Write> {
    out: W,
    inner: CountingSink,
}

impl<W: std::io::Write> FlowSink for PrintSink<W> {
    fn emit(&mut self, r: FlowRecord) -> Result<(), SinkError> {
        let ms = |ns: u64| ns / 1_000_000;
        writeln!(
            self.out,
            "{}.{:03} {:.3}s {} {}:{} -> {}:{} vlan {} pkts {}/{} bytes {}/{} attr {:#x}/{:#x} end {} app {} dns {}",
            ms(r.start_ns) / 1000,
            ms(r.start_ns) % 1000,
            (r.end_ns.saturating_sub(r.start_ns)) as f64 / 1e9,
            r.proto,
            r.src,
            r.sport,
            r.dst,
            r.dport,
            r.vlan,
            r.packets,
            r.rev_packets,
            r.octets,
            r.rev_octets,
            r.attributes,
            r.rev_attributes,
            r.end_reason,
            r.app_label,
            r.dns.len()
        )
        .map_err(SinkError::new)?;
        self.inner.emit(r)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(SinkError::new)
    }
}

/// Standard input for `--in -`. pcap-parser's reader constructors issue two `read`s before
/// the first packet; on a pipe that stays open with nothing more to send (a quiet `tcpdump -w
/// -`) the second one blocks and no packet is processed. Holding back the last byte of the
/// first read answers the second `read` from memory; after that reads pass straight through.
struct StdinSource {
    held: Option<u8>,
    first: bool,
}

impl std::io::Read for StdinSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(b) = self.held.take() {
            match buf.first_mut() {
                Some(slot) => {
                    *slot = b;
                    return Ok(1);
                }
                None => {
                    self.held = Some(b);
                    return Ok(0);
                }
            }
        }
        let n = std::io::stdin().read(buf)?;
        if std::mem::take(&mut self.first) && n > 1 {
            self.held = buf.get(n - 1).copied();
            return Ok(n - 1);
        }
        Ok(n)
    }
}

fn open_file(p: &std::path::Path) -> anyhow::Result<FileSource> {
    if p.as_os_str() == "-" {
        let rd = StdinSource {
            held: None,
            first: true,
        };
        return Ok(FileSource::from_reader("-".into(), Box::new(rd))?);
    }
    Ok(FileSource::open(p)?)
}

fn init_logging(level: LogLevel) {
    let lv = match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(lv));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging(args.effective_log_level());
    let cfg = args.to_config()?;
    for note in args.compat_notes() {
        tracing::info!("{note}");
    }

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .with_context(|| format!("installing handler for signal {sig}"))?;
    }

    let (sources, live): (Vec<Box<dyn PacketSource>>, bool) = match &cfg.input {
        InputConfig::Files(paths) => {
            let mut v: Vec<Box<dyn PacketSource>> = Vec::with_capacity(paths.len());
            for p in paths {
                v.push(Box::new(open_file(p)?));
            }
            (v, false)
        }
        InputConfig::Live(l) => {
            let src = LiveSource::open(l)?;
            // The handle is open: root is no longer needed.
            if cfg.become_user.is_some() || cfg.become_group.is_some() {
                drop_privileges(cfg.become_user.as_deref(), cfg.become_group.as_deref())?;
                tracing::info!(
                    user = cfg.become_user.as_deref().unwrap_or("-"),
                    group = cfg.become_group.as_deref().unwrap_or("-"),
                    "privileges dropped"
                );
            }
            (vec![Box::new(src) as Box<dyn PacketSource>], true)
        }
    };

    let mut counting = CountingSink::default();
    let mut printing = PrintSink {
        out: std::io::BufWriter::new(std::io::stdout().lock()),
        inner: CountingSink::default(),
    };
    let mut exporter = match &cfg.export {
        Some(e) => {
            let opts = SinkOptions {
                // YAF exports DNSSEC records only with --plugin-opts="53 DNSSEC".
                dnssec: args
                    .plugin_opts
                    .as_deref()
                    .is_some_and(|o| o.contains("DNSSEC")),
                ..SinkOptions::default()
            };
            Some(Exporter::open(e, &opts).with_context(|| format!("opening output {}", e.out))?)
        }
        None => None,
    };
    let sink: &mut dyn FlowSink = match exporter.as_mut() {
        Some(x) => x,
        None if args.print_flows => &mut printing,
        None => &mut counting,
    };
    // Published counters only when someone reads them: otherwise the packet path stays as it was.
    let progress_total = match &cfg.input {
        InputConfig::Files(paths) => progress::wanted(paths),
        InputConfig::Live(_) => None,
    };
    let published = (args.metrics_listen.is_some() || progress_total.is_some())
        .then(|| Arc::new(Published::default()));
    if let (Some(addr), Some(p)) = (args.metrics_listen, &published) {
        metrics::spawn_server(addr, Arc::clone(p), live)?;
    }
    let progress = match (progress_total, &published) {
        (Some(total), Some(p)) => Some(progress::spawn(Arc::clone(p), total)),
        _ => None,
    };
    let result =
        pipeline::run_published(&cfg.meter, sources, live, sink, &stop, published.as_deref());
    if let Some(h) = progress {
        // The thread clears its line once it sees `done`.
        let _ = h.join();
    }
    let stats = result?;
    let dns_records = stats.dns_records;
    tracing::info!(
        packets = stats.packets,
        ignored = stats.ignored,
        dropped = stats.dropped,
        flows = stats.flows_exported,
        peak_flows = stats.peak_flows,
        dns_records,
        "done"
    );
    eprintln!(
        "flowmeter: {} packets ({} ignored, {} dropped), {} flows, {} DNS records",
        stats.packets, stats.ignored, stats.dropped, stats.flows_exported, dns_records
    );
    Ok(())
}
