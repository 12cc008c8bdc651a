#![forbid(unsafe_code)]
//! `flowmeter` binary: parse the command line, open inputs, run the pipeline.

mod metrics;
mod progress;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;

/// DNS inspection allocates many small strings per flow; mimalloc halves
/// what glibc's allocator costs on that pattern (see benches/throughput.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::Parser;

use flowmeter::capture::file::FileSource;
use flowmeter::capture::live::{drop_privileges, LiveSource};
use flowmeter::capture::readahead::ReadAhead;
use flowmeter::capture::PacketSource;
use flowmeter::config::cli::{Args, LogLevel};
use flowmeter::config::InputConfig;
use flowmeter::export;
use flowmeter::flow::{CountingSink, FlowRecord, FlowSink, SinkError, ThreadedSink};
use flowmeter::pipeline::{self, Published};

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
    // Colour only on a terminal: journald and log files would keep the escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

fn main() -> anyhow::Result<()> {
    if let Err(e) = flowmeter::procfs::no_huge_pages() {
        eprintln!("flowmeter: transparent huge pages stay on ({e})");
    }
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
                // `-` is standard input (FileSource handles pipes that stay open).
                let file = FileSource::open(p)?;
                if p.as_os_str() == "-" {
                    v.push(Box::new(file));
                } else {
                    // Unframing the file overlaps the flow table (capture::readahead).
                    v.push(Box::new(ReadAhead::new(file)));
                }
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
    // Stdout is locked only when flows are printed: with `--out -` the export thread writes
    // there, and a lock held here would stop it for good.
    let mut printing = args.print_flows.then(|| PrintSink {
        out: std::io::BufWriter::new(std::io::stdout().lock()),
        inner: CountingSink::default(),
    });
    // IPFIX encoding and writing (and a TCP collector's stalls) run on their own thread, so
    // the packet thread keeps reading while flows are exported; order is kept.
    let mut exporter = match &cfg.export {
        Some(e) => Some(ThreadedSink::new(
            export::open(e, &args.sink_options())
                .with_context(|| format!("opening output {}", e.out))?,
        )?),
        None => None,
    };
    let sink: &mut dyn FlowSink = match exporter.as_mut() {
        Some(x) => x,
        None => match printing.as_mut() {
            Some(p) => p,
            None => &mut counting,
        },
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
    flowmeter::procfs::note_thread_cpu("packet");
    if let Some(h) = progress {
        // The thread clears its line once it sees `done`.
        let _ = h.join();
    }
    let stats = result?;
    // Closing writes the tombstone and the last messages: only then are the octet counts final.
    let sent = match exporter {
        Some(x) => Some(
            x.into_inner()
                .context("exporting the last flows")?
                .close()
                .context("closing output")?,
        ),
        None => None,
    };
    let dns_records = stats.dns_records;
    tracing::info!(
        packets = stats.packets,
        ignored = stats.ignored,
        dropped = stats.dropped,
        flows = stats.flows_exported,
        peak_flows = stats.peak_flows,
        dns_records,
        export_messages = sent.map(|s| s.messages_sent),
        export_bytes = sent.and_then(|s| s.bytes_sent),
        peak_rss_kib = flowmeter::procfs::self_status_kib("VmHWM:"),
        thread_cpu_secs = %flowmeter::procfs::thread_cpu_report(),
        "done"
    );
    let mut line = format!(
        "flowmeter: {} packets ({} ignored, {} dropped), {} flows, {} DNS records",
        stats.packets, stats.ignored, stats.dropped, stats.flows_exported, dns_records
    );
    if let Some(b) = sent.and_then(|s| s.bytes_sent) {
        line.push_str(&format!(", {b} IPFIX bytes exported"));
    }
    eprintln!("{line}");
    Ok(())
}
