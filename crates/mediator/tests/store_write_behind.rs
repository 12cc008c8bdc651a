//! Write-behind aggregates (store/pending.rs) on a real MariaDB (MYSQL_URL, or a private server
//! started by tests/common/mariadb.rs; never skipped): whatever stops when, every committed
//! batch's pdns_rr and pdns_resolver keys end up applied exactly once, and the tables equal
//! those of aggregates applied in every batch's own transaction.
// Helpers outside #[test] fns unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use futures_util::StreamExt;
use mysql_async::prelude::Queryable;

use common::data::{self, batch};
use common::mariadb as mdb;
use mediator::dbconfig::{DbConfig, MysqlConfig};
use mediator::store::{Batch, CommitOutcome, RetryPolicy, Store, StoreError};

/// Ten batches sharing hot keys (30 domains), as consecutive chunks of one file.
fn batches() -> Vec<Batch> {
    (0..10)
        .map(|i| batch("wb-file", i, data::synthetic_flows(700 + i, 200, 5, 30)))
        .collect()
}

/// A store as `mediator run` opens one: schema, then what earlier runs left pending.
async fn open(cfg: &MysqlConfig, write_behind_keys: usize) -> Store {
    let mut s = Store::open(&DbConfig::Mysql(cfg.clone())).await.unwrap();
    s.set_write_behind_keys(write_behind_keys);
    s.init().await.unwrap();
    s.recover_pending().await.unwrap();
    s
}

/// Commits `bs` three at a time, as the file loader does; each must load.
async fn commit_all(store: &Store, bs: &[Batch]) {
    let policy = RetryPolicy {
        max_retries: Some(50),
        ..Default::default()
    };
    let outcomes: Vec<_> = futures_util::stream::iter(bs)
        .map(|b| store.commit_batch_with_retry(b, &policy))
        .buffer_unordered(3)
        .collect()
        .await;
    for o in outcomes {
        assert!(matches!(o.unwrap().outcome, CommitOutcome::Loaded { .. }));
    }
}

async fn conn(store: &Store) -> mysql_async::Conn {
    match store {
        Store::Mysql(m) => m.pool().get_conn().await.unwrap(),
        Store::Sqlite(_) => panic!("write-behind is MySQL's"),
    }
}

async fn count(store: &Store, table: &str) -> u64 {
    let n: Option<u64> = conn(store)
        .await
        .query_first(format!("SELECT COUNT(*) FROM {table}"))
        .await
        .unwrap();
    n.unwrap()
}

/// The aggregate tables as text, in key order. `first_seen_insert` is left out: it is
/// first_seen as it was when the key was first written, which merging moves earlier; it is
/// checked to stay at or after first_seen instead (what the "new names" query relies on).
async fn aggregates(store: &Store) -> Vec<String> {
    let mut c = conn(store).await;
    let bad: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM pdns_rr WHERE first_seen_insert < first_seen")
        .await
        .unwrap();
    assert_eq!(bad, Some(0), "first_seen_insert before first_seen");
    let mut out = Vec::new();
    for sql in [
        "SELECT CONCAT_WS('|', HEX(rr_hash), rrname, rrname_rev, rrtype, rrval, first_seen, \
         last_seen, count, ttl_min, ttl_max) FROM pdns_rr ORDER BY rr_hash",
        "SELECT CONCAT_WS('|', HEX(client), HEX(resolver), port, first_seen, last_seen, count) \
         FROM pdns_resolver ORDER BY client, resolver, port",
        "SELECT CONCAT_WS('|', HEX(name_hash), HEX(client), rrname, first_seen, last_seen, \
         count) FROM pdns_client ORDER BY name_hash, client",
    ] {
        let rows: Vec<String> = c.query(sql).await.unwrap();
        out.push(format!("-- {} rows", rows.len()));
        out.extend(rows);
    }
    out
}

/// The same batches with aggregates applied in every batch's transaction.
async fn reference(bs: &[Batch]) -> Vec<String> {
    let s = open(&mdb::fresh_config("wb_ref"), 0).await;
    commit_all(&s, bs).await;
    assert_eq!(count(&s, "pdns_pending").await, 0);
    aggregates(&s).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_aggregates_equal_immediate_ones() {
    let bs = batches();
    let want = reference(&bs).await;
    assert!(want.len() > 100, "the batches make aggregates");

    // Nothing is applied before the flush: the keys wait in pdns_pending.
    let s = open(&mdb::fresh_config("wb_merge"), 1 << 30).await;
    commit_all(&s, &bs).await;
    assert_eq!(count(&s, "pdns_rr").await, 0);
    assert_eq!(count(&s, "pdns_resolver").await, 0);
    assert!(count(&s, "pdns_pending").await >= bs.len() as u64);
    assert!(
        count(&s, "pdns_client").await > 0,
        "pdns_client is never deferred"
    );
    s.flush_aggregates().await.unwrap();
    assert_eq!(count(&s, "pdns_pending").await, 0);
    assert_eq!(aggregates(&s).await, want);
    // A second flush has nothing to do.
    s.flush_aggregates().await.unwrap();
    assert_eq!(aggregates(&s).await, want);

    // With a small bound, commits apply the merged keys themselves along the way.
    let s = open(&mdb::fresh_config("wb_small"), 500).await;
    commit_all(&s, &bs).await;
    assert!(
        count(&s, "pdns_rr").await > 0,
        "commits flushed when 500 keys waited"
    );
    s.flush_aggregates().await.unwrap();
    assert_eq!(count(&s, "pdns_pending").await, 0);
    assert_eq!(aggregates(&s).await, want);
}

/// kill -9 between a batch's commit and the flush: the next start applies what was pending,
/// and reloading the file adds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_start_applies_what_a_stopped_mediator_left_pending() {
    let bs = batches();
    let want = reference(&bs).await;
    let cfg = mdb::fresh_config("wb_crash");
    let a = open(&cfg, 1 << 30).await;
    commit_all(&a, &bs).await;
    drop(a); // its merged keys are gone with it, as with SIGKILL
    let b = open(&cfg, 1 << 30).await; // the start applies what was pending
    assert_eq!(count(&b, "pdns_pending").await, 0);
    assert_eq!(aggregates(&b).await, want);
    for x in &bs {
        assert_eq!(
            b.commit_batch(x).await.unwrap(),
            CommitOutcome::AlreadyLoaded
        );
    }
    b.flush_aggregates().await.unwrap();
    assert_eq!(aggregates(&b).await, want);
}

/// Another mediator's start applies this one's pending rows while it runs: this one's flush
/// then applies only the batches still pending, and none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_applied_elsewhere_are_not_applied_again() {
    let bs = batches();
    let want = reference(&bs).await;
    let cfg = mdb::fresh_config("wb_steal");
    let a = open(&cfg, 1 << 30).await;
    commit_all(&a, &bs[..6]).await;
    let other = open(&cfg, 1 << 30).await; // its start applies the six batches' rows
    assert_eq!(count(&other, "pdns_pending").await, 0);
    assert!(count(&other, "pdns_rr").await > 0);
    commit_all(&a, &bs[6..]).await;
    a.flush_aggregates().await.unwrap();
    assert_eq!(count(&a, "pdns_pending").await, 0);
    assert_eq!(aggregates(&a).await, want);
}

/// A flush that fails leaves every batch pending, in the table and in the store, and the next
/// flush applies them from the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_leaves_the_batches_for_the_next() {
    let bs = batches();
    let want = reference(&bs).await;
    let s = open(&mdb::fresh_config("wb_fail"), 1 << 30).await;
    commit_all(&s, &bs[..5]).await;
    let mut c = conn(&s).await;
    c.query_drop("RENAME TABLE pdns_resolver TO pdns_resolver_away")
        .await
        .unwrap();
    let e = s.flush_aggregates().await.unwrap_err();
    assert!(e.to_string().contains("pdns_resolver"), "{e}");
    assert_eq!(
        count(&s, "pdns_rr").await,
        0,
        "the failed flush rolled back"
    );
    c.query_drop("RENAME TABLE pdns_resolver_away TO pdns_resolver")
        .await
        .unwrap();
    commit_all(&s, &bs[5..]).await;
    s.flush_aggregates().await.unwrap();
    assert_eq!(count(&s, "pdns_pending").await, 0);
    assert_eq!(aggregates(&s).await, want);
}

/// A pending row this mediator cannot read stops the start with an error naming the row,
/// instead of dropping its keys; without it the start goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_pending_row_is_refused_by_id() {
    let cfg = mdb::fresh_config("wb_bad");
    let s = open(&cfg, 1 << 30).await;
    let mut c = conn(&s).await;
    c.query_drop("INSERT INTO pdns_pending (id, created_at, payload) VALUES (77, NOW(3), X'0907')")
        .await
        .unwrap();
    let e = s.recover_pending().await.unwrap_err();
    assert!(matches!(e, StoreError::Permanent { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("row id 77") && text.contains("version 9"),
        "{text}"
    );
    assert_eq!(count(&s, "pdns_pending").await, 1, "the row is kept");
    c.query_drop("DELETE FROM pdns_pending WHERE id = 77")
        .await
        .unwrap();
    assert_eq!(s.recover_pending().await.unwrap(), 0);
}
