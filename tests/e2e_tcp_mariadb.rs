//! flowmeter on a capture -> IPFIX over TCP -> `mediator run` -> MariaDB, stopped with SIGTERM;
//! then the seed's two SQL queries (yaf_silk_mysql_mediator's users') run on the result.
//! Expected rows come from YAF 2.16.4's export of the same captures as decoded by ipfixDump
//! (libfixbuf), expected counts from the flowmeter's own file export of the same capture
//! decoded by ipfix-model, and the flow count also from YAF.
//!
//! The captures with www.google.com and youtube.com lookups are in the shared corpus only:
//! that variant runs when ../shared/corpus exists. The fixture variant asks the same two query
//! shapes about wikimedia.org names in a BSD-licensed Zeek capture, so a fresh clone tests the
//! whole path too.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::seed::{corpus_case, fixture_case, Case};
use common::*;

fn run_case(case: Case<'_>) {
    let tmp = tempdir("e2e-tcp-mariadb.");
    let mut pcaps = vec!["--in".to_string()];
    pcaps.extend(case.pcaps.iter().map(s));

    // The same capture written to a file: what the flowmeter exports, counted by ipfix-model.
    let file = tmp.path().join("parallel.yaf");
    let file_summary = flowmeter(&[pcaps.clone(), vec!["--out".into(), s(&file)]].concat());
    let exported = ipfix_counts(std::slice::from_ref(&file));
    assert_eq!(
        exported.flows, file_summary.flows,
        "flowmeter's summary vs its file"
    );
    assert_eq!(
        exported.dns, file_summary.dns_records,
        "flowmeter's summary vs its file"
    );
    assert_eq!(
        exported.flows,
        case.yaf().len() as u64,
        "flows: flowmeter vs YAF on the same capture"
    );

    let cfg = mariadb::fresh_config("e2e_tcp");
    let url = format!(
        "mysql://{}@{}:{}/{}",
        cfg.user, cfg.host, cfg.port, cfg.database
    );
    let spool = tmp.path().join("spool");
    let daemon = mediator_daemon(
        &[
            "--database-url".into(),
            url.clone(),
            "--spool-dir".into(),
            s(&spool),
            "--metrics-addr".into(),
            "127.0.0.1:0".into(),
        ],
        &tmp.path().join("mediator.log"),
    );
    let tcp_summary = flowmeter(
        &[
            pcaps.clone(),
            vec![
                "--ipfix".into(),
                "tcp".into(),
                "--out".into(),
                "127.0.0.1".into(),
                "--ipfix-port".into(),
                daemon.port.to_string(),
                "--spool-dir".into(),
                s(&tmp.path().join("flowmeter-spool")),
            ],
        ]
        .concat(),
    );
    assert_eq!(tcp_summary, file_summary, "same capture, same export");
    // Wait until the mediator has seen the session end (everything it will get is journaled),
    // then stop it at once. SIGTERM finishes the commit in flight and leaves journaled files
    // that are not loaded yet in the spool (crates/mediator/src/source/mod.rs); the next run
    // loads them, so together nothing may be lost or doubled.
    let metrics = daemon.metrics.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = scrape(metrics);
        let get = |k: &str| m.get(k).copied().unwrap_or(-1.0);
        if get("mediator_tcp_sessions_total") >= 1.0 && get("mediator_tcp_sessions_active") == 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "TCP session never ended: {m:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = daemon.log_text();
    let st = daemon.terminate();
    assert!(
        st.success(),
        "mediator exit status {st} after SIGTERM:\n{log}"
    );
    mediator(&[
        "run".into(),
        "--database-url".into(),
        url.clone(),
        "--in-dir".into(),
        s(&spool),
        "--once".into(),
    ]);
    let left: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ipfix"))
        .collect();
    assert!(left.is_empty(), "journal files left in the spool: {left:?}");

    case.check_mysql(&url, exported);
}

#[test]
fn seed_queries_over_tcp_fixture_wikipedia() {
    run_case(fixture_case());
}

#[test]
fn seed_queries_over_tcp_corpus_google_youtube() {
    let Some(c) = corpus() else {
        eprintln!("NOTE: ../shared/corpus not found: www.google.com/youtube.com variant skipped");
        return;
    };
    run_case(corpus_case(&c));
}
