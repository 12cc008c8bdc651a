//! Store load benchmark (not part of CI): DNS RR rows/s through `commit_batch` (ledger, id
//! allocation, raw rows and passive-DNS aggregates in one transaction per batch) beside the same
//! rows loaded by plain methods in the same run, then the analysts' lookups on a large table.
//!
//!   cargo bench -p mediator --bench store_load
//!
//! Environment: MYSQL_URL (else a private mariadbd is started), STORE_BENCH_RR (DNS rows to
//! load, default 1,000,000), STORE_BENCH_LOOKUP_RR (DNS rows in the table for the lookup
//! timings, default 2,000,000; the issue's goal is 10,000,000), STORE_BENCH_BATCH_FLOWS (flows
//! per batch, default 10,000; 5 DNS rows per flow), STORE_BENCH_SQLITE=1 to also time SQLite.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::data::{self, batch, Rng};
use common::mariadb as mdb;
use futures_util::StreamExt;
use mediator::dbconfig::{DbConfig, SqliteConfig};
use mediator::store::{prep, Batch, FlowRow, Store};
use mysql_async::prelude::Queryable;
use mysql_async::{Params, TxOpts, Value};

const RR_PER_FLOW: usize = 5;
/// Registered domains in the generated names (popularity skewed, see tests/common/data.rs).
const DOMAINS: u64 = 10_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn make_batches(key: &str, first_chunk: u64, rr: usize, batch_flows: usize) -> Vec<Batch> {
    let flows = rr / RR_PER_FLOW;
    let n = flows.div_ceil(batch_flows);
    (0..n as u64)
        .map(|i| {
            let chunk = first_chunk + i;
            let size = batch_flows.min(flows - i as usize * batch_flows);
            batch(
                key,
                chunk,
                data::synthetic_flows(chunk, size, RR_PER_FLOW, DOMAINS),
            )
        })
        .collect()
}

fn rate(rows: usize, d: Duration) -> f64 {
    rows as f64 / d.as_secs_f64()
}

async fn mysql_store(url: &str, db: &str) -> Store {
    let cfg = mdb::config_for_url(url, db);
    let store = Store::open(&DbConfig::Mysql(cfg)).await.expect("open");
    store.init().await.expect("init");
    store
}

fn pool_of(store: &Store) -> &mysql_async::Pool {
    match store {
        Store::Mysql(m) => m.pool(),
        Store::Sqlite(_) => unreachable!("MySQL store expected"),
    }
}

fn dt(ms: i64) -> Value {
    match prep::civil_from_ms(ms) {
        Some(c) => Value::Date(
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second,
            u32::from(c.milli) * 1000,
        ),
        None => Value::NULL,
    }
}

fn v4(ip: std::net::IpAddr) -> Value {
    match ip {
        std::net::IpAddr::V4(a) => Value::UInt(u64::from(u32::from(a))),
        std::net::IpAddr::V6(_) => Value::NULL,
    }
}

fn flow_row(id: u64, f: &FlowRow) -> Params {
    Params::Positional(vec![
        Value::UInt(id),
        v4(f.src),
        v4(f.dst),
        Value::UInt(u64::from(f.src_port)),
        Value::UInt(u64::from(f.dst_port)),
        Value::UInt(u64::from(f.protocol)),
        dt(f.start_ms),
        dt(f.end_ms),
        Value::UInt(f.octets),
        Value::UInt(f.reverse_octets),
        Value::UInt(f.packets),
        Value::UInt(f.reverse_packets),
        Value::UInt(u64::from(f.observation_domain)),
        Value::from(f.sensor.as_str()),
    ])
}

/// The dns columns of one flow's rows, `rev` adds the reversed name (same-schema variant).
fn dns_values(id: u64, f: &FlowRow, rev: bool) -> Vec<Vec<Value>> {
    f.dns
        .iter()
        .enumerate()
        .map(|(seq, d)| {
            let mut v = vec![
                Value::UInt(id),
                Value::UInt(seq as u64),
                Value::UInt(u64::from(d.dns_id)),
                Value::UInt(u64::from(d.qr)),
                Value::UInt(u64::from(d.rrtype)),
                Value::UInt(u64::from(d.auth)),
                Value::UInt(u64::from(d.rcode)),
                Value::UInt(u64::from(d.section)),
                Value::UInt(u64::from(d.ttl)),
                Value::from(d.rrname.as_str()),
                Value::from(d.rrval.as_str()),
            ];
            if rev {
                v.push(Value::from(prep::reverse_name(&prep::normalize_name(
                    &d.rrname,
                ))));
            }
            v
        })
        .collect()
}

const DNS_COLS: &str = "id, seq, tid, qr, type, auth, nx, section, ttl, rrname, rrval";
const BARE_DDL: &str = "(id BIGINT NOT NULL, seq SMALLINT UNSIGNED NOT NULL, \
    tid MEDIUMINT UNSIGNED, qr TINYINT UNSIGNED, type MEDIUMINT UNSIGNED, auth TINYINT UNSIGNED, \
    nx TINYINT UNSIGNED, section TINYINT UNSIGNED, ttl INT UNSIGNED, rrname VARCHAR(1024), \
    rrval VARCHAR(1024)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

/// Plain bulk execute of the same flows + dns rows into the same schema (all indexes), one
/// transaction per batch, no ledger, no aggregates.
async fn plain_same_schema(pool: &mysql_async::Pool, batches: &[Batch]) -> Duration {
    let mut c = pool.get_conn().await.expect("conn");
    let t = Instant::now();
    let mut next_id = 1u64;
    for b in batches {
        let mut tx = c.start_transaction(TxOpts::default()).await.expect("tx");
        let flows: Vec<Params> = b
            .flows
            .iter()
            .enumerate()
            .map(|(i, f)| flow_row(next_id + i as u64, f))
            .collect();
        tx.exec_batch(
            "INSERT INTO flows (id, srcip4, dstip4, srcport, dstport, protocol, \
             flowStartMilliseconds, flowEndMilliseconds, octetTotalCount, reverseOctetTotalCount, \
             packetTotalCount, reversePacketTotalCount, ObservationDomain, sensor) \
             VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            flows,
        )
        .await
        .expect("flows");
        let dns: Vec<Params> = b
            .flows
            .iter()
            .enumerate()
            .flat_map(|(i, f)| dns_values(next_id + i as u64, f, true))
            .map(Params::Positional)
            .collect();
        tx.exec_batch(
            format!("INSERT INTO dns ({DNS_COLS}, rrname_rev) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"),
            dns,
        )
        .await
        .expect("dns");
        tx.commit().await.expect("commit");
        next_id += b.flows.len() as u64;
    }
    t.elapsed()
}

/// Bulk execute of the dns rows only into a table without secondary indexes.
async fn bare_exec_batch(pool: &mysql_async::Pool, batches: &[Batch]) -> Duration {
    let mut c = pool.get_conn().await.expect("conn");
    c.query_drop(format!("CREATE TABLE dns_bare_bulk {BARE_DDL}"))
        .await
        .expect("ddl");
    let t = Instant::now();
    let mut next_id = 1u64;
    for b in batches {
        let mut tx = c.start_transaction(TxOpts::default()).await.expect("tx");
        let dns: Vec<Params> = b
            .flows
            .iter()
            .enumerate()
            .flat_map(|(i, f)| dns_values(next_id + i as u64, f, false))
            .map(Params::Positional)
            .collect();
        tx.exec_batch(
            format!("INSERT INTO dns_bare_bulk ({DNS_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"),
            dns,
        )
        .await
        .expect("dns");
        tx.commit().await.expect("commit");
        next_id += b.flows.len() as u64;
    }
    t.elapsed()
}

fn tsv_escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
}

/// LOAD DATA LOCAL INFILE from memory into a table without secondary indexes.
async fn bare_load_data(pool: &mysql_async::Pool, batches: &[Batch]) -> Result<Duration, String> {
    let mut c = pool.get_conn().await.expect("conn");
    c.query_drop(format!("CREATE TABLE dns_bare_load {BARE_DDL}"))
        .await
        .expect("ddl");
    let t = Instant::now();
    let mut next_id = 1u64;
    for b in batches {
        let mut buf = String::with_capacity(b.flows.len() * RR_PER_FLOW * 64);
        for (i, f) in b.flows.iter().enumerate() {
            for (seq, d) in f.dns.iter().enumerate() {
                use std::fmt::Write;
                let _ = write!(
                    buf,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t",
                    next_id + i as u64,
                    seq,
                    d.dns_id,
                    d.qr,
                    d.rrtype,
                    d.auth,
                    d.rcode,
                    d.section,
                    d.ttl
                );
                tsv_escape(&d.rrname, &mut buf);
                buf.push('\t');
                tsv_escape(&d.rrval, &mut buf);
                buf.push('\n');
            }
        }
        // Transaction derefs to Conn only immutably, so the handler is set on the connection
        // and the transaction spelled out.
        let data = Bytes::from(buf);
        c.query_drop("START TRANSACTION").await.expect("tx");
        c.set_infile_handler(async move { Ok(futures_util::stream::iter([Ok(data)]).boxed()) });
        c.query_drop(format!(
            "LOAD DATA LOCAL INFILE 'memory' INTO TABLE dns_bare_load ({DNS_COLS})"
        ))
        .await
        .map_err(|e| e.to_string())?;
        c.query_drop("COMMIT").await.expect("commit");
        next_id += b.flows.len() as u64;
    }
    Ok(t.elapsed())
}

/// Multi-row prepared INSERT (under 65,535 placeholders per statement) into a bare table.
async fn bare_multi_row(pool: &mysql_async::Pool, batches: &[Batch]) -> Duration {
    const COLS: usize = 11;
    const ROWS_PER_STMT: usize = 65_535 / COLS;
    let mut c = pool.get_conn().await.expect("conn");
    c.query_drop(format!("CREATE TABLE dns_bare_multi {BARE_DDL}"))
        .await
        .expect("ddl");
    let one = format!("({})", ["?"; COLS].join(","));
    let t = Instant::now();
    let mut next_id = 1u64;
    for b in batches {
        let rows: Vec<Vec<Value>> = b
            .flows
            .iter()
            .enumerate()
            .flat_map(|(i, f)| dns_values(next_id + i as u64, f, false))
            .collect();
        let mut tx = c.start_transaction(TxOpts::default()).await.expect("tx");
        for chunk in rows.chunks(ROWS_PER_STMT) {
            let sql = format!(
                "INSERT INTO dns_bare_multi ({DNS_COLS}) VALUES {}",
                vec![one.as_str(); chunk.len()].join(",")
            );
            let params: Vec<Value> = chunk.iter().flatten().cloned().collect();
            tx.exec_drop(sql, params).await.expect("insert");
        }
        tx.commit().await.expect("commit");
        next_id += b.flows.len() as u64;
    }
    t.elapsed()
}

async fn load_ours(store: &Store, batches: &[Batch]) -> Duration {
    let t = Instant::now();
    for b in batches {
        store.commit_batch(b).await.expect("commit_batch");
    }
    t.elapsed()
}

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    let med = v[v.len() / 2];
    let max = v[v.len() - 1];
    format!("median {med:7.2} ms  max {max:7.2} ms  (n={})", v.len())
}

async fn time_lookups(store: &Store, samples: &[FlowRow]) {
    let mut exact = Vec::new();
    let mut who = Vec::new();
    let mut subs = Vec::new();
    let mut by_ip = Vec::new();
    let mut raw_exact = Vec::new();
    let mut raw_subs = Vec::new();
    let mut raw_ip = Vec::new();
    let pool = pool_of(store);
    let mut c = pool.get_conn().await.expect("conn");
    for f in samples {
        let qname = f.dns[0].rrname.clone();
        let target = f.dns[1].rrval.clone();
        let ip = f.dns[2].rrval.clone();
        let domain: String = qname
            .split_once('.')
            .map(|x| x.1.to_string())
            .unwrap_or_default();
        let t = Instant::now();
        let v = store.name_values(&target, None, 100).await.expect("q");
        exact.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!v.is_empty());
        let t = Instant::now();
        let v = store.who_resolved(&qname, 0, 100).await.expect("q");
        who.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!v.is_empty());
        let t = Instant::now();
        let v = store.subdomains(&domain, 1000).await.expect("q");
        subs.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!v.is_empty());
        let t = Instant::now();
        let v = store.by_value(&ip, 100).await.expect("q");
        by_ip.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!v.is_empty());
        // The raw table's indexes (exact name, reversed-name prefix, value).
        let t = Instant::now();
        let n: Vec<mysql_async::Row> = c
            .exec(
                "SELECT d.rrname, d.rrval, f.srcip4, f.flowStartMilliseconds FROM dns d \
                 JOIN flows f ON f.id = d.id WHERE d.rrname = ? LIMIT 1000",
                (qname.as_str(),),
            )
            .await
            .expect("q");
        raw_exact.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!n.is_empty());
        let (lo, hi) = prep::subdomain_range(&domain);
        let t = Instant::now();
        let n: Vec<mysql_async::Row> = c
            .exec(
                "SELECT DISTINCT rrname FROM dns WHERE rrname_rev > ? AND rrname_rev < ? LIMIT 1000",
                (lo, hi),
            )
            .await
            .expect("q");
        raw_subs.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!n.is_empty());
        let t = Instant::now();
        let n: Vec<mysql_async::Row> = c
            .exec(
                "SELECT rrname, id FROM dns WHERE rrval = ? LIMIT 1000",
                (ip.as_str(),),
            )
            .await
            .expect("q");
        raw_ip.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!n.is_empty());
    }
    println!("  pdns_rr exact name (name_values)     {}", stats(exact));
    println!("  pdns_client who resolved            {}", stats(who));
    println!("  pdns_rr subdomains (reversed index)  {}", stats(subs));
    println!("  pdns_rr by IP value (by_value)       {}", stats(by_ip));
    println!(
        "  raw dns exact name + flow join       {}",
        stats(raw_exact)
    );
    println!("  raw dns subdomains (rrname_rev)      {}", stats(raw_subs));
    println!("  raw dns by IP value (rrval)          {}", stats(raw_ip));
    let t = Instant::now();
    let _: Vec<mysql_async::Row> = c
        .query(r#"SELECT rrname,rrval,srcip4,dstip4,flowStartMilliseconds FROM dns d, flows f WHERE f.id = d.id AND rrname LIKE "www.google.com." GROUP by rrval ORDER BY f.id DESC LIMIT 50;"#)
        .await
        .expect("seed query 1");
    println!(
        "  seed query 1 (exact LIKE)            {:7.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let _: Vec<mysql_async::Row> = c
        .query(r#"SELECT qr,type,auth,nx,ttl,rrname,rrval from dns WHERE rrname LIKE "%.youtube.com." GROUP BY rrval LIMIT 50;"#)
        .await
        .expect("seed query 2");
    println!(
        "  seed query 2 (LIKE '%...', full scan) {:7.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; nothing else is expected.
    let rr = env_usize("STORE_BENCH_RR", 1_000_000);
    let lookup_rr = env_usize("STORE_BENCH_LOOKUP_RR", 2_000_000);
    let batch_flows = env_usize("STORE_BENCH_BATCH_FLOWS", 10_000).max(1);
    let url = mdb::server_url();
    println!(
        "store_load: {rr} DNS rows ({} flows, {RR_PER_FLOW} RRs each), batches of {batch_flows} flows",
        rr / RR_PER_FLOW
    );
    let t = Instant::now();
    let batches = make_batches("bench", 0, rr, batch_flows);
    let dns_rows: usize = batches.iter().map(Batch::dns_row_count).sum();
    println!("generated in {:.1} s", t.elapsed().as_secs_f64());

    let tag = std::process::id();
    let ours = mysql_store(&url, &format!("bench_ours_{tag}")).await;
    let d_ours = load_ours(&ours, &batches).await;
    let counts = ours.counts().await.expect("counts");
    assert_eq!(counts.dns as usize, dns_rows);
    println!(
        "commit_batch (ledger + raw rows + aggregates): {:>9.0} rows/s  ({:.1} s; pdns_rr {}, pdns_client {}, pdns_resolver {})",
        rate(dns_rows, d_ours),
        d_ours.as_secs_f64(),
        counts.pdns_rr,
        counts.pdns_client,
        counts.pdns_resolver
    );
    if let Store::Mysql(m) = &ours {
        let mut t = m.statement_timings();
        t.sort_by_key(|x| std::cmp::Reverse(x.elapsed));
        for x in &t {
            println!(
                "  {:<20} {:>7.2} s  {:>5.1} %  {:>9} rows in {} calls",
                x.statement,
                x.elapsed.as_secs_f64(),
                100.0 * x.elapsed.as_secs_f64() / d_ours.as_secs_f64(),
                x.rows,
                x.calls
            );
        }
    }

    let plain = mysql_store(&url, &format!("bench_plain_{tag}")).await;
    let pool = pool_of(&plain);
    let d_same = plain_same_schema(pool, &batches).await;
    println!(
        "plain exec_batch, same schema (flows + dns, all indexes): {:>9.0} rows/s",
        rate(dns_rows, d_same)
    );
    let d_bulk = bare_exec_batch(pool, &batches).await;
    println!(
        "plain exec_batch, bare dns table:          {:>9.0} rows/s",
        rate(dns_rows, d_bulk)
    );
    let d_load = bare_load_data(pool, &batches).await;
    match &d_load {
        Ok(d) => println!(
            "plain LOAD DATA LOCAL, bare dns table:     {:>9.0} rows/s",
            rate(dns_rows, *d)
        ),
        Err(e) => println!("plain LOAD DATA LOCAL: failed: {e}"),
    }
    let d_multi = bare_multi_row(pool, &batches).await;
    println!(
        "plain multi-row INSERT, bare dns table:    {:>9.0} rows/s",
        rate(dns_rows, d_multi)
    );
    let best_bare = [Some(d_bulk), d_load.ok(), Some(d_multi)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(d_bulk);
    println!(
        "ratio ours / plain same-schema: {:.0} %   ours / fastest bare: {:.0} %",
        100.0 * d_same.as_secs_f64() / d_ours.as_secs_f64(),
        100.0 * best_bare.as_secs_f64() / d_ours.as_secs_f64()
    );

    if std::env::var("STORE_BENCH_SQLITE").is_ok_and(|v| v == "1") {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&DbConfig::Sqlite(SqliteConfig {
            path: dir.path().join("bench.sqlite3"),
        }))
        .await
        .expect("sqlite");
        s.init().await.expect("init");
        let d = load_ours(&s, &batches).await;
        println!(
            "sqlite commit_batch:                       {:>9.0} rows/s",
            rate(dns_rows, d)
        );
    }

    // Grow the first store to the lookup size, then time the analysts' lookups.
    if lookup_rr > dns_rows {
        let t = Instant::now();
        let mut chunk = batches.len() as u64;
        let mut have = dns_rows;
        while have < lookup_rr {
            let step = (lookup_rr - have).min(rr.max(RR_PER_FLOW * batch_flows));
            let more = make_batches("bench", chunk, step, batch_flows);
            chunk += more.len() as u64;
            have += more.iter().map(Batch::dns_row_count).sum::<usize>();
            load_ours(&ours, &more).await;
        }
        println!(
            "grew to {have} DNS rows in {:.0} s",
            t.elapsed().as_secs_f64()
        );
    }
    let c = ours.counts().await.expect("counts");
    println!(
        "lookups on {} dns rows, {} flows, {} pdns_rr, {} pdns_client rows:",
        c.dns, c.flows, c.pdns_rr, c.pdns_client
    );
    let mut rng = Rng::new(99);
    let samples: Vec<FlowRow> = (0..25)
        .map(|_| {
            let b = &batches[rng.below(batches.len() as u64) as usize];
            b.flows[rng.below(b.flows.len() as u64) as usize].clone()
        })
        .collect();
    time_lookups(&ours, &samples).await;
}
