//! The exporters' octet counters (`ExportStats::bytes_sent`, shown as
//! `flowmeter_export_bytes_total` and in the end-of-run line) against what really left: the
//! size of the files written, the bytes a TCP collector read, the UDP datagrams received.
//! Also the command line's `--udp-temp-timeout` reaching the UDP exporter.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod export_support;

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use export_support::*;
use flowmeter::config::cli::Args;
use flowmeter::config::{ExportConfig, ExportTransport};
use flowmeter::export::{self, Exporter, SinkOptions};
use flowmeter::flow::{FlowSink, MeterStats};

fn cfg(transport: ExportTransport, out: &str, port: u16, rotate_s: Option<u64>) -> ExportConfig {
    ExportConfig {
        transport,
        port,
        rotate_s,
        lock: true,
        observation_domain: 1,
        stats_interval_s: 0,
        spool_max_bytes: 16 << 20,
        ..ExportConfig::file(out)
    }
}

fn feed(x: &mut Exporter, n: u32) {
    for i in 0..n {
        x.emit(synthetic_flow(i)).unwrap();
        if i % 500 == 0 {
            x.on_stats(&MeterStats::default()).unwrap();
        }
    }
    x.flush().unwrap();
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn file_bytes_are_the_size_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flows.yaf");
    let mut x = export::open(
        &cfg(ExportTransport::File, out.to_str().unwrap(), 0, None),
        &SinkOptions::default(),
    )
    .unwrap();
    let before = x.stats().bytes_sent.unwrap();
    feed(&mut x, 3000);
    let mid = x.stats();
    // After a flush everything handed over is in the file.
    assert_eq!(
        mid.bytes_sent.unwrap(),
        std::fs::metadata(&out).unwrap().len()
    );
    assert!(mid.bytes_sent.unwrap() > before);
    let fin = x.close().unwrap();
    let size = std::fs::metadata(&out).unwrap().len();
    // The tombstone message came after the flush.
    assert!(fin.bytes_sent.unwrap() > mid.bytes_sent.unwrap());
    assert_eq!(fin.bytes_sent, Some(size));
    let bytes = std::fs::read(&out).unwrap();
    let mut n = 0;
    for_each_message(&bytes, |_, _| n += 1);
    assert_eq!(fin.messages_sent, n as u64);
}

#[test]
fn rotated_file_bytes_add_up_over_all_files() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("sensor");
    let mut x = export::open(
        &cfg(ExportTransport::File, prefix.to_str().unwrap(), 0, Some(1)),
        &SinkOptions::default(),
    )
    .unwrap();
    for i in 0..2000u32 {
        let mut f = synthetic_flow(i);
        // 10 ms of packet time per flow: a new file every 100 flows.
        f.end_ns = 1_700_000_000_000_000_000 + u64::from(i) * 10_000_000;
        x.emit(f).unwrap();
    }
    let fin = x.close().unwrap();
    let files = files_in(dir.path());
    assert!(files.len() >= 15, "{} files", files.len());
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(fin.bytes_sent, Some(total));
}

#[test]
fn tcp_bytes_are_what_the_collector_read() {
    let col = Collector::start("127.0.0.1:0".parse().unwrap());
    let mut x = export::open(
        &cfg(ExportTransport::Tcp, "127.0.0.1", col.addr.port(), None),
        &SinkOptions::default(),
    )
    .unwrap();
    feed(&mut x, 3000);
    col.wait_flows(3000);
    let fin = x.close().unwrap();
    let t = Instant::now();
    let read = || col.logs().iter().map(|c| c.bytes).sum::<u64>();
    while read() < fin.bytes_sent.unwrap() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let logs = col.kill();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].tombstones, 1);
    assert_eq!(fin.bytes_sent, Some(logs[0].bytes));
    assert_eq!(fin.messages_sent, logs[0].messages as u64);
    assert_eq!(fin.reconnects, Some(0));
}

fn udp_collector() -> UdpSocket {
    let col = UdpSocket::bind("127.0.0.1:0").unwrap();
    col.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    col
}

fn recv_all(col: &UdpSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = col.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

#[test]
fn udp_bytes_are_the_datagrams_received() {
    let col = udp_collector();
    let port = col.local_addr().unwrap().port();
    let mut x = export::open(
        &cfg(ExportTransport::Udp, "127.0.0.1", port, None),
        &SinkOptions::default(),
    )
    .unwrap();
    // Few enough that the loopback socket buffer never overflows.
    feed(&mut x, 300);
    let fin = x.close().unwrap();
    let got = recv_all(&col);
    assert_eq!(fin.send_errors, Some(0));
    assert_eq!(fin.messages_sent, got.len() as u64);
    assert_eq!(
        fin.bytes_sent,
        Some(got.iter().map(|d| d.len() as u64).sum())
    );
}

fn is_template_msg(d: &[u8]) -> bool {
    let sid = u16::from_be_bytes([d[16], d[17]]);
    sid == 2 || sid == 3
}

/// `--udp-temp-timeout 1`: templates go out again a third of a second later, not before.
#[test]
fn udp_temp_timeout_from_the_command_line_refreshes_templates() {
    let col = udp_collector();
    let port = col.local_addr().unwrap().port().to_string();
    let args = Args::try_parse_from([
        "flowmeter",
        "--in",
        "x.pcap",
        "--ipfix",
        "udp",
        "--out",
        "127.0.0.1",
        "--ipfix-port",
        &port,
        "--udp-temp-timeout",
        "1",
    ])
    .unwrap();
    let c = args.to_config().unwrap();
    let mut x = export::open(c.export.as_ref().unwrap(), &args.sink_options()).unwrap();
    let start = Instant::now();
    x.emit(synthetic_flow(1)).unwrap();
    x.flush().unwrap();
    x.emit(synthetic_flow(2)).unwrap();
    x.flush().unwrap();
    let quick = start.elapsed() < Duration::from_millis(300);
    std::thread::sleep(Duration::from_millis(400));
    x.emit(synthetic_flow(3)).unwrap();
    x.flush().unwrap();
    let Exporter::Udp(u) = &x else {
        panic!("not the UDP exporter")
    };
    assert_eq!(u.stats().template_sends, 2);
    drop(x);
    let kinds: Vec<bool> = recv_all(&col).iter().map(|d| is_template_msg(d)).collect();
    if quick {
        // templates, data, data, (333 ms) templates, data, then the tombstone
        assert_eq!(kinds, vec![true, false, false, true, false, false]);
    }
}
