#![forbid(unsafe_code)]
//! `mediator`: see `mediator --help` and cli.rs.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use mediator::cli::{self, Cli, Command, RunArgs};
use mediator::journal::{self, JournalConfig};
use mediator::source::file::load_file;
use mediator::source::spool::{self, SpoolConfig};
use mediator::source::tcp::{self, NetConfig};
use mediator::source::udp;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_json = match &cli.command {
        Some(Command::Run(r)) => r.log_format == "json",
        None => cli.run.log_format == "json",
        _ => false,
    };
    // A query's output is a table on stdout; informational logging would only clutter it.
    let default_level = match &cli.command {
        Some(Command::Query(_)) => "warn",
        _ => "info",
    };
    init_logging(log_json, default_level);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mediator: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Every task is an ordinary `tokio::spawn` task on the worker threads: the store's commit
    // futures are `Send` (checked at compile time in store/mod.rs). Each ingester is one task
    // that commits its chunks one after the other, so a file's chunks still commit in order;
    // decoding runs on blocking threads.
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("mediator: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(json: bool, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    use std::io::IsTerminal;
    // Colour only on a terminal: log files and journald get plain text.
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => run(cli.run).await,
        Some(Command::Run(r)) => run(r).await,
        Some(Command::InitDb(db)) => {
            let store = db.open().await?;
            let v = store.init().await?;
            store.recover_pending().await?;
            println!("database ready, schema version {v}");
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Prune(p)) => {
            let store = p.db.open().await?;
            store.init().await?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            let cutoff = now.saturating_sub(p.older_than).as_millis() as i64;
            let r = store.prune(cutoff).await?;
            println!("pruned {} flows and {} DNS rows", r.flows, r.dns_rows);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Query(q)) => {
            let store = q.db.open().await?;
            let table = cli::answer(&store, &q).await?;
            if q.json {
                println!("{}", serde_json::to_string_pretty(&table.to_json())?);
            } else {
                print!("{}", table.render());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// SIGTERM / SIGINT -> cancel; a second signal exits at once.
fn spawn_signal_handler(cancel: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::spawn(async move {
        for n in 0.. {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            if n == 0 {
                tracing::info!(
                    "shutdown requested: finishing the batch in flight, closing sessions"
                );
                cancel.cancel();
            } else {
                tracing::warn!(
                    "second signal: exiting now (journals and the ledger make the next start safe)"
                );
                std::process::exit(1);
            }
        }
    });
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.once && args.tcp_enabled() {
        bail!("--once processes --in-dir and exits; it cannot be combined with listeners (--in-host/--in-port/--udp)");
    }
    let mut store = args.db.open().await?;
    store.set_parallel_commits(usize::from(args.parallel_commits));
    store.set_write_behind_keys(args.write_behind_keys);
    let version = store.init().await.context("initialising the database")?;
    // Before any new chunk: aggregates an earlier run committed but did not apply.
    store
        .recover_pending()
        .await
        .context("applying aggregates left pending by an earlier run")?;
    tracing::info!(schema_version = version, "database ready");

    let cancel = CancellationToken::new();
    spawn_signal_handler(cancel.clone())?;
    let tracker = TaskTracker::new();
    if let Some(addr) = args.metrics_addr {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("metrics listener on {addr}"))?;
        let local = l.local_addr()?;
        tracing::info!(addr = %local, "serving Prometheus metrics at /metrics");
        println!("listening metrics {local}");
        tracker.spawn(mediator::metrics::serve(l, cancel.clone()));
    }
    let mut failed = false;

    // 1. Files named on the command line: loaded in order, never modified.
    // Long runs show progress on a terminal (logs may go elsewhere or be filtered).
    let progress = {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal() && args.in_file.len() > 1
    };
    let n_files = args.in_file.len();
    for (i, f) in args.in_file.iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        match load_file(f, &args.sensor, &store, &cancel).await {
            Ok(l) => {
                if progress {
                    eprintln!(
                        "[{}/{n_files}] {}: {} flows, {} DNS rows{}",
                        i + 1,
                        f.display(),
                        l.flows_loaded,
                        l.dns_loaded,
                        if l.chunks_already_loaded > 0 {
                            " (already loaded before)"
                        } else {
                            ""
                        }
                    );
                }
                tracing::info!(file = %f.display(), flows = l.flows_loaded, dns = l.dns_loaded,
                    chunks = l.chunks, already_loaded = l.chunks_already_loaded,
                    non_flow_records = l.stats.non_flow_records, "file loaded");
                if let Some(e) = &l.error {
                    tracing::error!(file = %f.display(), offset = l.error_offset.unwrap_or(0), error = %e,
                        "not valid IPFIX from this offset; the complete messages before it were loaded");
                    failed = true;
                }
            }
            Err(e) => {
                tracing::error!("{e}");
                failed = true;
                if matches!(e, mediator::source::file::LoadError::Store { .. }) {
                    bail!("{e}");
                }
            }
        }
    }

    // 2. Long-running inputs.
    let mut ingesters = tokio::task::JoinSet::new();
    let mut spool_dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut _dir_lock = None;
    let net = if args.tcp_enabled() {
        let lock = journal::lock_dir(&args.spool_dir)?;
        let rec = journal::recover(&args.spool_dir)?;
        if rec.files > 0 {
            tracing::warn!(
                files = rec.files,
                truncated_bytes = rec.truncated_bytes,
                "recovered journal files left by a previous run"
            );
        }
        _dir_lock = Some(lock);
        let jc = JournalConfig::new(
            args.spool_dir.clone(),
            args.rotate_bytes.max(1),
            Duration::from_secs(args.rotate_seconds.max(1)),
        );
        // What already waits in the spool counts against --spool-max-bytes.
        // Only journals count: the ingester gives back exactly what journals took, so other
        // writers' files in the same directory must not be counted or the limit never clears.
        let waiting: u64 = spool::ready_files(&args.spool_dir)
            .unwrap_or_default()
            .iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| journal::journal_peer(n).is_some())
            })
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        jc.pending
            .store(waiting, std::sync::atomic::Ordering::Relaxed);
        mediator::metrics::get().track_pending(jc.pending.clone());
        Some(NetConfig {
            journal: jc,
            max_sessions: args.max_sessions,
            max_message_len: usize::from(args.max_message_size),
            spool_max_bytes: args.spool_max_bytes,
        })
    } else {
        None
    };

    let spool_cfg = |dir: &PathBuf, once: bool, pending| SpoolConfig {
        dir: dir.clone(),
        archive_dir: args.archive_dir.clone(),
        error_dir: args.error_dir.clone().unwrap_or_else(|| dir.join("error")),
        poll_interval: args.poll(),
        once,
        sensor: args.sensor.clone(),
        pending,
    };
    if let Some(nc) = &net {
        let host = args.host();
        let addr: SocketAddr = tokio::net::lookup_host((host, args.port()))
            .await
            .with_context(|| format!("resolving --in-host {host}"))?
            .next()
            .with_context(|| format!("--in-host {host} has no address"))?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on tcp {addr}"))?;
        let local = listener.local_addr()?;
        tracing::info!(addr = %local, spool = %args.spool_dir.display(), "listening for IPFIX over TCP");
        // Tests and scripts read the port from this line when --in-port 0 is used.
        println!("listening tcp {local}");
        tracker.spawn(tcp::run(
            listener,
            nc.clone(),
            cancel.clone(),
            tracker.clone(),
        ));
        if args.udp {
            let uaddr = SocketAddr::new(addr.ip(), args.udp_port.unwrap_or(local.port()));
            let sock = tokio::net::UdpSocket::bind(uaddr)
                .await
                .with_context(|| format!("listening on udp {uaddr}"))?;
            let ulocal = sock.local_addr()?;
            tracing::info!(addr = %ulocal, "listening for IPFIX over UDP");
            println!("listening udp {ulocal}");
            tracker.spawn(udp::run(
                sock,
                nc.clone(),
                Duration::from_secs(args.udp_template_timeout.max(1)),
                cancel.clone(),
            ));
        }
        spool_dirs.insert(args.spool_dir.clone());
        ingesters.spawn(spool::run(
            spool_cfg(&args.spool_dir, false, Some(nc.journal.pending.clone())),
            store.clone(),
            cancel.clone(),
        ));
    }
    if let Some(dir) = &args.in_dir {
        if !spool_dirs.contains(dir) {
            // A journal left locked by a dead listener in this directory: recover it, unless
            // a live mediator holds the directory (then it is that one's to recover).
            // Only a directory a listener journaled into has the lock file; others are left
            // exactly as they are.
            if dir.join(journal::DIR_LOCK).exists() {
                if let Ok(lock) = journal::lock_dir(dir) {
                    let rec = journal::recover(dir)?;
                    if rec.files > 0 {
                        tracing::warn!(files = rec.files, truncated_bytes = rec.truncated_bytes,
                            dir = %dir.display(), "recovered journal files left by a dead mediator");
                    }
                    drop(lock);
                }
            }
            ingesters.spawn(spool::run(
                spool_cfg(dir, args.once, None),
                store.clone(),
                cancel.clone(),
            ));
        }
    }
    tracker.close();

    if ingesters.is_empty() && tracker.is_empty() {
        return Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }

    // 3. Until a signal, or (--once) until the directory pass is done.
    let mut store_failed = false;
    while let Some(r) = ingesters.join_next().await {
        match r {
            Ok(Ok(t)) => {
                tracing::info!(
                    files = t.files_loaded,
                    failed_files = t.files_failed,
                    flows = t.flows_loaded,
                    dns = t.dns_loaded,
                    "spool ingester finished"
                );
                if t.files_failed > 0 {
                    failed = true;
                }
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "spool ingester stopped");
                store_failed = true;
                cancel.cancel();
            }
            Err(e) => {
                tracing::error!(error = %e, "spool ingester panicked");
                store_failed = true;
                cancel.cancel();
            }
        }
    }
    if net.is_some() && !cancel.is_cancelled() {
        cancel.cancelled().await;
    }
    cancel.cancel();
    // Sessions close their journals (fsync, unlock) before the process exits.
    tracker.wait().await;
    tracing::info!("stopped");
    Ok(if store_failed || failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
