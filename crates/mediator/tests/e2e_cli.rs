//! The other subcommands through the real binary on the embedded store: `init-db` twice,
//! `query` as a table and as JSON, `prune` removing raw rows while keeping aggregates, and
//! `--help` documenting the flags.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;
mod e2e_support;

use e2e_support::*;

fn with_db<'a>(mut a: Vec<&'a str>, db: &'a str) -> Vec<String> {
    a.extend(["--sqlite", db]);
    a.into_iter().map(String::from).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_cli_init_query_prune() {
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("pdns.sqlite3");
    let dbs = db.display().to_string();
    for _ in 0..2 {
        let out = run_mediator(&with_db(vec!["init-db"], &dbs));
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("schema version"));
    }
    let f = repo().join("tests/data/yaf/OISF+suricata-verify/tests/dns-eve-v2-udp-nxdomain-soa/dns-udp-nxdomain-soa.yaf");
    let fs = f.display().to_string();
    assert!(run_mediator(&with_db(
        vec!["run", "--in-file", &fs, "--sensor", "s1"],
        &dbs
    ))
    .status
    .success());

    let out = run_mediator(&with_db(vec!["query", "values", "oisf.net"], &dbs));
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("ns-110.awsdns-13.com."), "{table}");
    assert!(table.contains("(1 rows)"), "{table}");

    let out = run_mediator(&with_db(
        vec!["query", "--json", "who-resolved", "dne.oisf.net."],
        &dbs,
    ));
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let clients: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["client"].as_str().unwrap())
        .collect();
    assert_eq!(clients, vec!["10.16.1.11"]);

    let before = counts(&sqlite(&db)).await;
    assert!(before.flows == 1 && before.dns == 3 && before.pdns_rr >= 1);
    // The capture is from 2017: everything raw is older than 30 days.
    let out = run_mediator(&with_db(vec!["prune", "--older-than", "30d"], &dbs));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("pruned 1 flows and 3 DNS rows"));
    let after = counts(&sqlite(&db)).await;
    assert_eq!((after.flows, after.dns), (0, 0));
    assert_eq!(after.pdns_rr, before.pdns_rr, "aggregates are kept");
    // And the answer is still there.
    let out = run_mediator(&with_db(vec!["query", "values", "oisf.net"], &dbs));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ns-110.awsdns-13.com."));
}

#[test]
fn e2e_cli_help_lists_every_input_flag() {
    let out = std::process::Command::new(mediator_bin())
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--in-host",
        "--in-port",
        "--udp",
        "--in-file",
        "--in-dir",
        "--once",
        "--poll-interval",
        "--archive-dir",
        "--error-dir",
        "--spool-dir",
        "--spool-max-bytes",
        "--rotate-bytes",
        "--rotate-seconds",
        "--max-sessions",
        "--max-message-size",
        "--metrics-addr",
        "--database-url",
        "--defaults-file",
        "--mysql-host",
        "--name",
        "--pass",
        "--database",
        "--sqlite",
    ] {
        assert!(help.contains(flag), "{flag} missing from run --help");
    }
    // Garbage arguments are refused, not ignored.
    let out = std::process::Command::new(mediator_bin())
        .args(["run", "--bogus"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Every option of every subcommand's `--help` comes with a description (a flag listed bare
/// tells a YAF user nothing), and the compatibility flags of yaf_silk_mysql_mediator are
/// marked as such.
#[test]
fn e2e_cli_every_flag_of_every_subcommand_is_described() {
    let mut checked = 0;
    for sub in [
        &["--help"][..],
        &["run", "--help"],
        &["init-db", "--help"],
        &["prune", "--help"],
        &["query", "--help"],
        &["query", "who-resolved", "--help"],
        &["query", "resolvers", "--help"],
    ] {
        let out = std::process::Command::new(mediator_bin())
            .args(sub)
            .output()
            .unwrap();
        assert!(out.status.success(), "{sub:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        let mut lines = help.lines().peekable();
        while let Some(line) = lines.next() {
            let t = line.trim_start();
            if !(t.starts_with("--") || (t.starts_with('-') && t.get(2..3) == Some(","))) {
                continue;
            }
            // Short help: "--flag <V>   text" on one line; long help (`mediator --help`): the
            // text on the next line.
            let inline = t.split("  ").skip(1).any(|s| !s.trim().is_empty());
            let below = lines
                .peek()
                .is_some_and(|n| n.starts_with("          ") && !n.trim().is_empty());
            assert!(inline || below, "{sub:?}: no description for {t:?}");
            checked += 1;
        }
        if sub.first() == Some(&"run") {
            for flag in ["--mysql-host", "--name", "--pass", "--database"] {
                let line = help
                    .lines()
                    .find(|l| l.trim_start().starts_with(&format!("{flag} ")))
                    .unwrap();
                assert!(line.contains("Compatibility"), "{line}");
            }
        }
    }
    assert!(checked > 60, "only {checked} options seen");
}
