//! Prometheus scrapes of the daemons during a run on a known capture. The mediator's counters
//! must equal what was sent (the flowmeter's TCP stream captured by a sink in this test and
//! decoded by ipfix-model) and what YAF exported for the same capture (flow count).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const WIKIPEDIA: &str = "zeek+zeek/testing/btest/Traces/wikipedia.pcap";

fn flowmeter_tcp(port: u16) -> FlowmeterSummary {
    flowmeter(&[
        "--in".into(),
        s(&fixture_pcap(WIKIPEDIA)),
        "--ipfix".into(),
        "tcp".into(),
        "--out".into(),
        "127.0.0.1".into(),
        "--ipfix-port".into(),
        port.to_string(),
    ])
}

fn wait_for(addr: SocketAddr, what: &str, ok: impl Fn(&BTreeMap<String, f64>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = scrape(addr);
        if ok(&m) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} within 30 s: {m:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn mediator_metrics_count_sessions_records_and_rows() {
    let tmp = tempdir("e2e-metrics.");
    let yaf_flows = yaf_dump(&fixture_dump(WIKIPEDIA)).len() as u64;

    // What the flowmeter sends over TCP for this capture, captured by a plain sink.
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (mut c, _) = sink.accept().unwrap();
        let mut buf = Vec::new();
        c.read_to_end(&mut buf).unwrap();
        buf
    });
    let sent_summary = flowmeter_tcp(sink_port);
    let stream = reader.join().unwrap();
    let mut sent = IpfixCounts::default();
    sent.add_stream(&stream, "flowmeter's TCP stream");
    assert_eq!(sent.flows, yaf_flows, "flows: flowmeter vs YAF");
    assert_eq!(
        (sent.flows, sent.dns),
        (sent_summary.flows, sent_summary.dns_records)
    );
    assert!(sent.other >= 1, "statistics records expected: {sent:?}");

    let daemon = mediator_daemon(
        &[
            "--sqlite".into(),
            s(&tmp.path().join("db.sqlite3")),
            "--spool-dir".into(),
            s(&tmp.path().join("spool")),
            "--rotate-seconds".into(),
            "1".into(),
            "--poll-interval".into(),
            "0.2".into(),
            "--metrics-addr".into(),
            "127.0.0.1:0".into(),
        ],
        &tmp.path().join("mediator.log"),
    );
    let addr = daemon.metrics.unwrap();
    let m0 = scrape(addr);
    assert_eq!(m0["mediator_tcp_sessions_total"], 0.0);
    assert_eq!(m0["mediator_flows_loaded_total"], 0.0);

    // A session held open is visible as active while it lasts.
    let idle = TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    wait_for(addr, "an open session counted", |m| {
        m["mediator_tcp_sessions_active"] == 1.0 && m["mediator_tcp_sessions_total"] == 1.0
    });

    let summary = flowmeter_tcp(daemon.port);
    assert_eq!(summary, sent_summary);
    drop(idle);
    // Rows are counted as each chunk commits; the file is deleted and its bytes leave the
    // spool gauge only after its last chunk, so the spool must be seen empty too before the
    // exact values below are read (a scrape in between saw the last file still pending).
    wait_for(addr, "all rows loaded and the spool emptied", |m| {
        m["mediator_flows_loaded_total"] >= sent.flows as f64
            && m["mediator_dns_rows_loaded_total"] >= sent.dns as f64
            && m["mediator_tcp_sessions_active"] == 0.0
            && m["mediator_spool_pending_bytes"] == 0.0
    });
    let m = scrape(addr);
    let get = |k: &str| -> f64 { *m.get(k).unwrap_or_else(|| panic!("{k} missing: {m:?}")) };
    assert_eq!(get("mediator_tcp_sessions_total"), 2.0);
    assert_eq!(get("mediator_tcp_sessions_active"), 0.0);
    assert_eq!(
        get(r#"mediator_messages_total{proto="tcp"}"#),
        sent.messages as f64
    );
    assert_eq!(get("mediator_bytes_journaled_total"), stream.len() as f64);
    assert_eq!(get("mediator_flows_loaded_total"), yaf_flows as f64);
    assert_eq!(get("mediator_dns_rows_loaded_total"), sent.dns as f64);
    assert_eq!(get("mediator_non_flow_records_total"), sent.other as f64);
    assert_eq!(get("mediator_files_failed_total"), 0.0);
    assert_eq!(get("mediator_db_errors_total"), 0.0);
    assert_eq!(get("mediator_batch_retries_total"), 0.0);
    assert!(get("mediator_files_loaded_total") >= 1.0);
    assert!(get("mediator_chunks_committed_total") >= 1.0);
    assert!(get("mediator_batch_commit_seconds_count") >= 1.0);
    assert_eq!(get("mediator_spool_pending_bytes"), 0.0);

    let st = daemon.terminate();
    assert!(st.success());
}

/// The flowmeter reads the capture from a pipe kept open (as behind `tcpdump -w -`), so it is
/// still running when scraped: every expected value comes from tshark or YAF, not from us.
#[test]
fn flowmeter_metrics_count_packets_and_dns_messages() {
    let pcap = std::fs::read(fixture_pcap(WIKIPEDIA)).unwrap();
    let tshark_lines = |filter: &str, field: &str| -> Vec<String> {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(fixture_pcap(WIKIPEDIA))
            .args(["-Y", filter, "-T", "fields", "-e", field])
            .output()
            .expect("tshark");
        assert!(out.status.success(), "tshark -Y {filter} failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let count = |filter: &str| tshark_lines(filter, "frame.number").len() as f64;
    let packets = count("frame");
    // Frames that are neither IPv4 nor IPv6 (ARP here) are read and ignored.
    let not_ip = count("not ip and not ipv6");
    // DNS messages among them (mDNS and LLMNR included).
    let dns_messages = count("dns || mdns || llmnr");
    let captured_bytes: f64 = tshark_lines("frame", "frame.cap_len")
        .iter()
        .map(|l| l.parse::<f64>().unwrap())
        .sum();
    let yaf_flows = yaf_dump(&fixture_dump(WIKIPEDIA)).len() as f64;
    assert!(packets > 100.0 && dns_messages > 10.0 && not_ip > 0.0);

    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tmp = tempdir("e2e-fm-metrics.");
    let mut child = Command::new(flowmeter_bin())
        .args(["--in", "-", "--out"])
        .arg(tmp.path().join("out.yaf"))
        .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&pcap).unwrap();
    stdin.flush().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "flowmeter metrics endpoint never came up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for(addr, "all packets counted", |m| {
        m.get("flowmeter_packets_total").copied().unwrap_or(0.0) >= packets
    });
    let m = scrape(addr);
    let get = |k: &str| -> f64 { *m.get(k).unwrap_or_else(|| panic!("{k} missing: {m:?}")) };
    assert_eq!(get("flowmeter_packets_total"), packets);
    assert_eq!(get("flowmeter_packets_ignored_total"), not_ip);
    assert_eq!(get("flowmeter_bytes_total"), captured_bytes);
    assert_eq!(get("flowmeter_dns_messages_total"), dns_messages);
    // Nothing has timed out in a capture this short: every flow YAF exported is still open.
    assert_eq!(get("flowmeter_flows_created_total"), yaf_flows);
    assert_eq!(get("flowmeter_flows_active"), yaf_flows);
    assert_eq!(
        get(r#"flowmeter_dns_parse_errors_total{kind="pointer_loop"}"#),
        0.0
    );
    // A file input has no capture drops to report.
    assert!(!m.contains_key("flowmeter_packets_dropped_total"), "{m:?}");
    drop(stdin);
    assert!(child.wait().unwrap().success());
    // Written at end of input: the same flows YAF wrote.
    let mut written = IpfixCounts::default();
    written.add_stream(
        &std::fs::read(tmp.path().join("out.yaf")).unwrap(),
        "flowmeter output",
    );
    assert_eq!(written.flows as f64, yaf_flows);
}
