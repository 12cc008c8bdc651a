//! IPFIX over UDP through the real binary: one message per datagram (as UDP exporters send),
//! a garbage datagram in between is dropped without harming the exporter's session, and
//! everything lands after SIGTERM-free journal rotation; SQLite store.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;
mod e2e_support;

use std::time::Duration;

use e2e_support::*;

#[tokio::test(flavor = "multi_thread")]
async fn source_udp_messages_and_garbage_datagram() {
    let t = tempfile::tempdir().unwrap();
    let cfg = sqlite(&t.path().join("db.sqlite3"));
    let spool = t.path().join("spool");
    let file = repo().join("tests/data/ipfix/softflowd_ipfix_biflow_udp_absms.ipfix");
    let (ef, ed) = expected_counts(&file);
    assert!(ef > 0);
    let mut args = listener_args(&cfg, &spool, 1);
    args.push("--udp".into());
    let log = t.path().join("mediator.log");
    let mut child = start_mediator(&args, &log);
    let udp = child.udp.unwrap();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rd = ipfix_model::FileReader::new(std::fs::File::open(&file).unwrap());
    let mut first = true;
    while let Some((_, msg)) = rd.next_raw().unwrap() {
        sock.send_to(msg, udp).unwrap();
        if first {
            sock.send_to(b"\x00\x0a\x00\x08garbage!", udp).unwrap();
            first = false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let c = wait_counts(&cfg, Duration::from_secs(30), |c| c.flows >= ef).await;
    assert_eq!((c.flows, c.dns), (ef, ed));
    child.sigterm();
    assert!(child.wait_exit(Duration::from_secs(30)).unwrap().success());
    let logtext = std::fs::read_to_string(&log).unwrap();
    assert!(logtext.contains("UDP message dropped"), "{logtext}");
}

/// UDP template lifetime: an exporter's templates serve its data until it has been silent for
/// --udp-template-timeout; after that, data before a new template is not decodable (dropped,
/// not misread), and a resent template works again.
#[tokio::test(flavor = "multi_thread")]
async fn source_udp_templates_expire_after_silence() {
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("db.sqlite3");
    let cfg = sqlite(&db);
    let spool = t.path().join("spool");
    let timeout = 2u64;
    let mut args = listener_args(&cfg, &spool, 1);
    args.extend([
        "--udp".into(),
        "--udp-template-timeout".into(),
        timeout.to_string(),
    ]);
    let log = t.path().join("mediator.log");
    let child = start_mediator(&args, &log);
    let udp = child.udp.unwrap();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let recs = |base: u16| -> Vec<Vec<u8>> { (0..3).map(|i| flow4(base + i)).collect() };
    let tmpl = template_set(256, &FLOW4);
    let send = |seq: u32, sets: &[Vec<u8>]| {
        sock.send_to(&message(1, seq, sets), udp).unwrap();
    };
    // Template and data; then data alone, within the lifetime.
    send(0, &[tmpl.clone(), data_set(256, &recs(100))]);
    std::thread::sleep(Duration::from_millis(200));
    send(3, &[data_set(256, &recs(200))]);
    let c = wait_counts(&cfg, Duration::from_secs(30), |c| c.flows >= 6).await;
    assert_eq!(c.flows, 6, "data within the template lifetime is read");
    // Silent for longer than the lifetime: the templates are gone.
    std::thread::sleep(Duration::from_secs(timeout + 2));
    send(6, &[data_set(256, &recs(300))]);
    std::thread::sleep(Duration::from_millis(200));
    send(9, &[tmpl.clone(), data_set(256, &recs(400))]);
    let _ = wait_counts(&cfg, Duration::from_secs(30), |c| c.flows >= 9).await;
    // Let any late (wrong) rows land before judging.
    std::thread::sleep(Duration::from_millis(2500));
    let status = child.terminate();
    assert!(status.success());
    let ports: Vec<u16> = sqlite_flow_ports(&db).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        ports,
        vec![100, 101, 102, 200, 201, 202, 400, 401, 402],
        "data after the templates expired is not read; a resent template is"
    );
    let logtext = std::fs::read_to_string(&log).unwrap();
    assert!(logtext.contains("templates dropped"), "{logtext}");
}
