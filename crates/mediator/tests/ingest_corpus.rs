//! Every fixture (and, when present, every corpus file) loads through the real binary into a
//! real MariaDB and into SQLite, and the row counts equal the records counted independently;
//! loading everything a second time adds nothing (ledger).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;
mod e2e_support;

use std::path::PathBuf;

use e2e_support::*;
use mediator::dbconfig::DbConfig;

fn load_all(cfg: &DbConfig, inputs: &[PathBuf]) {
    // Several invocations keep the command line short and exercise restarts on one database.
    for part in inputs.chunks(100) {
        let mut args = vec!["run".to_string()];
        args.extend(db_args(cfg));
        args.push("--in-file".into());
        args.extend(part.iter().map(|p| p.display().to_string()));
        let out = run_mediator(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

async fn check(cfg: DbConfig, inputs: Vec<PathBuf>) {
    let (mut flows, mut dns) = (0u64, 0u64);
    // The ledger keys files by content: identical files (the fixtures are copies of corpus
    // files, and the corpus has identical captures) load once.
    let mut seen = std::collections::HashSet::new();
    for p in &inputs {
        if !seen.insert(std::fs::read(p).unwrap()) {
            continue;
        }
        let (f, d) = expected_counts(p);
        flows += f;
        dns += d;
    }
    load_all(&cfg, &inputs);
    let c = counts(&cfg).await;
    assert_eq!((c.flows, c.dns), (flows, dns), "{} files", inputs.len());
    assert!(c.ledger >= seen.len() as u64);
    // Again: the ledger turns every chunk into a no-op.
    load_all(&cfg, &inputs);
    let c2 = counts(&cfg).await;
    assert_eq!((c2.flows, c2.dns, c2.ledger), (c.flows, c.dns, c.ledger));
    eprintln!("{} files: {flows} flows, {dns} DNS rows", inputs.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_corpus_mariadb() {
    let mut inputs = fixture_inputs();
    inputs.extend(corpus_inputs());
    check(mysql(common::mariadb::fresh_config("corpus")), inputs).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_fixtures_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    check(sqlite(&dir.path().join("pdns.sqlite3")), fixture_inputs()).await;
}
