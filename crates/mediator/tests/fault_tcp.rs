//! Network input faults, real binary and MariaDB: a garbage TCP session beside a good one
//! (the good one's rows all land, the garbage one is closed with a log line naming peer and
//! offset), SIGTERM (exit 0, journals closed and unlocked), and SIGKILL while receiving
//! (after a restart everything journaled is loaded).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;
mod e2e_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use e2e_support::*;

/// A session's byte stream: the fixture YAF files back to back (one exporter sending several
/// files' worth of messages), and its expected counts.
fn stream(dir: &Path) -> (Vec<u8>, (u64, u64)) {
    let p = dir.join("stream.yaf");
    let inputs: Vec<_> = fixture_inputs()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaf"))
        .collect();
    concat_file(&inputs, 1, &p);
    let exp = expected_counts(&p);
    (std::fs::read(&p).unwrap(), exp)
}

fn locks(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".lock") && !n.starts_with('.'))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_garbage_session_beside_good_one_and_sigterm() {
    let cfg = mysql(common::mariadb::fresh_config("tcp_garbage"));
    let t = tempfile::tempdir().unwrap();
    let spool = t.path().join("spool");
    let (bytes, (ef, ed)) = stream(t.path());
    let log = t.path().join("mediator.log");
    let mut args = listener_args(&cfg, &spool, 1);
    args.extend(["--metrics-addr".into(), "127.0.0.1:0".into()]);
    let mut child = start_mediator(&args, &log);
    let (metrics_addr, addr) = (child.metrics.unwrap(), child.tcp.unwrap());
    let messages = message_count(&bytes);

    let mut good = TcpStream::connect(addr).unwrap();
    let half = bytes.len() / 2;
    // Split inside a message on purpose: framing must wait for the rest.
    good.write_all(&bytes[..half]).unwrap();

    let mut bad = TcpStream::connect(addr).unwrap();
    let bad_port = bad.local_addr().unwrap().port();
    // A valid-looking header followed by a set whose length runs past the message.
    let mut garbage = vec![0x00, 0x0a, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    garbage.extend([0x01, 0x00, 0xff, 0xff]);
    garbage.extend([0u8; 12]);
    bad.write_all(&garbage).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = [0u8; 16];
    // The server closes the garbage session.
    assert!(matches!(bad.read(&mut b), Ok(0) | Err(_)));

    good.write_all(&bytes[half..]).unwrap();
    drop(good);

    let c = wait_counts(&cfg, Duration::from_secs(60), |c| c.flows >= ef).await;
    assert_eq!((c.flows, c.dns), (ef, ed), "every row of the good session");
    // A scrape agrees with the database and with what was sent.
    let body = scrape(metrics_addr);
    let m = |s: &str| metric(&body, s);
    assert_eq!(m("mediator_flows_loaded_total"), ef as f64);
    assert_eq!(m("mediator_dns_rows_loaded_total"), ed as f64);
    assert_eq!(m("mediator_tcp_sessions_total"), 2.0);
    assert_eq!(
        m(r#"mediator_session_errors_total{kind="invalid_ipfix"}"#),
        1.0
    );
    assert_eq!(
        m(r#"mediator_messages_total{proto="tcp"}"#),
        messages as f64
    );
    assert_eq!(m("mediator_tcp_sessions_active"), 0.0);

    child.sigterm();
    let status = child
        .wait_exit(Duration::from_secs(30))
        .expect("exit after SIGTERM");
    assert!(status.success());
    let logtext = std::fs::read_to_string(&log).unwrap();
    let line = logtext
        .lines()
        .find(|l| l.contains(&format!(":{bad_port}")) && l.contains("closing session"))
        .unwrap_or_else(|| panic!("no log line for the garbage peer:\n{logtext}"));
    assert!(line.contains("offset="), "{line}");
    assert!(
        locks(&spool).is_empty(),
        "journal locks left: {:?}",
        locks(&spool)
    );
    let c = counts(&cfg).await;
    assert_eq!((c.flows, c.dns), (ef, ed), "no duplicates after shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_sigkill_while_receiving_then_restart_loads_journal() {
    let cfg = mysql(common::mariadb::fresh_config("tcp_kill"));
    let t = tempfile::tempdir().unwrap();
    let spool = t.path().join("spool");
    let (bytes, (ef, ed)) = stream(t.path());
    let log = t.path().join("mediator.log");
    // Journals rotate only after an hour: nothing reaches the database before the kill.
    let mut child = start_mediator(&listener_args(&cfg, &spool, 3600), &log);
    let addr = child.tcp.unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&bytes).unwrap();
    // Wait until all of it is in the journal (plus its leading template message).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let journaled: u64 = std::fs::read_dir(&spool)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".ipfix"))
            .map(|e| e.metadata().unwrap().len())
            .sum();
        if journaled >= bytes.len() as u64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "journal has {journaled} of {} bytes",
            bytes.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        counts(&cfg).await.flows,
        0,
        "nothing loaded yet: the journal is still locked"
    );
    child.kill(); // SIGKILL, session still open
    drop(s);
    assert_eq!(
        locks(&spool).len(),
        1,
        "the dead process's journal lock remains"
    );

    // Restart: the stale journal is recovered (unlocked) and loaded.
    let log2 = t.path().join("mediator2.log");
    let mut child = start_mediator(&listener_args(&cfg, &spool, 3600), &log2);
    let c = wait_counts(&cfg, Duration::from_secs(60), |c| c.flows >= ef).await;
    child.sigterm();
    let status = child
        .wait_exit(Duration::from_secs(30))
        .expect("exit after SIGTERM");
    assert!(status.success());
    assert_eq!(
        (c.flows, c.dns),
        (ef, ed),
        "everything journaled before the kill is loaded"
    );
    assert!(std::fs::read_to_string(&log2)
        .unwrap()
        .contains("recovered journal files"));
    assert!(locks(&spool).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_database_down_back_pressure_then_recovery() {
    let mut server = private_server();
    let cfg = mysql(common::mariadb::config_for_url(
        &server.url(),
        "backpressure",
    ));
    let t = tempfile::tempdir().unwrap();
    let spool = t.path().join("spool");
    let inputs = yaf_inputs();
    let size: u64 = inputs
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let p = t.path().join("stream.yaf");
    concat_file(&inputs, (12u64 << 20).div_ceil(size) as usize, &p);
    let (ef, ed) = expected_counts(&p);
    let bytes = std::fs::read(&p).unwrap();
    let limit: u64 = 1 << 20;
    let mut args = listener_args(&cfg, &spool, 1);
    args.extend(["--spool-max-bytes".into(), limit.to_string()]);
    let log = t.path().join("mediator.log");
    let mut child = start_mediator(&args, &log);
    let addr = child.tcp.unwrap();
    server.kill(); // the database goes away after start-up

    let total = bytes.len();
    let writer = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&bytes).unwrap();
    });
    std::thread::sleep(Duration::from_secs(4));
    let spooled: u64 = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".ipfix"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    // Reading stopped near the limit (one read and one template message of slack), so the
    // exporter is blocked instead of the collector's disk or memory growing.
    assert!(
        spooled >= limit && spooled < limit + (1 << 18),
        "spooled {spooled} with limit {limit}"
    );
    assert!(
        !writer.is_finished(),
        "the exporter should be blocked ({total} bytes to send)"
    );

    server.start_again().expect("restart MariaDB");
    writer.join().unwrap();
    let c = wait_counts(&cfg, Duration::from_secs(180), |c| c.flows >= ef).await;
    child.sigterm();
    assert!(child.wait_exit(Duration::from_secs(30)).unwrap().success());
    assert_eq!((c.flows, c.dns), (ef, ed));
}
