#![forbid(unsafe_code)]
//! `flowmeter` binary: parse the command line, open inputs, run the pipeline.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Parser;

use flowmeter::capture::file::FileSource;
use flowmeter::capture::live::{drop_privileges, LiveSource};
use flowmeter::capture::PacketSource;
use flowmeter::config::cli::{Args, LogLevel};
use flowmeter::config::InputConfig;
use flowmeter::flow::CountingSink;
use flowmeter::pipeline;

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
    if cfg.export.is_some() {
        bail!("IPFIX export not built yet: run without --out to count flows only");
    }
    if args.metrics_listen.is_some() {
        tracing::warn!("--metrics-listen is not implemented yet; ignored");
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
                v.push(Box::new(FileSource::open(p)?));
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

    let mut sink = CountingSink::default();
    let stats = pipeline::run(&cfg.meter, sources, live, &mut sink, &stop)?;
    tracing::info!(
        packets = stats.packets,
        ignored = stats.ignored,
        dropped = stats.dropped,
        flows = stats.flows_exported,
        peak_flows = stats.peak_flows,
        dns_records = sink.dns_records,
        "done"
    );
    eprintln!(
        "flowmeter: {} packets ({} ignored, {} dropped), {} flows, {} DNS records",
        stats.packets, stats.ignored, stats.dropped, stats.flows_exported, sink.dns_records
    );
    Ok(())
}
