//! MariaDB: raw rows loaded with LOAD DATA LOCAL INFILE from memory must read back exactly as
//! the bound-parameter path stores them, for hostile text too (tabs, newlines, backslashes,
//! NUL, `\N`, "NULL", non-ASCII, over-long), and a server that refuses LOAD DATA LOCAL must
//! still get every row through bound parameters.
// Helpers outside #[test] fns unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::data::{batch, dns_flow, ip, tcp_flow, A, CNAME, T0};
use common::mariadb::{self as mdb, PrivateServer};
use mediator::dbconfig::{DbConfig, MysqlConfig};
use mediator::store::{Batch, CommitOutcome, FlowRow, RetryPolicy, Store};
use mysql_async::prelude::Queryable;
use mysql_async::Value;

/// Strings a DNS packet or an exporter can put into a name, value or sensor after decoding.
const HOSTILE: &[&str] = &[
    "tab\there.example.",
    "new\nline.example.",
    "cr\rlf\r\n.example.",
    "back\\slash\\.example.",
    "\\",
    "ends with backslash\\",
    "\\N",
    "\\0",
    "NULL",
    "",
    "nul\0byte",
    "ctrl-z\u{1a}.",
    "quote'double\"`tick",
    "\t\n\\\t",
    "h\u{e9}llo.\u{4e2d}\u{6587}.\u{1f600}.",
    "\u{feff}bom",
];

fn hostile_batch(key: &str) -> Batch {
    let mut flows: Vec<FlowRow> = Vec::new();
    for (i, s) in HOSTILE.iter().enumerate() {
        let mut f = dns_flow(
            ip("10.9.0.1"),
            ip("10.0.0.53"),
            T0 + i as i64,
            s,
            &[(CNAME, 60, s, s), (A, 60, "x.example.", s)],
        );
        f.sensor = s.to_string();
        flows.push(f);
    }
    // Longer than the columns: cut to 1024 characters on both paths.
    let long = "\u{e9}\\\t".repeat(700);
    let mut f = dns_flow(
        ip("2001:db8::1"),
        ip("2001:db8::53"),
        T0,
        &long,
        &[(A, 1, &long, &long)],
    );
    f.sensor = long.clone();
    f.ingress_interface = Some(u32::MAX);
    f.start_ms = -5; // out of range: NULL on both paths
    flows.push(f);
    let mut t = tcp_flow(ip("10.9.0.2"), ip("192.0.2.80"), T0);
    t.sensor = "tcp\tsensor".into();
    flows.push(t);
    batch(key, 0, flows)
}

async fn open(cfg: MysqlConfig) -> Store {
    let store = Store::open(&DbConfig::Mysql(cfg)).await.unwrap();
    store.init().await.unwrap();
    store
}

async fn dump(store: &Store, sql: &str) -> Vec<Vec<Value>> {
    let Store::Mysql(m) = store else {
        unreachable!("MariaDB store")
    };
    let mut c = m.pool().get_conn().await.unwrap();
    let rows: Vec<mysql_async::Row> = c.query(sql).await.unwrap();
    rows.into_iter().map(|r| r.unwrap()).collect()
}

const DUMPS: &[&str] = &[
    "SELECT * FROM flows ORDER BY id",
    "SELECT * FROM dns ORDER BY id, seq",
    "SELECT * FROM tcp ORDER BY id",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_data_stores_exactly_what_bound_parameters_store() {
    let b = hostile_batch("hostile");
    let via_load = open(mdb::fresh_config("ld_load")).await;
    let via_exec = open(mdb::fresh_config("ld_exec")).await;
    let Store::Mysql(m) = &via_exec else {
        unreachable!()
    };
    m.disable_load_data();
    let Store::Mysql(m) = &via_load else {
        unreachable!()
    };
    assert!(m.uses_load_data());
    for s in [&via_load, &via_exec] {
        assert!(matches!(
            s.commit_batch(&b).await.unwrap(),
            CommitOutcome::Loaded { .. }
        ));
    }
    // Still on LOAD DATA: every statement came back with all its rows and no warning.
    assert!(m.uses_load_data());
    for sql in DUMPS {
        let (l, e) = (dump(&via_load, sql).await, dump(&via_exec, sql).await);
        assert!(!l.is_empty(), "{sql}");
        assert_eq!(l, e, "{sql}");
    }

    // And both equal the input, byte for byte.
    let names = dump(&via_load, "SELECT rrname, rrval FROM dns ORDER BY id, seq").await;
    let expected: Vec<(String, String)> = b
        .flows
        .iter()
        .flat_map(|f| f.dns.iter())
        .map(|d| {
            let cut = |s: &str| s.chars().take(1024).collect::<String>();
            (cut(&d.rrname), cut(&d.rrval))
        })
        .collect();
    let got: Vec<(String, String)> = names
        .into_iter()
        .map(|r| {
            let s = |v: &Value| match v {
                Value::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
                other => panic!("NULL or non-text {other:?}"),
            };
            (s(&r[0]), s(&r[1]))
        })
        .collect();
    assert_eq!(got, expected);
    let sensors = dump(
        &via_load,
        "SELECT sensor, srcip6 IS NULL FROM flows ORDER BY id",
    )
    .await;
    for (row, f) in sensors.iter().zip(&b.flows) {
        let want: String = f.sensor.chars().take(255).collect();
        assert_eq!(row[0], Value::Bytes(want.into_bytes()));
        let v4: &[u8] = if f.src.is_ipv4() { b"1" } else { b"0" };
        assert_eq!(row[1], Value::Bytes(v4.to_vec()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_refusing_load_data_gets_bound_parameters() {
    let server = tokio::task::spawn_blocking(PrivateServer::start)
        .await
        .unwrap()
        .unwrap();
    let url = server.url();
    let mut admin = mysql_async::Conn::from_url(url.as_str()).await.unwrap();
    admin
        .query_drop("SET GLOBAL local_infile = 0")
        .await
        .unwrap();
    let store = open(mdb::config_for_url(&url, "no_infile")).await;
    let b = hostile_batch("refused");
    let policy = RetryPolicy {
        max_retries: Some(3),
        ..RetryPolicy::default()
    };
    let done = store.commit_batch_with_retry(&b, &policy).await.unwrap();
    assert_eq!(done.retries, 0, "refusal falls back inside the transaction");
    let Store::Mysql(m) = &store else {
        unreachable!()
    };
    assert!(!m.uses_load_data());
    let c = store.counts().await.unwrap();
    let dns = b.dns_row_count() as u64;
    assert_eq!((c.flows, c.dns, c.tcp), (b.flows.len() as u64, dns, 1));
    // The next batch goes straight to bound parameters.
    let mut b2 = hostile_batch("refused");
    b2.chunk = 1;
    store.commit_batch(&b2).await.unwrap();
    assert_eq!(store.counts().await.unwrap().dns, 2 * dns);
    drop(admin);
    drop(store);
    let mut server = server;
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_data_never_truncates_silently() {
    // LOCAL implies IGNORE: a value that does not fit is cut with a warning instead of an
    // error. The loader must notice, store nothing, and let bound parameters fail loudly.
    let store = open(mdb::fresh_config("ld_narrow")).await;
    let Store::Mysql(m) = &store else {
        unreachable!()
    };
    {
        let mut c = m.pool().get_conn().await.unwrap();
        c.query_drop("ALTER TABLE dns MODIFY rrval VARCHAR(4)")
            .await
            .unwrap();
    }
    let b = batch(
        "narrow",
        0,
        vec![dns_flow(
            ip("10.9.0.1"),
            ip("10.0.0.53"),
            T0,
            "a.example.",
            &[(A, 60, "a.example.", "192.0.2.1")],
        )],
    );
    let first = store.commit_batch(&b).await.unwrap_err();
    assert!(first.is_transient(), "{first}");
    assert!(!m.uses_load_data());
    let c = store.counts().await.unwrap();
    assert_eq!((c.flows, c.dns, c.ledger), (0, 0, 0), "rolled back");
    // Under strict mode (the server default) bound parameters refuse the value outright.
    let strict: Option<i64> = {
        let mut c = m.pool().get_conn().await.unwrap();
        c.query_first("SELECT @@sql_mode LIKE '%STRICT_TRANS_TABLES%'")
            .await
            .unwrap()
    };
    if strict == Some(1) {
        let again = store.commit_batch(&b).await.unwrap_err();
        assert!(!again.is_transient(), "{again}");
        assert_eq!(store.counts().await.unwrap().dns, 0);
    }
}
