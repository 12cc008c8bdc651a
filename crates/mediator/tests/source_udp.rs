//! IPFIX over UDP through the real binary: one message per datagram (as UDP exporters send),
//! a garbage datagram in between is dropped without harming the exporter's session, and
//! everything lands after SIGTERM-free journal rotation; SQLite store.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

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
    let mut args = vec!["run".to_string()];
    args.extend(db_args(&cfg));
    args.extend([
        "--in-port".into(),
        "0".into(),
        "--udp".into(),
        "--spool-dir".into(),
        spool.display().to_string(),
        "--rotate-seconds".into(),
        "1".into(),
        "--poll-interval".into(),
        "0.2".into(),
    ]);
    let log = t.path().join("mediator.log");
    let mut child = spawn_mediator(&args, &log);
    let addrs = listening_addrs(&mut child, 2);
    let udp = addrs[1];
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
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(30))
        .unwrap()
        .success());
    let logtext = std::fs::read_to_string(&log).unwrap();
    assert!(logtext.contains("UDP message dropped"), "{logtext}");
}
