//! Schema upgrades in place: a version 1 database (built from templates/sql/*/001_initial.sql
//! with rows in v1's layout) is upgraded by `Store::init` to the current version, keeping its
//! data, on both backends; an upgrade interrupted half-way (MySQL DDL is not transactional) is
//! completed by the next init; init stays idempotent afterwards.
#![allow(clippy::unwrap_used)]

mod common;

use common::data::{batch, dns_flow, ip, A, CNAME, T0};
use common::mariadb as mdb;
use mediator::dbconfig::{DbConfig, MysqlConfig, SqliteConfig};
use mediator::store::{ddl_statements, prep, Store, SCHEMA_VERSION};
use mysql_async::prelude::Queryable;

const MYSQL_V1: &str = include_str!("../../../templates/sql/mysql/001_initial.sql");
const MYSQL_V2: &str = include_str!("../../../templates/sql/mysql/002_lean_load.sql");
const SQLITE_V1: &str = include_str!("../../../templates/sql/sqlite/001_initial.sql");

/// v1 rows as v1 wrote them: a flow with a query and two answers, their aggregates, a
/// pdns_client row under v1's (tagged) name hash, a ledger row.
const V1_ROWS: &[&str] = &[
    "INSERT INTO flows (id, srcip4, dstip4, srcport, dstport, protocol, flowStartMilliseconds, \
     flowEndMilliseconds, sensor) VALUES (1, 167837953, 167772213, 40000, 53, 17, \
     '2024-01-01 00:00:00.000', '2024-01-01 00:00:00.020', 'old')",
    "INSERT INTO dns (id, seq, qr, type, section, ttl, rrname, rrval, rrname_rev) VALUES \
     (1, 0, 0, 5, 0, 0, 'www.old.test.', '', 'test.old.www.'), \
     (1, 1, 1, 5, 1, 300, 'www.old.test.', 'edge.old.test.', 'test.old.www.'), \
     (1, 2, 1, 1, 1, 60, 'edge.old.test.', '192.0.2.7', 'test.old.edge.')",
    "INSERT INTO ingest_ledger (key_hash, chunk, source_key, label, flows, dns_rows, loaded_at) \
     VALUES (X'00112233445566778899aabbccddeeff', 0, 'v1-file', 'v1', 1, 3, '2024-01-01 00:00:01')",
    "UPDATE id_alloc SET next_id = 2 WHERE name = 'flows'",
];

/// The aggregate rows v1 wrote for V1_ROWS, with its hashes (the rr hash is unchanged in v2,
/// so it is computed here; v1's name hash was a tagged encoding, any 16 other bytes stand in).
fn v1_aggregates() -> Vec<String> {
    let h1 = hex(&prep::rr_hash("www.old.test.", CNAME, "edge.old.test."));
    let h2 = hex(&prep::rr_hash("edge.old.test.", A, "192.0.2.7"));
    vec![
        format!(
            "INSERT INTO pdns_rr (rr_hash, rrname, rrname_rev, rrtype, rrval, first_seen, last_seen, \
             count, ttl_min, ttl_max) VALUES \
             (X'{h1}', 'www.old.test.', 'test.old.www.', 5, 'edge.old.test.', '2024-01-01 00:00:00.000', \
              '2024-01-01 00:00:00.020', 1, 300, 300), \
             (X'{h2}', 'edge.old.test.', 'test.old.edge.', 1, '192.0.2.7', '2024-01-01 00:00:00.000', \
              '2024-01-01 00:00:00.020', 1, 60, 60)"
        ),
        "INSERT INTO pdns_client (name_hash, client, rrname, rrname_rev, first_seen, last_seen, count) \
         VALUES (X'ffeeddccbbaa99887766554433221100', X'0a010001', 'www.old.test.', 'test.old.www.', \
         '2024-01-01 00:00:00.000', '2024-01-01 00:00:00.020', 1), \
         (X'0f0e0d0c0b0a09080706050403020100', X'0a010001', 'edge.old.test.', 'test.old.edge.', \
         '2024-01-01 00:00:00.000', '2024-01-01 00:00:00.020', 1)"
            .to_string(),
        "INSERT INTO pdns_resolver (client, resolver, port, first_seen, last_seen, count) VALUES \
         (X'0a010001', X'0a000035', 53, '2024-01-01 00:00:00.000', '2024-01-01 00:00:00.020', 1)"
            .to_string(),
    ]
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What every upgraded database must show: old rows kept and served by v2's code paths, new
/// loads merging into the old aggregate rows instead of duplicating them.
async fn check_upgraded(store: &Store) {
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let c = store.counts().await.unwrap();
    assert_eq!((c.flows, c.dns, c.pdns_rr, c.pdns_client), (1, 3, 2, 2));
    // The old client row is found through the new name hash.
    let who = store.who_resolved("www.old.test.", 0, 10).await.unwrap();
    assert_eq!(who.len(), 1, "v1 pdns_client row found by v2's name hash");
    assert_eq!(who[0].client, ip("10.1.0.1"));
    let vals = store.name_values("edge.old.test.", None, 10).await.unwrap();
    assert_eq!(vals.len(), 1);
    assert_eq!(vals[0].rrval, "192.0.2.7");
    // The same v1 source is still in the ledger.
    // A new load touching the old keys updates them.
    let f = dns_flow(
        ip("10.1.0.1"),
        ip("10.0.0.53"),
        T0 + 86_400_000,
        "www.old.test.",
        &[
            (CNAME, 120, "www.old.test.", "edge.old.test."),
            (A, 30, "edge.old.test.", "192.0.2.7"),
        ],
    );
    store
        .commit_batch(&batch("v2-file", 0, vec![f]))
        .await
        .unwrap();
    store.flush_aggregates().await.unwrap();
    let c = store.counts().await.unwrap();
    assert_eq!((c.flows, c.dns, c.pdns_rr, c.pdns_client), (2, 6, 2, 2));
    let vals = store.name_values("edge.old.test.", None, 10).await.unwrap();
    assert_eq!(vals[0].count, 2);
    assert_eq!(vals[0].ttl_min, 30);
    let who = store.who_resolved("www.old.test.", 0, 10).await.unwrap();
    assert_eq!(who[0].count, 2);
    // Flow ids continue after the old ones.
    let s = store.name_summary("www.old.test.").await.unwrap().unwrap();
    assert_eq!(s.lookups, 2);
}

async fn mysql_v1(prefix: &str) -> (MysqlConfig, mysql_async::Conn) {
    let cfg = mdb::fresh_config(prefix);
    let base = mdb::server_url();
    let mut c = mysql_async::Conn::from_url(base.as_str()).await.unwrap();
    c.query_drop(format!("CREATE DATABASE `{}`", cfg.database))
        .await
        .unwrap();
    c.query_drop(format!("USE `{}`", cfg.database))
        .await
        .unwrap();
    c.query_drop(
        "CREATE TABLE schema_version (version INT UNSIGNED NOT NULL PRIMARY KEY, \
         applied_at DATETIME(3) NOT NULL) ENGINE=InnoDB",
    )
    .await
    .unwrap();
    for s in ddl_statements(MYSQL_V1) {
        c.query_drop(s).await.unwrap();
    }
    c.query_drop("INSERT INTO schema_version VALUES (1, UTC_TIMESTAMP(3))")
        .await
        .unwrap();
    for s in V1_ROWS {
        c.query_drop(*s).await.unwrap();
    }
    for s in v1_aggregates() {
        c.query_drop(s).await.unwrap();
    }
    (cfg, c)
}

async fn mysql_columns(c: &mut mysql_async::Conn, table: &str) -> Vec<String> {
    c.exec(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        (table,),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_v1_upgrades_in_place() {
    let (cfg, mut c) = mysql_v1("mig").await;
    let store = Store::open(&DbConfig::Mysql(cfg)).await.unwrap();
    assert_eq!(store.init().await.unwrap(), SCHEMA_VERSION);
    let dns_cols = mysql_columns(&mut c, "dns").await;
    assert!(!dns_cols.contains(&"rrname_rev".to_string()));
    assert!(dns_cols.contains(&"rrname".to_string()));
    let idx: Vec<String> = c
        .query(
            "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'dns' ORDER BY INDEX_NAME",
        )
        .await
        .unwrap();
    assert_eq!(idx, vec!["dns_rrname", "PRIMARY"]);
    let rr_cols = mysql_columns(&mut c, "pdns_rr").await;
    assert!(!rr_cols.contains(&"id".to_string()));
    let pk: Vec<String> = c
        .query(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME = 'pdns_client' AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
        )
        .await
        .unwrap();
    assert_eq!(pk, vec!["name_hash", "client"]);
    check_upgraded(&store).await;
    // Idempotent afterwards.
    assert_eq!(store.init().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(store.counts().await.unwrap().flows, 2);
    // The SQL form of the name hash that the README gives analysts is the one v2 stores.
    let n: Option<u64> = c
        .query_first(
            "SELECT COUNT(*) FROM pdns_client \
             WHERE name_hash = UNHEX(LEFT(SHA2('www.old.test.', 256), 32))",
        )
        .await
        .unwrap();
    assert_eq!(n, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_interrupted_upgrade_completes() {
    let (cfg, mut c) = mysql_v1("migcut").await;
    // A run killed after the first three statements of 002 (each DDL commits on its own).
    for s in ddl_statements(MYSQL_V2).into_iter().take(3) {
        c.query_drop(s).await.unwrap();
    }
    let store = Store::open(&DbConfig::Mysql(cfg.clone())).await.unwrap();
    assert_eq!(store.init().await.unwrap(), SCHEMA_VERSION);
    check_upgraded(&store).await;
    // And one killed after all statements but before recording the version.
    let (cfg2, mut c2) = mysql_v1("migcut2").await;
    for s in ddl_statements(MYSQL_V2) {
        c2.query_drop(s).await.unwrap();
    }
    let store2 = Store::open(&DbConfig::Mysql(cfg2)).await.unwrap();
    assert_eq!(store2.init().await.unwrap(), SCHEMA_VERSION);
    check_upgraded(&store2).await;
    let _ = c.disconnect().await;
    let _ = c2.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_v1_upgrades_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.sqlite3");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, \
             applied_at TEXT NOT NULL)",
        )
        .unwrap();
        c.execute_batch(SQLITE_V1).unwrap();
        c.execute(
            "INSERT INTO schema_version VALUES (1, '2024-01-01 00:00:00.000')",
            [],
        )
        .unwrap();
        for s in V1_ROWS {
            c.execute(s, []).unwrap();
        }
        for s in v1_aggregates() {
            c.execute(&s, []).unwrap();
        }
    }
    let store = Store::open(&DbConfig::Sqlite(SqliteConfig { path: path.clone() }))
        .await
        .unwrap();
    assert_eq!(store.init().await.unwrap(), SCHEMA_VERSION);
    check_upgraded(&store).await;
    assert_eq!(store.init().await.unwrap(), SCHEMA_VERSION);
    drop(store);
    let c = rusqlite::Connection::open(&path).unwrap();
    let cols: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_info('dns')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!cols.contains(&"rrname_rev".to_string()));
    let idx: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'dns' \
             AND name IN ('dns_rrname_rev', 'dns_rrval')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(idx, 0);
}
