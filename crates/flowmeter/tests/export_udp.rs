//! IPFIX over UDP: templates first, then refreshed every N messages or T seconds, so a
//! collector that starts late decodes everything after the next refresh.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod export_support;

use std::net::UdpSocket;
use std::time::Duration;

use export_support::*;
use flowmeter::config::{ExportConfig, ExportTransport};
use flowmeter::export::udp::UdpSink;
use flowmeter::export::SinkOptions;
use flowmeter::flow::FlowSink;
use ipfix_model::Session;

fn setup(opts: SinkOptions) -> (UdpSocket, UdpSink) {
    let col = UdpSocket::bind("127.0.0.1:0").unwrap();
    col.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let addr = col.local_addr().unwrap();
    let cfg = ExportConfig {
        out: "127.0.0.1".into(),
        transport: ExportTransport::Udp,
        port: addr.port(),
        rotate_s: None,
        lock: false,
        observation_domain: 3,
        silk: false,
        stats_interval_s: 0,
        stats: true,
        spool_dir: None,
        spool_max_bytes: 0,
        metrics_listen: None,
    };
    (col, UdpSink::open(&cfg, &opts).unwrap())
}

fn recv_all(col: &UdpSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = col.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

fn is_template_msg(d: &[u8]) -> bool {
    let sid = u16::from_be_bytes([d[16], d[17]]);
    sid == 2 || sid == 3
}

#[test]
fn templates_are_refreshed_every_n_messages() {
    let (col, mut sink) = setup(SinkOptions {
        udp_template_refresh_messages: 3,
        ..SinkOptions::default()
    });
    for i in 0..200 {
        sink.emit(synthetic_flow(i)).unwrap();
    }
    sink.flush().unwrap();
    let dgrams = recv_all(&col);
    assert!(
        dgrams.iter().all(|d| d.len() <= 1420),
        "datagram over the MTU"
    );
    // Pattern: template message, 3 data messages, template message, ...
    let kinds: Vec<bool> = dgrams.iter().map(|d| is_template_msg(d)).collect();
    assert!(kinds[0], "first datagram must carry templates");
    let mut data_run = 0;
    for k in &kinds[1..] {
        if *k {
            assert_eq!(
                data_run, 3,
                "templates not refreshed after 3 data messages: {kinds:?}"
            );
            data_run = 0;
        } else {
            data_run += 1;
            assert!(
                data_run <= 3,
                "more than 3 data messages without templates: {kinds:?}"
            );
        }
    }
    // One collector session decodes everything.
    let mut s = Session::new();
    let mut log = ConnLog::default();
    for d in &dgrams {
        decode_stream(d, &mut s, &mut log);
    }
    assert_eq!(log.undecoded_sets, 0);
    assert_eq!(log.seq_gaps, 0);
    assert_eq!(log.flows, (0..200).collect::<Vec<_>>());
    // A collector that starts after the first refresh decodes from there on.
    let second = kinds.iter().skip(1).position(|k| *k).unwrap() + 1;
    let mut late = Session::new();
    let mut late_log = ConnLog::default();
    for d in &dgrams[second..] {
        decode_stream(d, &mut late, &mut late_log);
    }
    assert_eq!(late_log.undecoded_sets, 0);
    assert!(!late_log.flows.is_empty());
    assert!(sink.stats().template_sends >= 2);
}

#[test]
fn templates_are_refreshed_after_the_timeout() {
    let (col, mut sink) = setup(SinkOptions {
        udp_template_refresh: Duration::from_millis(150),
        ..SinkOptions::default()
    });
    sink.emit(synthetic_flow(1)).unwrap();
    sink.flush().unwrap();
    sink.emit(synthetic_flow(2)).unwrap();
    sink.flush().unwrap();
    assert_eq!(sink.stats().template_sends, 1, "refreshed too early");
    std::thread::sleep(Duration::from_millis(200));
    sink.emit(synthetic_flow(3)).unwrap();
    sink.flush().unwrap();
    assert_eq!(
        sink.stats().template_sends,
        2,
        "not refreshed after the timeout"
    );
    let kinds: Vec<bool> = recv_all(&col).iter().map(|d| is_template_msg(d)).collect();
    assert_eq!(kinds, vec![true, false, false, true, false]);
}
