//! Many TCP exporters at once, each with its own templates: every session defines template
//! 256 in observation domain 1, half with an IPv4 layout and half with an IPv6 one of another
//! length, and they interleave their messages. Each session's records must be read with its
//! own definition, and a session that never sent a template gets nothing from the others.
//! Then SIGTERM with a session open: sessions close, and the next run loads what they sent.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;
mod e2e_support;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use e2e_support::*;

const EXPORTERS: u16 = 6;
const MESSAGES: u16 = 20;
const PER_MESSAGE: u16 = 5;

/// Source port of record `r` of message `m` of exporter `e` (unique across the test).
fn port(e: u16, m: u16, r: u16) -> u16 {
    1000 * (e + 1) + PER_MESSAGE * m + r
}

#[tokio::test(flavor = "multi_thread")]
async fn source_tcp_many_exporters_each_with_its_own_templates() {
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("db.sqlite3");
    let cfg = sqlite(&db);
    let spool = t.path().join("spool");
    let args = listener_args(&cfg, &spool, 1);
    let log = t.path().join("mediator.log");
    let child = start_mediator(&args, &log);
    let addr = child.tcp.unwrap();

    // All sessions open before any sends, so they overlap for the whole test.
    let mut socks: Vec<TcpStream> = (0..=EXPORTERS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let v6 = |e: u16| e % 2 == 1;
    for (e, s) in socks.iter_mut().enumerate().take(EXPORTERS as usize) {
        let e = e as u16;
        let layout: &[(u16, u16)] = if v6(e) { &FLOW6 } else { &FLOW4 };
        s.write_all(&message(1, 0, &[template_set(256, layout)]))
            .unwrap();
    }
    let mut want = BTreeSet::new();
    for m in 0..MESSAGES {
        for (e, s) in socks.iter_mut().enumerate() {
            let e = e as u16;
            let recs: Vec<Vec<u8>> = (0..PER_MESSAGE)
                .map(|r| {
                    let p = port(e, m, r);
                    if v6(e) {
                        flow6(p)
                    } else {
                        flow4(p)
                    }
                })
                .collect();
            // The last session never defined 256: its data must not be read with anyone
            // else's template.
            if e < EXPORTERS {
                want.extend((0..PER_MESSAGE).map(|r| (port(e, m, r), v6(e))));
            }
            s.write_all(&message(1, u32::from(m) * 5, &[data_set(256, &recs)]))
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(socks);
    let n = want.len() as u64;
    wait_counts(&cfg, Duration::from_secs(60), |c| c.flows >= n).await;
    // Let any late (wrong) rows land before judging.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(counts(&cfg).await.flows, n);
    let got: BTreeSet<(u16, bool)> = sqlite_flow_ports(&db).into_iter().collect();
    assert_eq!(got.len() as u64, n, "duplicate rows");
    assert_eq!(got, want);

    // SIGTERM with a session still open and its messages journaled: the mediator closes the
    // session and its journal (no .lock left) and exits 0; whatever it had not loaded yet is
    // loaded by the next run, once.
    let mut open = TcpStream::connect(addr).unwrap();
    let late: Vec<Vec<u8>> = (0..PER_MESSAGE).map(|r| flow4(60_000 + r)).collect();
    open.write_all(&message(
        1,
        0,
        &[template_set(256, &FLOW4), data_set(256, &late)],
    ))
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let status = child.terminate();
    assert!(status.success());
    drop(open);
    let locks: Vec<String> = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".lock") && !n.starts_with('.'))
        .collect();
    assert!(locks.is_empty(), "journal locks left: {locks:?}");
    let mut again = vec!["run".to_string()];
    again.extend(db_args(&cfg));
    again.extend([
        "--in-dir".into(),
        spool.display().to_string(),
        "--once".into(),
    ]);
    assert!(run_mediator(&again).status.success());
    assert_eq!(counts(&cfg).await.flows, n + u64::from(PER_MESSAGE));
}
