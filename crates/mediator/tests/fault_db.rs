//! The database in the way, through the real binary: a server whose max_allowed_packet is far
//! smaller than a batch, and a database so slow that commits block (a table lock held by
//! another session) while SIGTERM arrives or exporters keep sending. Each ends with exact row
//! counts: nothing lost, nothing twice. Only the compatible `flows`/`dns` tables and row
//! counts are relied on.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;
mod e2e_support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use e2e_support::*;
use mysql_async::prelude::Queryable;

const PACKET: u64 = 16 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn fault_packet_too_large_batches_load_exactly_once() {
    let server = private_server();
    let cfg = common::mariadb::config_for_url(&server.url(), "packet");
    {
        let mut root = mysql_async::Conn::from_url(server.url()).await.unwrap();
        root.query_drop(format!("SET GLOBAL max_allowed_packet = {PACKET}"))
            .await
            .unwrap();
        root.disconnect().await.unwrap();
        // Connections made from now on (the mediator's) get the small limit.
        let mut check = mysql_async::Conn::from_url(server.url()).await.unwrap();
        let v: u64 = check
            .query_first("SELECT @@max_allowed_packet")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v, PACKET);
        check.disconnect().await.unwrap();
    }
    let t = tempfile::tempdir().unwrap();
    // A few MiB: every chunk's rows are far larger than the packet limit (rows take at least
    // the bytes of the IPFIX they come from).
    let big = big_yaf(t.path(), 3);
    let (ef, ed) = expected_counts(&big);
    assert!(std::fs::metadata(&big).unwrap().len() > 100 * PACKET);
    let db = mysql(cfg);
    let mut args = vec!["run".to_string()];
    args.extend(db_args(&db));
    args.extend(["--in-file".into(), big.display().to_string()]);
    let out = run_mediator(&args);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    eprintln!(
        "'too large' retries logged: {}",
        log.matches("too large").count()
    );
    let c = counts(&db).await;
    assert_eq!(
        (c.flows, c.dns),
        (ef, ed),
        "exact rows under a {PACKET}-byte packet limit"
    );
    // Write-behind payloads were cut to fit the packet limit too.
    assert_aggregates_match_raw(&db).await;
    // Again: the ledger keeps it single.
    assert!(run_mediator(&args).status.success());
    let c2 = counts(&db).await;
    assert_eq!((c2.flows, c2.dns), (ef, ed));
    assert_aggregates_match_raw(&db).await;
    drop(server);
}

/// Waits until `want` sessions of database `db` other than ours wait for a table lock:
/// `want` commits of the mediator are in flight and blocked.
async fn wait_blocked_commits(
    watch: &mut mysql_async::Conn,
    db: &str,
    want: u64,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let n: u64 = watch
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                 WHERE DB = ? AND STATE LIKE 'Waiting for table%'",
                (db,),
            )
            .await
            .unwrap()
            .unwrap();
        if n >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n} commits of the mediator waited for the lock, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_sigterm_while_a_commit_is_blocked_finishes_that_batch() {
    let mcfg = common::mariadb::fresh_config("term_blocked");
    let cfg = mysql(mcfg.clone());
    let t = tempfile::tempdir().unwrap();
    let spool = t.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let big = big_yaf(t.path(), 13);
    let (ef, ed) = expected_counts(&big);
    let bounds = chunk_bounds(&big);
    assert!(bounds.len() >= 4, "want several chunks, got {bounds:?}");
    std::fs::rename(&big, spool.join("big.yaf")).unwrap();

    // Two chunks in their commit at once (the default, said explicitly): both are in flight
    // when the lock is taken, and both must commit.
    const PARALLEL: usize = 2;
    let mut args = vec!["run".to_string()];
    args.extend(db_args(&cfg));
    args.extend([
        "--in-dir".into(),
        spool.display().to_string(),
        "--poll-interval".into(),
        "0.2".into(),
        "--parallel-commits".into(),
        PARALLEL.to_string(),
    ]);
    let log = t.path().join("mediator.log");
    let mut child = start_mediator(&args, &log);
    let c = wait_counts(&cfg, Duration::from_secs(120), |c| c.flows > 0).await;
    assert!(c.flows > 0, "nothing loaded:\n{}", child.log_text());

    // The next commit blocks behind a write lock on flows (taken between two commits: LOCK
    // TABLES waits for the transaction in progress).
    let mut locker = admin_conn(&mcfg).await;
    locker.query_drop("LOCK TABLES flows WRITE").await.unwrap();
    let before: u64 = locker
        .query_first("SELECT COUNT(*) FROM flows")
        .await
        .unwrap()
        .unwrap();
    // Chunks may commit out of order, so what is done is read from the ledger (LOCK TABLES
    // waited for every transaction that had written flows, so the two agree).
    let mut watch = admin_conn(&mcfg).await;
    let done: u64 = watch
        .query_first("SELECT COUNT(*) FROM ingest_ledger")
        .await
        .unwrap()
        .unwrap();
    let at = usize::try_from(done).unwrap();
    assert!(
        at + PARALLEL < bounds.len(),
        "the load was too far on at the lock ({at} of {} chunks); make the file bigger",
        bounds.len() - 1
    );
    let sum: u64 = watch
        .query_first("SELECT CAST(COALESCE(SUM(flows), 0) AS UNSIGNED) FROM ingest_ledger")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before, sum, "flows and ledger agree under the lock");
    wait_blocked_commits(
        &mut watch,
        &mcfg.database,
        PARALLEL as u64,
        Duration::from_secs(60),
    )
    .await;

    child.sigterm();
    // Shutdown waits for the batch in flight (up to its grace period)...
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        child.wait_exit(Duration::ZERO).is_none(),
        "exited with a commit in flight:\n{}",
        child.log_text()
    );
    // ...which commits as soon as the database lets it.
    locker.query_drop("UNLOCK TABLES").await.unwrap();
    let status = child
        .wait_exit(Duration::from_secs(60))
        .expect("exit after SIGTERM");
    assert!(status.success(), "{}", child.log_text());
    let after = counts(&cfg).await;
    assert_eq!(
        after.flows,
        bounds[at + PARALLEL],
        "the {PARALLEL} batches in flight at SIGTERM (after {at} done) are committed, and nothing after them"
    );
    assert_eq!(after.ledger, (at + PARALLEL) as u64);
    assert!(spool.join("big.yaf").exists(), "a partly loaded file stays");

    // The stopped run's file never reached its flush: its committed chunks' aggregates wait
    // in pdns_pending.
    let pending: u64 = watch
        .query_first("SELECT COUNT(*) FROM pdns_pending")
        .await
        .unwrap()
        .unwrap();
    assert!(pending > 0, "nothing pending after a stop mid-file");
    // The next run applies them, then completes the file, skipping what is in the ledger.
    args.push("--once".into());
    assert!(run_mediator(&args).status.success());
    let c = counts(&cfg).await;
    assert_eq!((c.flows, c.dns), (ef, ed));
    assert_aggregates_match_raw(&cfg).await;
    drop(watch);
    drop(locker);
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_blocked_database_blocks_the_exporter_with_bounded_memory() {
    let mcfg = common::mariadb::fresh_config("slow_backpressure");
    let cfg = mysql(mcfg.clone());
    let t = tempfile::tempdir().unwrap();
    let spool = t.path().join("spool");
    let p = big_yaf(t.path(), 32);
    let (ef, ed) = expected_counts(&p);
    let bytes = std::fs::read(&p).unwrap();
    let total = bytes.len() as u64;
    let limit: u64 = 1 << 20;
    let mut args = listener_args(&cfg, &spool, 1);
    args.extend(["--spool-max-bytes".into(), limit.to_string()]);
    let log = t.path().join("mediator.log");
    let child = start_mediator(&args, &log);
    let addr = child.tcp.unwrap();
    // The schema exists once the listener is up; from now on every commit blocks.
    let mut locker = admin_conn(&mcfg).await;
    locker.query_drop("LOCK TABLES flows WRITE").await.unwrap();
    let rss0 = child.peak_rss_kib();

    let writer = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&bytes).unwrap();
    });
    let mut watch = admin_conn(&mcfg).await;
    wait_blocked_commits(&mut watch, &mcfg.database, 1, Duration::from_secs(60)).await;
    std::thread::sleep(Duration::from_secs(3));
    let spooled = journal_bytes(&spool);
    let rss1 = child.peak_rss_kib();
    eprintln!("blocked: {spooled} bytes spooled of {total} sent, peak RSS {rss0} -> {rss1} KiB");
    // Reading stopped near the limit (one read and one template message of slack)...
    assert!(
        spooled >= limit && spooled < limit + (1 << 18),
        "spooled {spooled} with limit {limit}"
    );
    // ...so the exporter waits (its connection open, not dropped)...
    assert!(!writer.is_finished(), "the exporter should be blocked");
    // ...and memory did not take what the disk did not. Reading it all would grow the
    // process by what was sent less the spool and the kernel's socket buffers (a few MiB);
    // the bounded design holds a journal's worth of rows and buffers (about 10 MiB).
    assert!(
        (rss1 - rss0) * 1024 < total / 2,
        "peak RSS grew {} KiB while the exporter pushed {total} bytes",
        rss1 - rss0
    );

    locker.query_drop("UNLOCK TABLES").await.unwrap();
    writer.join().expect("the exporter's connection survived");
    let c = wait_counts(&cfg, Duration::from_secs(300), |c| c.flows >= ef).await;
    let status = child.terminate();
    assert!(status.success());
    assert_eq!((c.flows, c.dns), (ef, ed));
    drop(watch);
    drop(locker);
}
