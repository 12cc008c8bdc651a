//! Faults while loading a spool file: the database restarted mid-load, and the mediator killed
//! with SIGKILL mid-load then started again, SIGTERM mid-load (whole chunks only; that the
//! chunk in flight is finished is shown in fault_db.rs, where it is held up on purpose). Each
//! ends with exact row counts (no loss, no duplicates).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;
mod e2e_support;

use std::time::Duration;

use e2e_support::*;

#[tokio::test(flavor = "multi_thread")]
async fn fault_database_restart_mid_load() {
    let mut server = private_server();
    let cfg = mysql(common::mariadb::config_for_url(
        &server.url(),
        "fault_restart",
    ));
    let t = tempfile::tempdir().unwrap();
    let spool = t.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let big = big_yaf(t.path(), 9);
    let (ef, ed) = expected_counts(&big);
    std::fs::rename(&big, spool.join("big.yaf")).unwrap();

    let mut args = vec!["run".to_string()];
    args.extend(db_args(&cfg));
    args.extend([
        "--in-dir".into(),
        spool.display().to_string(),
        "--once".into(),
    ]);
    let log = t.path().join("mediator.log");
    let mut child = start_mediator(&args, &log);
    let c = wait_counts(&cfg, Duration::from_secs(120), |c| c.flows > 0).await;
    assert!(
        c.flows > 0,
        "nothing loaded: {}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert!(
        c.flows < ef,
        "load finished before the restart; make the file bigger"
    );
    // A crash-restart (SIGKILL) rather than a clean stop: the transaction in flight dies with
    // the server, which is the case the ledger and the retry loop exist for.
    // Down long enough that the next commit is attempted (and fails) while it is away.
    server.kill();
    std::thread::sleep(Duration::from_secs(6));
    server.start_again().expect("restart MariaDB");
    let status = child
        .wait_exit(Duration::from_secs(300))
        .expect("mediator finished");
    let logtext = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{logtext}");
    for l in logtext
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
    {
        eprintln!("mediator: {l}");
    }
    let retries = logtext.matches("retrying").count();
    eprintln!("commit retries logged during the outage: {retries}");
    assert!(
        retries >= 1,
        "the outage should have failed a commit:\n{logtext}"
    );
    let c = counts(&cfg).await;
    assert_eq!((c.flows, c.dns), (ef, ed));
    assert_aggregates_match_raw(&cfg).await;
    assert!(std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .all(|e| e.path().is_dir()));
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_mediator_sigkill_mid_load_then_restart() {
    let cfg = mysql(common::mariadb::fresh_config("fault_kill"));
    let t = tempfile::tempdir().unwrap();
    let spool = t.path().join("spool");
    let archive = t.path().join("archive");
    std::fs::create_dir_all(&spool).unwrap();
    let big = big_yaf(t.path(), 9);
    let (ef, ed) = expected_counts(&big);
    std::fs::rename(&big, spool.join("big.yaf")).unwrap();

    let mut args = vec!["run".to_string()];
    args.extend(db_args(&cfg));
    args.extend([
        "--in-dir".into(),
        spool.display().to_string(),
        "--archive-dir".into(),
        archive.display().to_string(),
    ]);
    let log = t.path().join("mediator.log");
    let mut child = start_mediator(&args, &log);
    let c = wait_counts(&cfg, Duration::from_secs(120), |c| c.flows > 0).await;
    assert!(
        c.flows > 0 && c.flows < ef,
        "want a partial load, got {} of {ef}",
        c.flows
    );
    child.kill(); // SIGKILL
    let partial = counts(&cfg).await;
    assert!(partial.flows < ef);

    args.push("--once".into());
    let out = run_mediator(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = counts(&cfg).await;
    assert_eq!(
        (c.flows, c.dns),
        (ef, ed),
        "exact counts after kill -9 and restart"
    );
    // The killed run's committed chunks left their aggregates pending (the file's flush had
    // not come); the restart applied them once.
    assert_aggregates_match_raw(&cfg).await;
    // Chunks commit atomically, so the partial rows are whole chunks the ledger now skips.
    let err = String::from_utf8_lossy(&out.stderr);
    let already: u64 = err
        .split("already_loaded=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(already >= 1, "restart should skip committed chunks: {err}");
    assert!(archive.join("big.yaf").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_sigterm_mid_load_ends_on_a_chunk_boundary_and_resumes() {
    let cfg = mysql(common::mariadb::fresh_config("fault_term"));
    let t = tempfile::tempdir().unwrap();
    let spool = t.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let big = big_yaf(t.path(), 9);
    let (ef, ed) = expected_counts(&big);
    // Chunk boundaries (cumulative flows): after SIGTERM the table must end on one of them.
    let bounds = chunk_bounds(&big);
    assert!(bounds.len() >= 3, "want several chunks, got {bounds:?}");
    std::fs::rename(&big, spool.join("big.yaf")).unwrap();

    let mut args = vec!["run".to_string()];
    args.extend(db_args(&cfg));
    args.extend(["--in-dir".into(), spool.display().to_string()]);
    let log = t.path().join("mediator.log");
    let mut child = start_mediator(&args, &log);
    let c = wait_counts(&cfg, Duration::from_secs(120), |c| c.flows > 0).await;
    assert!(c.flows < ef, "load finished before SIGTERM");
    child.sigterm();
    let status = child
        .wait_exit(Duration::from_secs(60))
        .expect("exit after SIGTERM");
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let partial = counts(&cfg).await;
    assert!(
        bounds.contains(&partial.flows),
        "{} is not a chunk boundary of {bounds:?}",
        partial.flows
    );
    assert!(
        spool.join("big.yaf").exists(),
        "a partly loaded file stays in the spool"
    );

    args.push("--once".into());
    assert!(run_mediator(&args).status.success());
    let c = counts(&cfg).await;
    assert_eq!((c.flows, c.dns), (ef, ed));
}
