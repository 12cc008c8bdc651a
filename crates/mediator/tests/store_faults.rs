//! MariaDB fault tests: the database connection killed in the middle of a batch, idle
//! connections dropped by the server, the server restarted and crashed during a load. Each ends
//! with exact row counts and no duplicates.
// Helpers outside #[test] fns unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::data::{self, batch};
use common::mariadb::{self as mdb, PrivateServer};
use mediator::dbconfig::DbConfig;
use mediator::store::{Batch, CommitOutcome, RetryPolicy, Store};
use mysql_async::prelude::Queryable;

fn policy() -> RetryPolicy {
    RetryPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_secs(1),
        max_retries: Some(300),
    }
}

async fn open(cfg: mediator::dbconfig::MysqlConfig) -> Store {
    let store = Store::open(&DbConfig::Mysql(cfg)).await.unwrap();
    store.init().await.unwrap();
    store
}

async fn admin(url: &str) -> mysql_async::Conn {
    let cfg = mdb::config_for_url(url, "mysql");
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(cfg.host.clone())
        .tcp_port(cfg.port)
        .user(Some(cfg.user.clone()))
        .pass(cfg.password.as_ref().map(|p| p.expose().to_string()));
    mysql_async::Conn::new(opts).await.unwrap()
}

/// Ids of the store's connections to `db` other than the admin's own.
async fn store_connections(admin: &mut mysql_async::Conn, db: &str, busy_with: &str) -> Vec<u64> {
    admin
        .exec(
            "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID() \
             AND (? = '' OR info LIKE ?)",
            (db, busy_with, format!("{busy_with}%")),
        )
        .await
        .unwrap()
}

fn batches(key: &str, n: u64, flows: usize) -> Vec<Batch> {
    (0..n)
        .map(|i| batch(key, i, data::synthetic_flows(1000 + i, flows, 5, 2_000)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_killed_mid_batch_is_retried_exactly_once() {
    let url = mdb::server_url();
    let cfg = mdb::config_for_url(&url, &mdb::unique_db_name("kill"));
    let db = cfg.database.clone();
    let store = open(cfg).await;
    let mut admin = admin(&url).await;
    let b = batch("big", 0, data::synthetic_flows(7, 15_000, 5, 20_000));
    let s2 = store.clone();
    let b2 = b.clone();
    let load = tokio::spawn(async move { s2.commit_batch_with_retry(&b2, &policy()).await });
    // Kill the loading connection while it is writing the dns rows: after the ledger row and
    // the flows rows, before COMMIT.
    let deadline = Instant::now() + Duration::from_secs(60);
    let killed = loop {
        // LOAD DATA LOCAL when the server allows it (the loader's default), else bound
        // parameters.
        let mut ids = store_connections(
            &mut admin,
            &db,
            "LOAD DATA LOCAL INFILE '%' INTO TABLE dns ",
        )
        .await;
        ids.extend(store_connections(&mut admin, &db, "INSERT INTO dns").await);
        if let Some(id) = ids.first() {
            admin
                .query_drop(format!("KILL CONNECTION {id}"))
                .await
                .unwrap();
            break *id;
        }
        assert!(
            Instant::now() < deadline && !load.is_finished(),
            "never saw the dns insert running; the batch finished first"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let done = load.await.unwrap().unwrap();
    assert!(
        done.retries >= 1,
        "connection {killed} was killed but no retry happened"
    );
    assert_eq!(
        done.outcome,
        CommitOutcome::Loaded {
            flows: 15_000,
            dns_rows: 75_000
        }
    );
    let c = store.counts().await.unwrap();
    assert_eq!((c.flows, c.dns, c.ledger), (15_000, 75_000, 1));
    assert_eq!(
        store.commit_batch(&b).await.unwrap(),
        CommitOutcome::AlreadyLoaded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_killed_between_batches() {
    let url = mdb::server_url();
    let cfg = mdb::config_for_url(&url, &mdb::unique_db_name("idle"));
    let db = cfg.database.clone();
    let store = open(cfg).await;
    let mut admin = admin(&url).await;
    let bs = batches("idle", 4, 500);
    let mut retries = 0;
    for b in &bs {
        // Everything the pool holds dies, as after a server-side wait_timeout.
        for id in store_connections(&mut admin, &db, "").await {
            let _ = admin.query_drop(format!("KILL CONNECTION {id}")).await;
        }
        let done = store.commit_batch_with_retry(b, &policy()).await.unwrap();
        retries += done.retries;
        assert!(matches!(
            done.outcome,
            CommitOutcome::Loaded { flows: 500, .. }
        ));
    }
    let c = store.counts().await.unwrap();
    assert_eq!((c.flows, c.dns, c.ledger), (2_000, 10_000, 4));
    eprintln!("idle kill: {retries} retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_timeout_between_batches() {
    let mut server = tokio::task::spawn_blocking(PrivateServer::start)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("private MariaDB for the wait_timeout test: {e}"));
    let url = server.url();
    let store = open(mdb::config_for_url(&url, "wt")).await;
    let mut admin = admin(&url).await;
    admin
        .query_drop("SET GLOBAL wait_timeout = 1")
        .await
        .unwrap();
    let bs = batches("wt", 3, 300);
    for b in &bs {
        store.commit_batch_with_retry(b, &policy()).await.unwrap();
        // The server closes the pooled connection while it idles.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
    }
    let c = store.counts().await.unwrap();
    assert_eq!((c.flows, c.dns, c.ledger), (900, 4_500, 3));

    // A tiny max_allowed_packet: bulk execute must split, long values must still fit.
    admin
        .query_drop("SET GLOBAL max_allowed_packet = 8192")
        .await
        .unwrap();
    let small = open(mdb::config_for_url(&url, "wt_packet")).await;
    let mut flows = data::synthetic_flows(77, 2_000, 5, 500);
    for f in flows.iter_mut().take(50) {
        f.dns[1].rrval = "t".repeat(1024);
    }
    let b = batch("packet", 0, flows);
    let done = small.commit_batch_with_retry(&b, &policy()).await.unwrap();
    assert_eq!(
        done.outcome,
        CommitOutcome::Loaded {
            flows: 2_000,
            dns_rows: 10_000
        }
    );
    let c = small.counts().await.unwrap();
    assert_eq!((c.flows, c.dns, c.ledger), (2_000, 10_000, 1));
    drop(admin);
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_and_crash_mid_load() {
    let server = tokio::task::spawn_blocking(PrivateServer::start)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("private MariaDB for the restart test: {e}"));
    let url = server.url();
    let store = open(mdb::config_for_url(&url, "restart")).await;
    let bs = batches("restart", 16, 1_500);
    let expected_flows: u64 = bs.iter().map(|b| b.flows.len() as u64).sum();
    let expected_dns: u64 = bs.iter().map(|b| b.dns_row_count() as u64).sum();

    let s2 = store.clone();
    let bs2 = bs.clone();
    let loader = tokio::spawn(async move {
        let mut retries = 0;
        let mut loaded = 0;
        for b in &bs2 {
            let done = s2.commit_batch_with_retry(b, &policy()).await.unwrap();
            retries += done.retries;
            if matches!(done.outcome, CommitOutcome::Loaded { .. }) {
                loaded += 1;
            }
        }
        (retries, loaded)
    });
    let server = std::sync::Arc::new(std::sync::Mutex::new(server));
    // A clean restart after a few batches, then a crash (SIGKILL) a little later.
    for (after, crash) in [(3u64, false), (9, true)] {
        loop {
            let c = store.counts().await;
            if c.map(|c| c.ledger >= after).unwrap_or(false) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let srv = server.clone();
        tokio::task::spawn_blocking(move || {
            let mut s = srv.lock().unwrap();
            if crash {
                s.kill();
                s.start_again()
            } else {
                s.restart()
            }
        })
        .await
        .unwrap()
        .unwrap();
    }
    let (retries, loaded) = loader.await.unwrap();
    assert!(retries >= 1, "the restarts must have interrupted something");
    let c = store.counts().await.unwrap();
    assert_eq!(
        (c.flows, c.dns, c.ledger),
        (expected_flows, expected_dns, 16)
    );
    // A batch whose COMMIT reply was lost counts as AlreadyLoaded on retry, so `loaded` may be
    // lower than 16; the row counts above prove nothing was lost or doubled.
    assert!(loaded <= 16);
    for b in &bs {
        assert_eq!(
            store.commit_batch(b).await.unwrap(),
            CommitOutcome::AlreadyLoaded
        );
    }
    // Linking survived: every dns row has its flow.
    if let Store::Mysql(m) = &store {
        let mut conn = m.pool().get_conn().await.unwrap();
        let orphans: Option<u64> = conn
            .query_first(
                "SELECT COUNT(*) FROM dns d LEFT JOIN flows f ON f.id = d.id WHERE f.id IS NULL",
            )
            .await
            .unwrap();
        assert_eq!(orphans, Some(0));
    }
    eprintln!("restart/crash: {retries} retries, {loaded} batches loaded by their own call");
}

async fn datadir_of(url: &str) -> String {
    let mut c = admin(url).await;
    let d: Option<String> = c.query_first("SELECT @@datadir").await.unwrap();
    let _ = c.disconnect().await;
    d.unwrap()
}

/// Two private servers racing for one port: the second must notice that the port is taken
/// (by a foreign MariaDB that would answer its readiness probe, or by any listener) and move
/// to another, never treating the other server as its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_server_start_never_adopts_a_foreign_server() {
    let first = tokio::task::spawn_blocking(PrivateServer::start)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("first private MariaDB: {e}"));
    let taken = first.port;
    let second = tokio::task::spawn_blocking(move || PrivateServer::start_first_on(taken))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("second private MariaDB: {e}"));
    assert_ne!(second.port, taken, "the second server must have moved");
    let own = |s: &PrivateServer| s.dir().join("data").canonicalize().unwrap();
    for s in [&first, &second] {
        let got = std::path::PathBuf::from(datadir_of(&s.url()).await);
        assert_eq!(got.canonicalize().unwrap(), own(s));
    }

    // A port held by something that is not MariaDB at all.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held = holder.local_addr().unwrap().port();
    let third = tokio::task::spawn_blocking(move || PrivateServer::start_first_on(held))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("third private MariaDB: {e}"));
    assert_ne!(third.port, held);
    let got = std::path::PathBuf::from(datadir_of(&third.url()).await);
    assert_eq!(got.canonicalize().unwrap(), own(&third));
    drop(holder);
    for mut s in [first, second, third] {
        tokio::task::spawn_blocking(move || s.stop()).await.unwrap();
    }
}
