//! The store-level suite: the same test bodies against the embedded SQLite store and MariaDB
//! (MYSQL_URL, or a private server started by tests/common/mariadb.rs; never skipped).
// Helpers outside #[test] fns unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;

use common::data::{self, batch, dns_flow, ip, tcp_flow, A, AAAA, CNAME, NS, T0};
use common::mariadb as mdb;
use mediator::dbconfig::{DbConfig, SqliteConfig};
use mediator::store::{
    Batch, CommitOutcome, FluxParams, RetryPolicy, Store, StoreError, SCHEMA_VERSION,
};

struct Fixture {
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let cfg = DbConfig::Sqlite(SqliteConfig {
        path: dir.path().join("pdns.sqlite3"),
    });
    let store = Store::open(&cfg).await.unwrap();
    store.init().await.unwrap();
    Fixture {
        store,
        _dir: Some(dir),
    }
}

async fn mariadb_fixture() -> Fixture {
    mariadb_fixture_with(mediator::store::DEFAULT_WRITE_BEHIND_KEYS).await
}

/// Aggregates upserted in every batch's own transaction (`--write-behind-keys 0`).
async fn mariadb_immediate_fixture() -> Fixture {
    mariadb_fixture_with(0).await
}

async fn mariadb_fixture_with(write_behind_keys: usize) -> Fixture {
    let cfg = DbConfig::Mysql(mdb::fresh_config("suite"));
    let mut store = Store::open(&cfg).await.unwrap();
    store.set_write_behind_keys(write_behind_keys);
    store.init().await.unwrap();
    Fixture { store, _dir: None }
}

/// `commit_batch` as the file loader uses it: the write-behind aggregates are applied before
/// anything reads them (a no-op for SQLite and immediate mode).
async fn commit(store: &Store, b: &Batch) -> Result<CommitOutcome, StoreError> {
    let r = store.commit_batch(b).await;
    store.flush_aggregates().await.unwrap();
    r
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let f = super::sqlite_fixture().await;
                    super::$name(&f.store).await;
                }
            )*
        }
        mod mariadb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let f = super::mariadb_fixture().await;
                    super::$name(&f.store).await;
                }
            )*
        }
        mod mariadb_immediate {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let f = super::mariadb_immediate_fixture().await;
                    super::$name(&f.store).await;
                }
            )*
        }
    };
}

suite!(
    init_is_idempotent,
    commit_counts_rows,
    ledger_dedups_batches,
    concurrent_same_batch_loads_once,
    parallel_batches_aggregate_exactly,
    aggregates_track_first_last_count_ttl,
    clients_and_resolvers,
    subdomains_are_exact,
    dns_ids_link_to_flows,
    seed_queries_run_unchanged,
    prune_keeps_aggregates,
    analyst_queries,
    empty_and_odd_batches,
    new_names_after_older_sightings,
);

/// Rows of a raw SQL query as strings (NULL as "NULL"), on either backend.
async fn raw_rows(store: &Store, sql: &str) -> Vec<Vec<String>> {
    match store {
        Store::Mysql(m) => {
            use mysql_async::prelude::Queryable;
            let mut c = m.pool().get_conn().await.unwrap();
            let rows: Vec<mysql_async::Row> = c.query(sql).await.unwrap();
            rows.into_iter()
                .map(|r| {
                    r.unwrap()
                        .into_iter()
                        .map(|v| match v {
                            mysql_async::Value::NULL => "NULL".to_string(),
                            mysql_async::Value::Bytes(b) => {
                                String::from_utf8_lossy(&b).into_owned()
                            }
                            other => other.as_sql(true),
                        })
                        .collect()
                })
                .collect()
        }
        Store::Sqlite(s) => {
            let sql = sql.to_string();
            s.with_conn(move |c| {
                let mut st = c.prepare(&sql).unwrap();
                let n = st.column_count();
                let rows = st
                    .query_map([], |r| {
                        Ok((0..n)
                            .map(|i| match r.get::<_, rusqlite::types::Value>(i).unwrap() {
                                rusqlite::types::Value::Null => "NULL".to_string(),
                                rusqlite::types::Value::Integer(i) => i.to_string(),
                                rusqlite::types::Value::Real(f) => f.to_string(),
                                rusqlite::types::Value::Text(t) => t,
                                rusqlite::types::Value::Blob(b) => format!("{b:?}"),
                            })
                            .collect::<Vec<String>>())
                    })
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap();
                Ok::<_, StoreError>(rows)
            })
            .await
            .unwrap()
        }
    }
}

async fn scalar(store: &Store, sql: &str) -> i64 {
    raw_rows(store, sql).await[0][0].parse().unwrap()
}

fn loaded(o: CommitOutcome) -> (u64, u64) {
    match o {
        CommitOutcome::Loaded { flows, dns_rows } => (flows, dns_rows),
        CommitOutcome::AlreadyLoaded => panic!("expected Loaded, got AlreadyLoaded"),
    }
}

fn google_flow(client: &str, t: i64) -> mediator::store::FlowRow {
    dns_flow(
        ip(client),
        ip("10.0.0.53"),
        t,
        "www.google.com.",
        &[
            (CNAME, 300, "www.google.com.", "www.l.google.com."),
            (A, 60, "www.l.google.com.", "142.250.1.1"),
            (A, 60, "www.l.google.com.", "142.250.1.2"),
        ],
    )
}

async fn init_is_idempotent(store: &Store) {
    assert_eq!(store.init().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(store.init().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let c = store.counts().await.unwrap();
    assert_eq!(c, Default::default());
    // Data survives a second init.
    commit(store, &batch("k", 0, vec![google_flow("10.1.0.1", T0)]))
        .await
        .unwrap();
    store.init().await.unwrap();
    assert_eq!(store.counts().await.unwrap().flows, 1);
    assert_eq!(
        scalar(store, "SELECT COUNT(*) FROM schema_version").await,
        i64::from(SCHEMA_VERSION),
        "one row per applied migration"
    );
}

async fn commit_counts_rows(store: &Store) {
    let b = batch(
        "file-1",
        0,
        vec![
            google_flow("10.1.0.1", T0),
            google_flow("10.1.0.2", T0 + 1000),
            tcp_flow(ip("10.1.0.1"), ip("93.184.216.34"), T0 + 2000),
        ],
    );
    assert_eq!(b.dns_row_count(), 8);
    let (flows, dns) = loaded(commit(store, &b).await.unwrap());
    assert_eq!((flows, dns), (3, 8));
    let c = store.counts().await.unwrap();
    assert_eq!((c.flows, c.dns, c.tcp, c.ledger), (3, 8, 1, 1));
    // The TCP row keeps YAF's flag letters and the 32-bit interface.
    let r = raw_rows(
        store,
        "SELECT initialTCPFlags, reverseInitialTCPFlags, unionTCPFlags, f.ingressInterface \
         FROM tcp t JOIN flows f ON f.id = t.id",
    )
    .await;
    assert_eq!(r, vec![vec!["S", "AS", "APSF", "3000000000"]]);
}

async fn ledger_dedups_batches(store: &Store) {
    let b = batch("file-2", 0, vec![google_flow("10.1.0.1", T0)]);
    loaded(commit(store, &b).await.unwrap());
    let before = store.counts().await.unwrap();
    let rr_before = store
        .name_values("www.l.google.com.", None, 10)
        .await
        .unwrap();
    assert_eq!(
        commit(store, &b).await.unwrap(),
        CommitOutcome::AlreadyLoaded
    );
    // Through the retry wrapper too.
    let again = store
        .commit_batch_with_retry(&b, &RetryPolicy::default())
        .await
        .unwrap();
    assert_eq!(again.outcome, CommitOutcome::AlreadyLoaded);
    assert_eq!(store.counts().await.unwrap(), before);
    assert_eq!(
        store
            .name_values("www.l.google.com.", None, 10)
            .await
            .unwrap(),
        rr_before
    );
    // Another chunk of the same source is a different batch.
    let b1 = batch("file-2", 1, vec![google_flow("10.1.0.1", T0)]);
    loaded(commit(store, &b1).await.unwrap());
    let after = store.counts().await.unwrap();
    assert_eq!((after.flows, after.ledger), (2, 2));
}

async fn concurrent_same_batch_loads_once(store: &Store) {
    let b = batch("file-3", 0, data::synthetic_flows(3, 500, 5, 100));
    let (s1, s2) = (store.clone(), store.clone());
    let (b1, b2) = (b.clone(), b.clone());
    let policy = RetryPolicy {
        max_retries: Some(20),
        ..Default::default()
    };
    let t1 = tokio::spawn(async move { s1.commit_batch_with_retry(&b1, &policy).await });
    let t2 = tokio::spawn(async move { s2.commit_batch_with_retry(&b2, &policy).await });
    let r1 = t1.await.unwrap().unwrap().outcome;
    let r2 = t2.await.unwrap().unwrap().outcome;
    let loads = [r1, r2]
        .iter()
        .filter(|o| matches!(o, CommitOutcome::Loaded { .. }))
        .count();
    assert_eq!(
        loads, 1,
        "exactly one of two concurrent commits loads: {r1:?} {r2:?}"
    );
    let c = store.counts().await.unwrap();
    assert_eq!((c.flows, c.dns, c.ledger), (500, 2500, 1));
}

/// What `--parallel-commits` does: different batches in their transactions at once, sharing
/// hot aggregate keys (20 domains). No update may be lost and no commit may fail for good
/// (lock waits and deadlocks are retried), so the aggregates must equal the sum of what each
/// batch contributes, and every flow id must be unique.
async fn parallel_batches_aggregate_exactly(store: &Store) {
    use futures_util::StreamExt;
    use std::collections::HashSet;
    let batches: Vec<_> = (0..12)
        .map(|i| batch("par", i, data::synthetic_flows(100 + i, 300, 5, 20)))
        .collect();
    let (mut rr_count, mut client_count) = (0u64, 0u64);
    let (mut rr_keys, mut client_keys) = (HashSet::new(), HashSet::new());
    for b in &batches {
        let p = mediator::store::prep::prepare(b).unwrap();
        for a in &p.rr {
            rr_count += a.count;
            rr_keys.insert(a.hash);
        }
        for a in &p.clients {
            client_count += a.count;
            client_keys.insert((a.name_hash, a.client.clone()));
        }
    }
    let policy = RetryPolicy {
        max_retries: Some(50),
        ..Default::default()
    };
    let outcomes: Vec<_> = futures_util::stream::iter(&batches)
        .map(|b| store.commit_batch_with_retry(b, &policy))
        .buffer_unordered(4)
        .collect()
        .await;
    for o in outcomes {
        assert!(matches!(o.unwrap().outcome, CommitOutcome::Loaded { .. }));
    }
    // Twelve batches' aggregates merged into one flush (write-behind), or applied by each.
    store.flush_aggregates().await.unwrap();
    let c = store.counts().await.unwrap();
    assert_eq!((c.flows, c.dns, c.ledger), (3600, 18000, 12));
    assert_eq!(c.pdns_rr as usize, rr_keys.len());
    assert_eq!(c.pdns_client as usize, client_keys.len());
    assert_eq!(
        scalar(store, "SELECT SUM(count) FROM pdns_rr").await as u64,
        rr_count
    );
    assert_eq!(
        scalar(store, "SELECT SUM(count) FROM pdns_client").await as u64,
        client_count
    );
    assert_eq!(
        scalar(store, "SELECT COUNT(DISTINCT id) FROM flows").await,
        3600
    );
    // Every dns row belongs to a flow of its own batch.
    assert_eq!(
        scalar(
            store,
            "SELECT COUNT(*) FROM dns d LEFT JOIN flows f ON f.id = d.id WHERE f.id IS NULL"
        )
        .await,
        0
    );
}

async fn aggregates_track_first_last_count_ttl(store: &Store) {
    let c1 = ip("10.1.0.1");
    let r = ip("10.0.0.53");
    let f = |t: i64, ttl: u32| {
        dns_flow(
            c1,
            r,
            t,
            "WWW.Example.COM.",
            &[(A, ttl, "WWW.Example.COM.", "192.0.2.7")],
        )
    };
    commit(store, &batch("agg", 0, vec![f(T0 + 5_000, 300)]))
        .await
        .unwrap();
    commit(
        store,
        &batch("agg", 1, vec![f(T0, 60), f(T0 + 90_000, 120)]),
    )
    .await
    .unwrap();
    let v = store
        .name_values("www.example.com", Some(A), 10)
        .await
        .unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    let rec = &v[0];
    assert_eq!(rec.rrname, "www.example.com.");
    assert_eq!(rec.rrval, "192.0.2.7");
    assert_eq!(rec.first_seen, T0);
    assert_eq!(rec.last_seen, T0 + 90_000 + 20);
    assert_eq!(rec.count, 3);
    assert_eq!((rec.ttl_min, rec.ttl_max), (60, 300));
    // By value: which names pointed at this address.
    let by = store.by_value("192.0.2.7", 10).await.unwrap();
    assert_eq!(by, v);
    let s = store
        .name_summary("www.example.com.")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (s.answers, s.distinct_values, s.clients, s.lookups),
        (3, 1, 1, 3)
    );
    assert_eq!((s.first_seen, s.last_seen), (T0, T0 + 90_020));
    assert!(store
        .name_summary("never.example.")
        .await
        .unwrap()
        .is_none());
}

async fn clients_and_resolvers(store: &Store) {
    let flows = vec![
        google_flow("10.1.0.1", T0),
        google_flow("10.1.0.1", T0 + 60_000),
        google_flow("10.1.0.2", T0 + 30_000),
        // A response-only uniflow seen from the resolver side: the client is the destination.
        {
            let mut f = google_flow("10.1.0.3", T0 + 40_000);
            std::mem::swap(&mut f.src, &mut f.dst);
            std::mem::swap(&mut f.src_port, &mut f.dst_port);
            f
        },
        // IPv6 client, resolver not approved.
        dns_flow(
            ip("2001:db8::10"),
            ip("2001:4860:4860::8888"),
            T0 + 50_000,
            "ipv6.google.com.",
            &[(AAAA, 300, "ipv6.google.com.", "2a00:1450::1")],
        ),
        // DoT to an outside resolver: no DNS rows, still resolver use.
        {
            let mut f = tcp_flow(ip("10.1.0.9"), ip("1.1.1.1"), T0 + 70_000);
            f.dst_port = 853;
            f
        },
    ];
    commit(store, &batch("who", 0, flows)).await.unwrap();
    let who = store.who_resolved("www.google.com", 0, 10).await.unwrap();
    let mut got: Vec<(IpAddr, u64)> = who.iter().map(|c| (c.client, c.count)).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (ip("10.1.0.1"), 2),
            (ip("10.1.0.2"), 1),
            (ip("10.1.0.3"), 1)
        ]
    );
    let c1 = who.iter().find(|c| c.client == ip("10.1.0.1")).unwrap();
    assert_eq!((c1.first_seen, c1.last_seen), (T0, T0 + 60_020));
    // The CNAME target was resolved by the same clients.
    assert_eq!(
        store
            .who_resolved("www.l.google.com.", 0, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    // Time filter.
    let recent = store
        .who_resolved("www.google.com.", T0 + 35_000, 10)
        .await
        .unwrap();
    let mut recent: Vec<IpAddr> = recent.iter().map(|c| c.client).collect();
    recent.sort();
    assert_eq!(recent, vec![ip("10.1.0.1"), ip("10.1.0.3")]);
    let v6 = store.who_resolved("ipv6.google.com.", 0, 10).await.unwrap();
    assert_eq!(v6.len(), 1);
    assert_eq!(v6[0].client, ip("2001:db8::10"));

    let bad = store
        .unapproved_resolvers(&[ip("10.0.0.53")], 0, 10)
        .await
        .unwrap();
    let mut pairs: Vec<(IpAddr, IpAddr, u16)> =
        bad.iter().map(|u| (u.client, u.resolver, u.port)).collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            (ip("10.1.0.9"), ip("1.1.1.1"), 853),
            (ip("2001:db8::10"), ip("2001:4860:4860::8888"), 53),
        ]
    );
    let all = store.unapproved_resolvers(&[], 0, 10).await.unwrap();
    let c1r = all
        .iter()
        .find(|u| u.client == ip("10.1.0.1") && u.resolver == ip("10.0.0.53"))
        .unwrap();
    assert_eq!(c1r.count, 2);
    assert_eq!(all.len(), 5);
}

async fn subdomains_are_exact(store: &Store) {
    let c = ip("10.1.0.1");
    let r = ip("10.0.0.53");
    let names = [
        "example.com.",
        "a.example.com.",
        "b.c.example.com.",
        "A.Example.Com.",
        "notexample.com.",
        "example.com.evil.net.",
        "example.community.",
        "www.example.org.",
    ];
    let flows = names
        .iter()
        .enumerate()
        .map(|(i, n)| dns_flow(c, r, T0 + i as i64, n, &[(A, 60, n, "192.0.2.1")]))
        .collect();
    commit(store, &batch("sub", 0, flows)).await.unwrap();
    let subs: Vec<String> = store
        .subdomains("example.com", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.rrname)
        .collect();
    assert_eq!(subs, vec!["a.example.com.", "b.c.example.com."]);
    let a = store.subdomains("example.com.", 100).await.unwrap();
    assert_eq!(a[0].count, 2, "a.example.com. seen twice (case folded)");
    assert!(store
        .subdomains("nothing.test", 10)
        .await
        .unwrap()
        .is_empty());
    // The raw rows of those names: the aggregate's reversed-name range gives the names, the
    // raw table's rrname index the rows (how the README tells analysts to do it).
    let names: Vec<String> = raw_rows(
        store,
        "SELECT DISTINCT rrname FROM pdns_rr WHERE rrname_rev > 'com.example.' \
         AND rrname_rev < 'com.example/' ORDER BY rrname",
    )
    .await
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    assert_eq!(names, vec!["a.example.com.", "b.c.example.com."]);
    let list = names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(",");
    let raw = raw_rows(
        store,
        &format!("SELECT COUNT(*) FROM dns WHERE rrname IN ({list})"),
    )
    .await;
    // a.example.com x2 (query + answer each, two flows, one upper-cased: the raw column
    // compares case-insensitively) + b.c.example.com (query + answer).
    assert_eq!(raw[0][0], "6");
}

async fn dns_ids_link_to_flows(store: &Store) {
    for chunk in 0..3 {
        let b = batch("ids", chunk, data::synthetic_flows(chunk, 200, 5, 50));
        commit(store, &b).await.unwrap();
    }
    assert_eq!(
        scalar(
            store,
            "SELECT COUNT(*) FROM dns d LEFT JOIN flows f ON f.id = d.id WHERE f.id IS NULL"
        )
        .await,
        0
    );
    // Every flow has exactly its own 5 rows, and the query row is seq 0.
    assert_eq!(
        scalar(
            store,
            "SELECT COUNT(*) FROM (SELECT id FROM dns GROUP BY id HAVING COUNT(*) <> 5) x"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(store, "SELECT COUNT(DISTINCT id) FROM dns").await,
        600
    );
    assert_eq!(
        scalar(store, "SELECT COUNT(*) FROM dns WHERE seq = 0 AND qr = 0").await,
        600
    );
}

async fn seed_queries_run_unchanged(store: &Store) {
    let yt = |client: &str, t: i64, host: &str, val: &str| {
        dns_flow(ip(client), ip("10.0.0.53"), t, host, &[(A, 300, host, val)])
    };
    let flows = vec![
        google_flow("10.1.0.1", T0),
        google_flow("10.1.0.2", T0 + 1000),
        yt("10.1.0.3", T0 + 2000, "www.youtube.com.", "208.65.153.238"),
        yt("10.1.0.3", T0 + 3000, "m.youtube.com.", "208.65.153.239"),
        yt("10.1.0.4", T0 + 4000, "youtube.com.", "208.65.153.240"),
    ];
    commit(store, &batch("seed", 0, flows)).await.unwrap();
    // Verbatim from yaf_silk_mysql_mediator's documentation.
    let q1 = r#"SELECT rrname,rrval,srcip4,dstip4,flowStartMilliseconds FROM dns d, flows f WHERE f.id = d.id AND rrname LIKE "www.google.com." GROUP by rrval ORDER BY f.id DESC LIMIT 50;"#;
    let mut r1 = raw_rows(store, q1).await;
    r1.sort();
    // Rows named www.google.com.: the query rows (empty rrval) and the CNAME answer, grouped
    // by value.
    assert_eq!(r1.len(), 2, "{r1:?}");
    assert_eq!(r1[0][0], "www.google.com.");
    assert_eq!(r1[0][1], "");
    assert_eq!(r1[1][1], "www.l.google.com.");
    let src: u32 = "10.1.0.1".parse::<std::net::Ipv4Addr>().unwrap().into();
    let src2: u32 = "10.1.0.2".parse::<std::net::Ipv4Addr>().unwrap().into();
    assert!(r1[1][2] == src.to_string() || r1[1][2] == src2.to_string());
    let dst: u32 = "10.0.0.53".parse::<std::net::Ipv4Addr>().unwrap().into();
    assert_eq!(r1[1][3], dst.to_string());
    assert!(r1[1][4].starts_with("2024-01-01 00:00:0"), "{}", r1[1][4]);

    let q2 = r#"SELECT qr,type,auth,nx,ttl,rrname,rrval from dns WHERE rrname LIKE "%.youtube.com." GROUP BY rrval LIMIT 50;"#;
    let mut r2 = raw_rows(store, q2).await;
    r2.sort_by(|a, b| a[6].cmp(&b[6]));
    let vals: Vec<&str> = r2.iter().map(|r| r[6].as_str()).collect();
    assert_eq!(vals, vec!["", "208.65.153.238", "208.65.153.239"]);
    assert_eq!(r2[1][..6], ["1", "1", "0", "0", "300", "www.youtube.com."]);
}

async fn prune_keeps_aggregates(store: &Store) {
    let day = 86_400_000;
    let old: Vec<_> = (0..30).map(|i| google_flow("10.1.0.1", T0 + i)).collect();
    let new: Vec<_> = (0..10)
        .map(|i| google_flow("10.1.0.2", T0 + 10 * day + i))
        .collect();
    commit(store, &batch("p", 0, old)).await.unwrap();
    commit(store, &batch("p", 1, new)).await.unwrap();
    let before = store.counts().await.unwrap();
    let rr_before = store
        .name_values("www.l.google.com.", None, 10)
        .await
        .unwrap();
    let who_before = store.who_resolved("www.google.com.", 0, 10).await.unwrap();
    let rep = store.prune(T0 + 5 * day).await.unwrap();
    assert_eq!((rep.flows, rep.dns_rows), (30, 120));
    let after = store.counts().await.unwrap();
    assert_eq!((after.flows, after.dns), (10, 40));
    assert_eq!(
        (
            after.pdns_rr,
            after.pdns_client,
            after.pdns_resolver,
            after.ledger
        ),
        (
            before.pdns_rr,
            before.pdns_client,
            before.pdns_resolver,
            before.ledger
        )
    );
    assert_eq!(
        store
            .name_values("www.l.google.com.", None, 10)
            .await
            .unwrap(),
        rr_before
    );
    assert_eq!(
        store.who_resolved("www.google.com.", 0, 10).await.unwrap(),
        who_before
    );
    // Nothing left to prune; pruned batches stay in the ledger.
    assert_eq!(store.prune(T0 + 5 * day).await.unwrap().flows, 0);
    assert_eq!(
        commit(store, &batch("p", 0, vec![])).await.unwrap(),
        CommitOutcome::AlreadyLoaded
    );
}

async fn analyst_queries(store: &Store) {
    let r = ip("10.0.0.53");
    let mut flows = Vec::new();
    // Flux: 12 addresses in 4 /16s, TTL 60, one client.
    for i in 0..12u32 {
        let val = format!("{}.{}.0.{}", 100 + i % 4, i % 4, i);
        flows.push(dns_flow(
            ip("10.1.0.66"),
            r,
            T0 + i64::from(i) * 1000,
            "flux.bad.xyz.",
            &[(A, 60, "flux.bad.xyz.", &val)],
        ));
    }
    // Many values but long TTL: not flux.
    for i in 0..12u32 {
        let val = format!("198.51.100.{i}");
        flows.push(dns_flow(
            ip(&format!("10.1.1.{i}")),
            r,
            T0 + i64::from(i) * 1000,
            "pool.ntp.org.",
            &[(A, 3600, "pool.ntp.org.", &val)],
        ));
    }
    // Rare TLD, seen once; NS record of a common one.
    flows.push(dns_flow(
        ip("10.1.0.5"),
        r,
        T0 + 99_000,
        "x.example.zz.",
        &[(A, 60, "x.example.zz.", "192.0.2.99")],
    ));
    flows.push(dns_flow(
        ip("10.1.0.5"),
        r,
        T0 + 99_000,
        "org.",
        &[(NS, 86400, "org.", "a0.org.afilias-nst.info.")],
    ));
    commit(store, &batch("q", 0, flows)).await.unwrap();

    let flux = store
        .fast_flux(&FluxParams {
            since_ms: 0,
            min_values: 10,
            max_ttl: 300,
            max_clients: 3,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(flux.len(), 1, "{flux:?}");
    let f = &flux[0];
    assert_eq!(f.rrname, "flux.bad.xyz.");
    assert_eq!((f.values, f.prefixes, f.clients, f.ttl_min), (12, 4, 1, 60));
    assert!((f.score - 12.0).abs() < 1e-9);
    // A window after everything: nothing.
    let none = store
        .fast_flux(&FluxParams {
            since_ms: T0 + 86_400_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());

    let tlds = store.rare_tlds(0, 10).await.unwrap();
    let names: Vec<(&str, u64)> = tlds.iter().map(|t| (t.tld.as_str(), t.names)).collect();
    assert_eq!(names, vec![("zz", 1), ("xyz", 1), ("org", 2)], "{tlds:?}");
    assert_eq!(tlds[0].count, 1);

    let newest = store.new_names(T0 + 50_000, 10).await.unwrap();
    let nn: Vec<&str> = newest.iter().map(|n| n.rrname.as_str()).collect();
    assert_eq!(nn, vec!["org.", "x.example.zz."]);
    assert!(store.new_names(T0 + 200_000, 10).await.unwrap().is_empty());
    assert_eq!(
        store
            .name_values("pool.ntp.org", Some(A), 5)
            .await
            .unwrap()
            .len(),
        5
    );
}

async fn empty_and_odd_batches(store: &Store) {
    // An empty batch is still recorded, so its source counts as done.
    let e = batch("empty", 0, vec![]);
    assert_eq!(loaded(commit(store, &e).await.unwrap()), (0, 0));
    assert_eq!(
        commit(store, &e).await.unwrap(),
        CommitOutcome::AlreadyLoaded
    );
    // Garbage from an exporter: absurd times, huge values, long names; stored, not fatal.
    let long = format!("{}.example.", "a".repeat(2000));
    let mut f = dns_flow(
        ip("10.1.0.1"),
        ip("10.0.0.53"),
        i64::MAX,
        &long,
        &[(A, u32::MAX, &long, "192.0.2.1")],
    );
    f.end_ms = i64::MIN;
    f.octets = u64::MAX;
    let (flows, dns) = loaded(commit(store, &batch("odd", 0, vec![f])).await.unwrap());
    assert_eq!((flows, dns), (1, 2));
    assert_eq!(
        scalar(
            store,
            "SELECT COUNT(*) FROM flows WHERE flowStartMilliseconds IS NULL"
        )
        .await,
        1
    );
    // An empty key is refused as invalid, permanently.
    let err = commit(store, &batch("", 0, vec![])).await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
}

/// "First seen since T" goes through first_seen_insert (first_seen when the row was inserted,
/// never updated): a name first loaded recently whose older sightings arrive later (a replayed
/// or late file) is no longer new, and a name only ever seen recently still is.
async fn new_names_after_older_sightings(store: &Store) {
    let recent = T0 + 3_600_000;
    let flow = |name: &str, t: i64| {
        dns_flow(
            ip("10.1.0.9"),
            ip("10.0.0.53"),
            t,
            name,
            &[(A, 60, name, "192.0.2.9")],
        )
    };
    commit(
        store,
        &batch(
            "late",
            0,
            vec![
                flow("late.example.", recent),
                flow("fresh.example.", recent),
            ],
        ),
    )
    .await
    .unwrap();
    let names = |v: Vec<mediator::store::NameSeen>| -> Vec<String> {
        v.into_iter().map(|n| n.rrname).collect()
    };
    assert_eq!(
        names(store.new_names(recent, 10).await.unwrap()),
        vec!["fresh.example.", "late.example."]
    );
    // The older file arrives: late.example. was first seen an hour earlier.
    commit(store, &batch("late", 1, vec![flow("late.example.", T0)]))
        .await
        .unwrap();
    assert_eq!(
        names(store.new_names(recent, 10).await.unwrap()),
        vec!["fresh.example."]
    );
    assert_eq!(
        names(store.new_names(T0, 10).await.unwrap()),
        vec!["fresh.example.", "late.example."]
    );
}
