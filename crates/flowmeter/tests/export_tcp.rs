//! IPFIX over TCP: the collector goes away and comes back; nothing is lost or duplicated,
//! templates are resent on every connection, a full spool drops (and counts) the oldest data,
//! and a disk spool survives an exporter restart.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod export_support;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use export_support::*;
use flowmeter::config::{ExportConfig, ExportTransport};
use flowmeter::export::tcp::TcpSink;
use flowmeter::export::SinkOptions;
use flowmeter::flow::FlowSink;

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn cfg(addr: SocketAddr, spool_dir: Option<&Path>, spool_max: u64) -> ExportConfig {
    ExportConfig {
        out: addr.ip().to_string(),
        transport: ExportTransport::Tcp,
        port: addr.port(),
        rotate_s: None,
        lock: false,
        observation_domain: 7,
        silk: false,
        stats_interval_s: 0,
        stats: true,
        spool_dir: spool_dir.map(Path::to_path_buf),
        spool_max_bytes: spool_max,
        metrics_listen: None,
    }
}

fn opts() -> SinkOptions {
    SinkOptions {
        tcp_backoff_initial: Duration::from_millis(20),
        tcp_backoff_max: Duration::from_millis(100),
        tcp_shutdown_timeout: Duration::from_secs(3),
        ..SinkOptions::default()
    }
}

fn emit_range(sink: &mut TcpSink, r: std::ops::Range<u32>) {
    for i in r {
        sink.emit(synthetic_flow(i)).unwrap();
    }
}

fn assert_exactly_once(got: &[u32], n: u32) {
    let mut sorted = got.to_vec();
    sorted.sort_unstable();
    let want: Vec<u32> = (0..n).collect();
    if sorted != want {
        let mut dup = sorted.clone();
        dup.dedup();
        panic!(
            "{} flows received, {} distinct, {n} sent",
            sorted.len(),
            dup.len()
        );
    }
}

fn kill_restart_roundtrip(spool: Option<&Path>) {
    let col = Collector::start("127.0.0.1:0".parse().unwrap());
    let addr = col.addr;
    let mut sink = TcpSink::open(&cfg(addr, spool, 16 << 20), &opts()).unwrap();

    // Phase 1: collector up.
    emit_range(&mut sink, 0..3000);
    sink.flush().unwrap();
    col.wait_flows(3000);
    // Kill it mid-stream: the exporter's connection is still open and it does not know yet.
    let first = col.kill();

    // Phase 2: collector away; flows must be spooled, not written into the dead socket.
    emit_range(&mut sink, 3000..6000);
    sink.flush().unwrap();
    assert!(
        sink.stats().spooled_bytes > 0,
        "nothing spooled while the collector was away"
    );

    // Phase 3: collector back on the same port; spool replays, new flows follow.
    let col = Collector::start(addr);
    emit_range(&mut sink, 6000..9000);
    sink.flush().unwrap();
    col.wait_flows(6000);
    let stats = sink.stats();
    drop(sink); // tombstone + shutdown
    std::thread::sleep(Duration::from_millis(100));
    let second = col.kill();

    assert_eq!(first.len(), 1);
    assert!(!second.is_empty());
    let mut all: Vec<u32> = first[0].flows.clone();
    for c in &second {
        all.extend(&c.flows);
    }
    assert_exactly_once(&all, 9000);
    for c in first.iter().chain(&second) {
        // Every connection starts with templates: nothing was undecodable.
        assert_eq!(c.undecoded_sets, 0, "data before templates on a connection");
        assert_eq!(
            c.seq_gaps, 0,
            "sequence numbers not contiguous on a connection"
        );
        assert!(c.template_messages >= 1);
    }
    assert_eq!(stats.drops.records, 0);
    assert!(stats.connects >= 2, "{stats:?}");
    assert!(stats.disconnects >= 1, "{stats:?}");
    assert_eq!(second.last().unwrap().tombstones, 1);
    eprintln!(
        "kill/restart: {stats:?}; first connection {} flows, then {} connection(s)",
        first[0].flows.len(),
        second.len()
    );
}

#[test]
fn collector_killed_and_restarted_memory_spool_loses_nothing() {
    kill_restart_roundtrip(None);
}

#[test]
fn collector_killed_and_restarted_disk_spool_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    kill_restart_roundtrip(Some(dir.path()));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "spool not emptied"
    );
}

#[test]
fn full_spool_drops_oldest_and_counts_them() {
    let addr = free_port();
    // 64 KiB spool, 8 KiB... segments are at least 64 KiB: a 256 KiB spool holds 4 segments.
    let mut sink = TcpSink::open(&cfg(addr, None, 256 * 1024), &opts()).unwrap();
    let n = 20_000u32;
    emit_range(&mut sink, 0..n);
    sink.flush().unwrap();
    let s = sink.stats();
    assert!(s.drops.records > 0, "{s:?}");
    assert!(s.spooled_bytes <= 256 * 1024);

    let col = Collector::start(addr);
    sink.flush().unwrap();
    let expect = n as usize - s.drops.records as usize;
    col.wait_flows(expect);
    let got = col.flows();
    assert_eq!(got.len(), expect, "received + dropped must equal sent");
    // The oldest went: what arrived is exactly the newest `expect` flows, in order.
    let want: Vec<u32> = (n - expect as u32..n).collect();
    assert_eq!(got, want);
    drop(sink);
}

#[test]
fn disk_spool_is_replayed_by_the_next_run() {
    let addr = free_port();
    let dir = tempfile::tempdir().unwrap();
    let short = SinkOptions {
        tcp_shutdown_timeout: Duration::from_millis(50),
        ..opts()
    };
    {
        let mut sink = TcpSink::open(&cfg(addr, Some(dir.path()), 16 << 20), &short).unwrap();
        emit_range(&mut sink, 0..1000);
        // dropped with the collector away: messages stay on disk
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().count() > 0);
    let col = Collector::start(addr);
    let mut sink = TcpSink::open(&cfg(addr, Some(dir.path()), 16 << 20), &opts()).unwrap();
    emit_range(&mut sink, 1000..1500);
    sink.flush().unwrap();
    col.wait_flows(1500);
    drop(sink);
    let logs = col.kill();
    let all: Vec<u32> = logs.iter().flat_map(|c| c.flows.clone()).collect();
    assert_exactly_once(&all, 1500);
    assert!(logs.iter().all(|c| c.undecoded_sets == 0));
}

#[test]
fn a_quiet_sensor_does_not_hold_flows_back() {
    for (delay, sent) in [
        (Duration::from_secs(3600), false),
        (Duration::from_millis(50), true),
    ] {
        let col = Collector::start("127.0.0.1:0".parse().unwrap());
        let o = SinkOptions {
            max_message_delay: delay,
            ..opts()
        };
        let mut sink = TcpSink::open(&cfg(col.addr, None, 1 << 20), &o).unwrap();
        sink.emit(synthetic_flow(0)).unwrap();
        std::thread::sleep(Duration::from_millis(80));
        // The next record finds the open message stale and sends it, without any flush.
        sink.emit(synthetic_flow(1)).unwrap();
        if sent {
            col.wait_flows(2);
            assert_eq!(col.flows(), vec![0, 1]);
        } else {
            std::thread::sleep(Duration::from_millis(200));
            assert!(col.flows().is_empty(), "control: sent before the delay");
        }
        drop(sink);
    }
}

/// A collector that hangs and is then killed (unread data in its socket: the kernel resets the
/// connection and the data is gone). With the replay window, every flow still arrives (at least
/// once); without it (the control), the flows that were in flight are lost.
#[test]
fn crashed_collector_with_unread_data_replay_window_loses_nothing() {
    for window in [0u64, 4 << 20] {
        let col = Collector::start("127.0.0.1:0".parse().unwrap());
        let addr = col.addr;
        let o = SinkOptions {
            tcp_replay_window: window,
            ..opts()
        };
        let mut sink = TcpSink::open(&cfg(addr, None, 16 << 20), &o).unwrap();
        emit_range(&mut sink, 0..1000);
        sink.flush().unwrap();
        col.wait_flows(1000);
        // Hang, receive more without reading it, then die.
        col.paused.store(true, std::sync::atomic::Ordering::SeqCst);
        emit_range(&mut sink, 1000..1500);
        sink.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let first = col.kill();
        emit_range(&mut sink, 1500..2000);
        sink.flush().unwrap();
        let col = Collector::start(addr);
        sink.flush().unwrap();
        drop(sink);
        std::thread::sleep(Duration::from_millis(100));
        let second = col.kill();
        let mut all: Vec<u32> = first
            .iter()
            .chain(&second)
            .flat_map(|c| c.flows.clone())
            .collect();
        all.sort_unstable();
        let sent = all.len();
        all.dedup();
        let missing = 2000 - all.len();
        eprintln!(
            "replay window {window}: {sent} received, {} distinct, {missing} lost",
            all.len()
        );
        if window == 0 {
            assert!(
                missing > 0,
                "control: the unread flows should have been lost"
            );
            assert_eq!(sent, all.len(), "no duplicates without a replay window");
        } else {
            assert_eq!(missing, 0, "flows lost despite the replay window");
            assert!(second.iter().all(|c| c.undecoded_sets == 0));
        }
    }
}
