//! Store load benchmark (not part of CI): DNS RR rows/s through `commit_batch` (ledger, id
//! allocation, raw rows and passive-DNS aggregates in one transaction per batch) beside the same
//! rows loaded by plain methods in the same run, then the analysts' lookups on a large table.
//!
//!   cargo bench -p mediator --bench store_load
//!
//! "Plain" is the same flows + dns rows (every column the commit path writes) into the same
//! tables of the same schema, one transaction per batch, without ledger, ids or aggregates, by
//! the two fastest methods: MariaDB bulk execute (`exec_batch`) and LOAD DATA LOCAL INFILE from
//! memory. Both are timed; the faster one of each round is the reference for the ratio. Rounds
//! rotate the order of the three loads (each into a fresh database), and the summary gives the
//! median and range over rounds. The same dns rows into a table without secondary indexes are
//! printed for context.
//!
//! Environment: MYSQL_URL (else a private mariadbd with deploy/mariadb/pdns.cnf's settings is
//! started), STORE_BENCH_RR (DNS rows to load, default 1,000,000), STORE_BENCH_REPEAT (rounds,
//! default 1), STORE_BENCH_BATCH_FLOWS (flows per batch, default 10,000; 5 DNS rows per flow),
//! STORE_BENCH_LOOKUP_RR (DNS rows in the table for the lookup timings, default 2,000,000,
//! grown through the real commit path; the issue's goal is 10,000,000),
//! STORE_BENCH_LOOKUPS (sampled names, default 50), STORE_BENCH_SQLITE=1 to also time SQLite,
//! STORE_BENCH_MULTI=1 to also time multi-row INSERT,
//! STORE_BENCH_PAR (batches committed at once by ours, default the mediator's
//! `--parallel-commits` default; the plain loads are one stream, as the issue defines them),
//! STORE_BENCH_NO_LOAD_DATA=1 to have ours write the raw rows with bound parameters instead of
//! LOAD DATA LOCAL (what it does on a server with local_infile=0), STORE_BENCH_WB=keys for
//! ours' `--write-behind-keys` (0: aggregates upserted in every batch's transaction); ours
//! applies its write-behind aggregates at the end, as the mediator does at the end of a file.
//!
//! STORE_BENCH_FILE=path takes the batches from an IPFIX file instead of the generator
//! (STORE_BENCH_RR and STORE_BENCH_BATCH_FLOWS are then ignored): decoded, mapped and chunked
//! by the mediator's own ingest path (ingest::open_file, the code `--in-file` runs), keyed by
//! the file's content key, so "ours" commits exactly the batches the binary would. The plain
//! loads take the same rows. Key repetition (aggregate keys upserted and distinct, per DNS row)
//! is printed for either input; the lookup timings need generated names and are skipped.
//! STORE_BENCH_MERGE=k commits every k consecutive batches as one (a chunk size k times
//! larger). STORE_BENCH_E2E=1 also times `source::file::load_file` (decoding overlapped with the
//! commits, as the binary runs it) into a fresh database.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::data::{self, batch, Rng};
use common::mariadb as mdb;
use futures_util::StreamExt;
use mediator::dbconfig::{DbConfig, SqliteConfig};
use mediator::ingest;
use mediator::store::{prep, Batch, BatchSource, FlowRow, Store};
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

/// The batches `mediator --in-file path` commits: the file's content key, its chunks as the
/// ingest decoder cuts them, flows mapped by the same code, sensor name empty (the flag's
/// default).
fn file_batches(path: &Path) -> Vec<Batch> {
    let (key, size) = ingest::content_key(path).expect("read the bench file");
    let source = BatchSource {
        key,
        label: path.display().to_string(),
    };
    let mut dec = ingest::open_file(path, "").expect("open the bench file");
    let mut out = Vec::new();
    while let Some(chunk) = dec.next_chunk() {
        out.push(chunk.into_batch(&source));
    }
    if let Some(e) = dec.error() {
        println!(
            "WARNING: {} is not valid IPFIX from byte {}: {e}; benchmarking the {} complete bytes before",
            path.display(),
            dec.offset(),
            dec.offset()
        );
    }
    println!(
        "file {}: {size} bytes, {} messages, {} chunks of up to {} MiB (ingest::CHUNK_BYTES), {} undecoded sets",
        path.display(),
        dec.messages(),
        out.len(),
        ingest::CHUNK_BYTES >> 20,
        dec.undecoded_sets()
    );
    out
}

fn merge_batches(batches: Vec<Batch>, k: usize) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    for (i, b) in batches.into_iter().enumerate() {
        if i % k == 0 {
            out.push(Batch {
                chunk: (i / k) as u64,
                ..b
            });
        } else if let Some(last) = out.last_mut() {
            last.flows.extend(b.flows);
        }
    }
    out
}

/// Aggregate keys the batches upsert (summed over batches, after each batch's own
/// pre-aggregation): (pdns_rr, pdns_client, pdns_resolver).
fn upserted_keys(batches: &[Batch]) -> (usize, usize, usize) {
    let t = Instant::now();
    let keys = batches.iter().fold((0, 0, 0), |acc, b| {
        let p = prep::prepare(b).expect("prepare");
        (
            acc.0 + p.rr.len(),
            acc.1 + p.clients.len(),
            acc.2 + p.resolvers.len(),
        )
    });
    // The client's per-batch preparation alone (hashing, names, pre-aggregation), one thread.
    println!(
        "prep::prepare of every batch: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    keys
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

fn split_ip(ip: std::net::IpAddr) -> (Value, Value) {
    match ip {
        std::net::IpAddr::V4(a) => (Value::UInt(u64::from(u32::from(a))), Value::NULL),
        std::net::IpAddr::V6(a) => (Value::NULL, Value::Bytes(a.octets().to_vec())),
    }
}

/// Every `flows` column the commit path writes, so "plain" loads the same bytes.
const FLOW_COLS: &str = "id, srcip4, dstip4, srcport, dstport, protocol, vlan, srcip6, dstip6, \
    flowStartMilliseconds, flowEndMilliseconds, octetTotalCount, reverseOctetTotalCount, \
    packetTotalCount, reversePacketTotalCount, silkAppLabel, flowEndReason, ObservationDomain, \
    flowAttributes, reverseFlowAttributes, ingressInterface, egressInterface, sensor";

fn flow_row(id: u64, f: &FlowRow) -> Params {
    let (s4, s6) = split_ip(f.src);
    let (d4, d6) = split_ip(f.dst);
    let opt = |v: Option<u32>| v.map_or(Value::NULL, |x| Value::UInt(u64::from(x)));
    Params::Positional(vec![
        Value::UInt(id),
        s4,
        d4,
        Value::UInt(u64::from(f.src_port)),
        Value::UInt(u64::from(f.dst_port)),
        Value::UInt(u64::from(f.protocol)),
        Value::UInt(u64::from(f.vlan)),
        s6,
        d6,
        dt(f.start_ms),
        dt(f.end_ms),
        Value::UInt(f.octets),
        Value::UInt(f.reverse_octets),
        Value::UInt(f.packets),
        Value::UInt(f.reverse_packets),
        Value::UInt(u64::from(f.silk_app_label)),
        Value::UInt(u64::from(f.flow_end_reason)),
        Value::UInt(u64::from(f.observation_domain)),
        Value::UInt(u64::from(f.flow_attributes)),
        Value::UInt(u64::from(f.reverse_flow_attributes)),
        opt(f.ingress_interface),
        opt(f.egress_interface),
        Value::from(prep::truncate_chars(&f.sensor, prep::MAX_SENSOR)),
    ])
}

/// The tcp row of a flow (YAF's TCP details), every column the commit path writes.
fn tcp_values(id: u64, f: &FlowRow) -> Option<Vec<Value>> {
    f.tcp.map(|t| {
        vec![
            Value::UInt(id),
            Value::UInt(u64::from(t.seq)),
            Value::UInt(u64::from(t.reverse_seq)),
            Value::from(prep::tcp_flags_text(t.initial_flags)),
            Value::from(prep::tcp_flags_text(t.reverse_initial_flags)),
            Value::from(prep::tcp_flags_text(t.union_flags)),
            Value::from(prep::tcp_flags_text(t.reverse_union_flags)),
        ]
    })
}

const TCP_COLS: &str = "id, tcpSequenceNumber, reverseTcpSequenceNumber, initialTCPFlags, \
    reverseInitialTCPFlags, unionTCPFlags, reverseUnionTCPFlags";

/// The dns columns of one flow's rows.
fn dns_values(id: u64, f: &FlowRow) -> Vec<Vec<Value>> {
    f.dns
        .iter()
        .enumerate()
        .map(|(seq, d)| {
            vec![
                Value::UInt(id),
                Value::UInt(seq as u64),
                Value::UInt(u64::from(d.dns_id)),
                Value::UInt(u64::from(d.qr)),
                Value::UInt(u64::from(d.rrtype)),
                Value::UInt(u64::from(d.auth)),
                Value::UInt(u64::from(d.rcode)),
                Value::UInt(u64::from(d.section)),
                Value::UInt(u64::from(d.ttl)),
                // Cut as the commit path cuts them (only hostile or binary rdata is longer).
                Value::from(prep::truncate_chars(&d.rrname, prep::MAX_TEXT)),
                Value::from(prep::truncate_chars(&d.rrval, prep::MAX_TEXT)),
            ]
        })
        .collect()
}

const DNS_COLS: &str = "id, seq, tid, qr, type, auth, nx, section, ttl, rrname, rrval";
const BARE_DDL: &str = "(id BIGINT NOT NULL, seq SMALLINT UNSIGNED NOT NULL, \
    tid MEDIUMINT UNSIGNED, qr TINYINT UNSIGNED, type MEDIUMINT UNSIGNED, auth TINYINT UNSIGNED, \
    nx TINYINT UNSIGNED, section TINYINT UNSIGNED, ttl INT UNSIGNED, rrname VARCHAR(1024), \
    rrval VARCHAR(1024)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

/// Plain bulk execute (MariaDB COM_STMT_BULK_EXECUTE) of the same flows + dns rows into the
/// same schema, one transaction per batch: no ledger, no id allocation, no aggregates.
async fn plain_same_schema_bulk(pool: &mysql_async::Pool, batches: &[Batch]) -> Duration {
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
            format!(
                "INSERT INTO flows ({FLOW_COLS}) VALUES ({})",
                ["?"; 23].join(",")
            ),
            flows,
        )
        .await
        .expect("flows");
        let tcp: Vec<Params> = b
            .flows
            .iter()
            .enumerate()
            .filter_map(|(i, f)| tcp_values(next_id + i as u64, f))
            .map(Params::Positional)
            .collect();
        if !tcp.is_empty() {
            tx.exec_batch(
                format!("INSERT INTO tcp ({TCP_COLS}) VALUES (?,?,?,?,?,?,?)"),
                tcp,
            )
            .await
            .expect("tcp");
        }
        let dns: Vec<Params> = b
            .flows
            .iter()
            .enumerate()
            .flat_map(|(i, f)| dns_values(next_id + i as u64, f))
            .map(Params::Positional)
            .collect();
        tx.exec_batch(
            format!("INSERT INTO dns ({DNS_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"),
            dns,
        )
        .await
        .expect("dns");
        tx.commit().await.expect("commit");
        next_id += b.flows.len() as u64;
    }
    t.elapsed()
}

fn tsv_dt(ms: i64, out: &mut String) {
    match prep::text_from_ms(ms) {
        Some(t) => out.push_str(&t),
        None => out.push_str("\\N"),
    }
}

/// (srcip4-style column, srcip6-style column) in LOAD DATA text: the integer or `\\N`, and hex
/// (unhexed by the SET clause) or `\\N`.
fn tsv_ip(ip: std::net::IpAddr) -> (String, String) {
    match ip {
        std::net::IpAddr::V4(a) => (u32::from(a).to_string(), "\\N".into()),
        std::net::IpAddr::V6(a) => (
            "\\N".into(),
            a.octets().iter().map(|b| format!("{b:02x}")).collect(),
        ),
    }
}

/// LOAD DATA LOCAL INFILE from memory of the same flows + dns rows into the same schema, one
/// transaction per batch.
async fn plain_same_schema_load(
    pool: &mysql_async::Pool,
    batches: &[Batch],
) -> Result<Duration, String> {
    use std::fmt::Write;
    let mut c = pool.get_conn().await.expect("conn");
    let t = Instant::now();
    let mut next_id = 1u64;
    for b in batches {
        let mut fl = String::with_capacity(b.flows.len() * 160);
        let mut dn = String::with_capacity(b.flows.len() * RR_PER_FLOW * 64);
        let mut tc = String::new();
        for (i, f) in b.flows.iter().enumerate() {
            let id = next_id + i as u64;
            if let Some(t) = f.tcp {
                let _ = writeln!(
                    tc,
                    "{id}\t{}\t{}\t{}\t{}\t{}\t{}",
                    t.seq,
                    t.reverse_seq,
                    prep::tcp_flags_text(t.initial_flags),
                    prep::tcp_flags_text(t.reverse_initial_flags),
                    prep::tcp_flags_text(t.union_flags),
                    prep::tcp_flags_text(t.reverse_union_flags)
                );
            }
            let _ = write!(fl, "{id}\t");
            let (s4, s6) = tsv_ip(f.src);
            let (d4, d6) = tsv_ip(f.dst);
            let _ = write!(
                fl,
                "{s4}\t{d4}\t{}\t{}\t{}\t{}\t{s6}\t{d6}\t",
                f.src_port, f.dst_port, f.protocol, f.vlan
            );
            tsv_dt(f.start_ms, &mut fl);
            fl.push('\t');
            tsv_dt(f.end_ms, &mut fl);
            let opt = |v: Option<u32>| v.map_or("\\N".to_string(), |x| x.to_string());
            let _ = write!(
                fl,
                "\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t",
                f.octets,
                f.reverse_octets,
                f.packets,
                f.reverse_packets,
                f.silk_app_label,
                f.flow_end_reason,
                f.observation_domain,
                f.flow_attributes,
                f.reverse_flow_attributes,
                opt(f.ingress_interface),
                opt(f.egress_interface)
            );
            tsv_escape(prep::truncate_chars(&f.sensor, prep::MAX_SENSOR), &mut fl);
            fl.push('\n');
            for (seq, r) in f.dns.iter().enumerate() {
                let _ = write!(
                    dn,
                    "{id}\t{seq}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t",
                    r.dns_id, r.qr, r.rrtype, r.auth, r.rcode, r.section, r.ttl
                );
                tsv_escape(prep::truncate_chars(&r.rrname, prep::MAX_TEXT), &mut dn);
                dn.push('\t');
                tsv_escape(prep::truncate_chars(&r.rrval, prep::MAX_TEXT), &mut dn);
                dn.push('\n');
            }
        }
        c.query_drop("START TRANSACTION").await.expect("tx");
        let data = Bytes::from(fl);
        c.set_infile_handler(async move { Ok(futures_util::stream::iter(packets(data)).boxed()) });
        c.query_drop(
            "LOAD DATA LOCAL INFILE 'flows' INTO TABLE flows (id, srcip4, dstip4, srcport, \
             dstport, protocol, vlan, @s6, @d6, flowStartMilliseconds, flowEndMilliseconds, \
             octetTotalCount, reverseOctetTotalCount, packetTotalCount, reversePacketTotalCount, \
             silkAppLabel, flowEndReason, ObservationDomain, flowAttributes, \
             reverseFlowAttributes, ingressInterface, egressInterface, sensor) \
             SET srcip6 = UNHEX(@s6), dstip6 = UNHEX(@d6)",
        )
        .await
        .map_err(|e| e.to_string())?;
        if !tc.is_empty() {
            let data = Bytes::from(tc);
            c.set_infile_handler(
                async move { Ok(futures_util::stream::iter(packets(data)).boxed()) },
            );
            c.query_drop(format!(
                "LOAD DATA LOCAL INFILE 'tcp' INTO TABLE tcp ({TCP_COLS})"
            ))
            .await
            .map_err(|e| e.to_string())?;
        }
        let data = Bytes::from(dn);
        c.set_infile_handler(async move { Ok(futures_util::stream::iter(packets(data)).boxed()) });
        c.query_drop(format!(
            "LOAD DATA LOCAL INFILE 'dns' INTO TABLE dns ({DNS_COLS})"
        ))
        .await
        .map_err(|e| e.to_string())?;
        c.query_drop("COMMIT").await.expect("commit");
        next_id += b.flows.len() as u64;
    }
    Ok(t.elapsed())
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
            .flat_map(|(i, f)| dns_values(next_id + i as u64, f))
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

/// LOAD DATA content as 1 MiB pieces: each stream item goes out as one packet, which must
/// fit max_allowed_packet (a merged batch's dns rows do not).
fn packets(data: Bytes) -> Vec<std::io::Result<Bytes>> {
    const PIECE: usize = 1 << 20;
    (0..data.len())
        .step_by(PIECE)
        .map(|i| Ok(data.slice(i..(i + PIECE).min(data.len()))))
        .collect()
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
        c.set_infile_handler(async move { Ok(futures_util::stream::iter(packets(data)).boxed()) });
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
            .flat_map(|(i, f)| dns_values(next_id + i as u64, f))
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
    // The mediator's own concurrency (`--parallel-commits`, default 2): batches of a file in
    // their commit transaction at once, as source/file.rs runs them.
    let par = env_usize("STORE_BENCH_PAR", store.parallel_commits()).max(1);
    let t = Instant::now();
    futures_util::stream::iter(batches)
        .map(|b| async move { store.commit_batch(b).await.expect("commit_batch") })
        .buffer_unordered(par)
        .collect::<Vec<_>>()
        .await;
    // The end of the file: its write-behind aggregates are applied before it counts as loaded.
    store.flush_aggregates().await.expect("flush_aggregates");
    t.elapsed()
}

/// A plain load must have stored every row, or its rate means nothing.
async fn check_raw_counts(store: &Store, flows: usize, tcp: usize, dns: usize) {
    let c = store.counts().await.expect("counts");
    assert_eq!(
        (c.flows as usize, c.tcp as usize, c.dns as usize),
        (flows, tcp, dns),
        "plain load stored (flows, tcp, dns) rows"
    );
}

/// CPU seconds (user + system, all threads) of process `pid`, from /proc/<pid>/stat.
fn proc_cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name's closing parenthesis start at field 3 (state); utime
    // and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// What one load cost beside wall-clock time, which other jobs on a shared 2-core machine
/// stretch: CPU seconds of the server (when it runs on this machine and its pid file is
/// readable) and of this process, and InnoDB pages the server had to read from disk.
#[derive(Clone, Copy, Default)]
struct Cost {
    server_cpu: Option<f64>,
    client_cpu: f64,
    disk_reads: u64,
}

async fn server_pid(pool: &mysql_async::Pool) -> Option<String> {
    let mut c = pool.get_conn().await.ok()?;
    let file: Option<String> = c.query_first("SELECT @@pid_file").await.ok()?;
    let pid = std::fs::read_to_string(file?).ok()?.trim().to_string();
    proc_cpu_secs(&pid).map(|_| pid)
}

async fn cost_now(pool: &mysql_async::Pool, pid: Option<&str>) -> Cost {
    let mut c = pool.get_conn().await.expect("conn");
    let reads: Option<(String, u64)> = c
        .query_first("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_reads'")
        .await
        .expect("status");
    Cost {
        server_cpu: pid.and_then(proc_cpu_secs),
        client_cpu: proc_cpu_secs("self").unwrap_or(0.0),
        disk_reads: reads.map_or(0, |r| r.1),
    }
}

impl Cost {
    fn since(self, before: Cost) -> Cost {
        Cost {
            server_cpu: self.server_cpu.zip(before.server_cpu).map(|(a, b)| a - b),
            client_cpu: self.client_cpu - before.client_cpu,
            disk_reads: self.disk_reads.saturating_sub(before.disk_reads),
        }
    }

    fn total_cpu(self) -> Option<f64> {
        self.server_cpu.map(|s| s + self.client_cpu)
    }

    fn line(self, rows: usize) -> String {
        let per = |s: f64| 1e6 * s / rows as f64;
        match self.server_cpu {
            Some(s) => format!(
                "CPU: server {s:.1} s + client {:.1} s = {:.1} us per DNS row; {} pages read from disk",
                self.client_cpu,
                per(s + self.client_cpu),
                self.disk_reads
            ),
            None => format!(
                "CPU: client {:.1} s (server not local); {} pages read from disk",
                self.client_cpu, self.disk_reads
            ),
        }
    }
}

/// Server-wide (InnoDB row lock waits, total wait ms): how often one of our concurrent commits
/// waited for another's aggregate rows.
async fn row_lock_waits(pool: &mysql_async::Pool) -> (u64, u64) {
    let mut c = pool.get_conn().await.expect("conn");
    let rows: Vec<(String, u64)> = c
        .query(
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_row_lock_waits', \
             'Innodb_row_lock_time')",
        )
        .await
        .expect("status");
    let get = |n: &str| rows.iter().find(|r| r.0 == n).map_or(0, |r| r.1);
    (get("Innodb_row_lock_waits"), get("Innodb_row_lock_time"))
}

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    let med = v[v.len() / 2];
    let max = v[v.len() - 1];
    format!("median {med:7.2} ms  max {max:7.2} ms  (n={})", v.len())
}

/// The README's SQL for each analyst question (MySQL form), `{name}` etc. filled in per sample.
const README_SQL: &[(&str, &str)] = &[
    (
        "who resolved X (pdns_client)",
        "SELECT INET6_NTOA(client), first_seen, last_seen, count FROM pdns_client \
         WHERE name_hash = UNHEX(LEFT(SHA2('{name}', 256), 32)) ORDER BY last_seen DESC LIMIT 1000",
    ),
    (
        "which IPs X mapped to (pdns_rr)",
        "SELECT rrval, first_seen, last_seen, count, ttl_min FROM pdns_rr \
         WHERE rrname_rev = '{target_rev}' AND rrtype IN (1, 28) LIMIT 1000",
    ),
    (
        "names that pointed at an IP (pdns_rr)",
        "SELECT rrname, rrtype, first_seen, last_seen, count FROM pdns_rr \
         WHERE rrval = '{ip}' LIMIT 1000",
    ),
    (
        "subdomains of a domain (pdns_rr)",
        "SELECT rrname, MIN(first_seen), MAX(last_seen), SUM(count) FROM pdns_rr \
         WHERE rrname_rev > '{domain_rev}' AND rrname_rev < '{domain_hi}' GROUP BY rrname LIMIT 1000",
    ),
    (
        "first seen / count of a name (pdns_rr)",
        "SELECT MIN(first_seen), MAX(last_seen), SUM(count) FROM pdns_rr \
         WHERE rrname_rev = '{name_rev}'",
    ),
    (
        "first seen / clients of a name (pdns_client)",
        "SELECT MIN(first_seen), MAX(last_seen), SUM(count), COUNT(*) FROM pdns_client \
         WHERE name_hash = UNHEX(LEFT(SHA2('{name}', 256), 32))",
    ),
    (
        "names first seen in the last hour (pdns_rr)",
        "SELECT p.rrname, MIN(p.first_seen) AS fs, MAX(p.last_seen), SUM(p.count) FROM \
         (SELECT DISTINCT rrname_rev FROM pdns_rr WHERE first_seen_insert >= '2024-01-01 23:00:00') n \
         JOIN pdns_rr p ON p.rrname_rev = n.rrname_rev \
         GROUP BY p.rrname HAVING MIN(p.first_seen) >= '2024-01-01 23:00:00' ORDER BY fs DESC LIMIT 100",
    ),
    (
        "raw rows of a name + flow (dns.rrname)",
        "SELECT d.rrname, d.rrval, f.srcip4, f.dstip4, f.flowStartMilliseconds FROM dns d \
         JOIN flows f ON f.id = d.id WHERE d.rrname = '{name}' ORDER BY f.id DESC LIMIT 1000",
    ),
    (
        "raw rows of a name, newest 1000 (dns.rrname)",
        "SELECT d.id, d.rrname, d.rrval, f.srcip4, f.dstip4, f.flowStartMilliseconds FROM \
         (SELECT id, rrname, rrval FROM dns WHERE rrname = '{name}' ORDER BY id DESC LIMIT 1000) d \
         JOIN flows f ON f.id = d.id",
    ),
    (
        "seed query 1 verbatim (dns.rrname)",
        "SELECT rrname,rrval,srcip4,dstip4,flowStartMilliseconds FROM dns d, flows f WHERE f.id = d.id AND rrname LIKE \"{name}\" GROUP by rrval ORDER BY f.id DESC LIMIT 50",
    ),
];

struct Sample {
    name: String,
    name_rev: String,
    target: String,
    target_rev: String,
    ip: String,
    domain: String,
    domain_rev: String,
    domain_hi: String,
}

impl Sample {
    fn of(f: &FlowRow) -> Sample {
        let name = f.dns[0].rrname.clone();
        let target = f.dns[1].rrval.clone();
        let domain = name
            .split_once('.')
            .map(|x| x.1.to_string())
            .unwrap_or_default();
        let (domain_rev, domain_hi) = prep::subdomain_range(&domain);
        Sample {
            name_rev: prep::reverse_name(&prep::normalize_name(&name)),
            target_rev: prep::reverse_name(&prep::normalize_name(&target)),
            ip: f.dns[2].rrval.clone(),
            name,
            target,
            domain,
            domain_rev,
            domain_hi,
        }
    }

    fn fill(&self, sql: &str) -> String {
        sql.replace("{name}", &self.name)
            .replace("{name_rev}", &self.name_rev)
            .replace("{target_rev}", &self.target_rev)
            .replace("{ip}", &self.ip)
            .replace("{domain_rev}", &self.domain_rev)
            .replace("{domain_hi}", &self.domain_hi)
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

async fn time_lookups(store: &Store, flows: &[FlowRow]) {
    let samples: Vec<Sample> = flows.iter().map(Sample::of).collect();
    let pool = pool_of(store);
    let mut c = pool.get_conn().await.expect("conn");

    println!("EXPLAIN of the README's queries (first sample):");
    for (what, sql) in README_SQL {
        let rows: Vec<mysql_async::Row> = c
            .query(format!("EXPLAIN {}", samples[0].fill(sql)))
            .await
            .expect("explain");
        let plan: Vec<String> = rows
            .into_iter()
            .map(|r| {
                let table: Option<String> = r.get("table").flatten();
                let kind: Option<String> = r.get("type").flatten();
                let key: Option<String> = r.get("key").flatten();
                let n: Option<String> = r
                    .get::<Option<Value>, _>("rows")
                    .flatten()
                    .map(|v| v.as_sql(true));
                format!(
                    "{}:{}/{} rows~{}",
                    table.unwrap_or_default(),
                    kind.unwrap_or_default(),
                    key.unwrap_or_else(|| "NO INDEX".into()),
                    n.unwrap_or_default()
                )
            })
            .collect();
        println!("  {what:<46} {}", plan.join("  "));
    }

    println!(
        "README SQL timings ({} samples, popularity-weighted names):",
        samples.len()
    );
    for (what, sql) in README_SQL {
        let mut v = Vec::new();
        let mut empty = 0;
        for smp in &samples {
            let q = smp.fill(sql);
            let t = Instant::now();
            let rows: Vec<mysql_async::Row> = c.query(q).await.expect("query");
            v.push(ms_since(t));
            if rows.is_empty() {
                empty += 1;
            }
        }
        println!("  {what:<46} {}  ({empty} empty)", stats(v));
    }

    println!("mediator query API timings (store calls, as `mediator query` runs them):");
    let mut exact = Vec::new();
    let mut who = Vec::new();
    let mut subs = Vec::new();
    let mut by_ip = Vec::new();
    let mut first = Vec::new();
    for smp in &samples {
        let t = Instant::now();
        let v = store.name_values(&smp.target, None, 100).await.expect("q");
        exact.push(ms_since(t));
        assert!(!v.is_empty());
        let t = Instant::now();
        let v = store.who_resolved(&smp.name, 0, 100).await.expect("q");
        who.push(ms_since(t));
        assert!(!v.is_empty());
        let t = Instant::now();
        let v = store.subdomains(&smp.domain, 1000).await.expect("q");
        subs.push(ms_since(t));
        assert!(!v.is_empty());
        let t = Instant::now();
        let v = store.by_value(&smp.ip, 100).await.expect("q");
        by_ip.push(ms_since(t));
        assert!(!v.is_empty());
        let t = Instant::now();
        let v = store.name_summary(&smp.name).await.expect("q");
        first.push(ms_since(t));
        assert!(v.is_some());
    }
    println!(
        "  exact name (name_values)                       {}",
        stats(exact)
    );
    println!(
        "  who resolved (who_resolved)                    {}",
        stats(who)
    );
    println!(
        "  subdomains (subdomains)                        {}",
        stats(subs)
    );
    println!(
        "  by IP value (by_value)                         {}",
        stats(by_ip)
    );
    println!(
        "  first seen + clients (name_summary)            {}",
        stats(first)
    );
    let t = Instant::now();
    let _: Vec<mysql_async::Row> = c
        .query(r#"SELECT qr,type,auth,nx,ttl,rrname,rrval from dns WHERE rrname LIKE "%.youtube.com." GROUP BY rrval LIMIT 50;"#)
        .await
        .expect("seed query 2");
    println!(
        "  seed query 2 verbatim (LIKE '%...': full scan)  {:8.1} ms",
        ms_since(t)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; nothing else is expected.
    let rr = env_usize("STORE_BENCH_RR", 1_000_000);
    let lookup_rr = env_usize("STORE_BENCH_LOOKUP_RR", 2_000_000);
    let batch_flows = env_usize("STORE_BENCH_BATCH_FLOWS", 10_000).max(1);
    let file = std::env::var_os("STORE_BENCH_FILE").map(std::path::PathBuf::from);
    // Without MYSQL_URL, a private server with the deployment's settings (a test server's
    // small buffer pool and redo log would measure a server no one should deploy).
    let (url, _private) = match std::env::var("MYSQL_URL") {
        Ok(u) if !u.is_empty() => (u, None),
        _ => {
            let opts = mdb::deployment_options().expect("deploy/mariadb/pdns.cnf");
            println!(
                "private MariaDB with deploy/mariadb/pdns.cnf: {}",
                opts.join(" ")
            );
            let p = mdb::PrivateServer::start_with(opts).expect("private MariaDB");
            (p.url(), Some(p))
        }
    };
    let t = Instant::now();
    let batches = match &file {
        Some(path) => {
            let b = file_batches(path);
            println!("decoded and mapped in {:.1} s", t.elapsed().as_secs_f64());
            b
        }
        None => {
            println!(
                "store_load: {rr} generated DNS rows ({} flows, {RR_PER_FLOW} RRs each), batches of {batch_flows} flows",
                rr / RR_PER_FLOW
            );
            let b = make_batches("bench", 0, rr, batch_flows);
            println!("generated in {:.1} s", t.elapsed().as_secs_f64());
            b
        }
    };
    // What a larger chunk size (ingest::CHUNK_BYTES x k) would commit: k consecutive batches
    // as one, so more repeated aggregate keys are merged before they reach the server.
    let merge = env_usize("STORE_BENCH_MERGE", 1).max(1);
    let batches = if merge > 1 {
        let merged = merge_batches(batches, merge);
        println!("merged every {merge} consecutive batches into one");
        merged
    } else {
        batches
    };
    let dns_rows: usize = batches.iter().map(Batch::dns_row_count).sum();
    let flow_rows: usize = batches.iter().map(|b| b.flows.len()).sum();
    let tcp_rows: usize = batches
        .iter()
        .map(|b| b.flows.iter().filter(|f| f.tcp.is_some()).count())
        .sum();
    assert!(dns_rows > 0, "no DNS rows in the input");
    let keys = upserted_keys(&batches);
    let per_row = |n: usize| n as f64 / dns_rows as f64;
    println!(
        "input: {} batches, {flow_rows} flows ({tcp_rows} with tcp rows), {dns_rows} DNS rows; \
         aggregate keys upserted after per-batch pre-aggregation, per DNS row: pdns_rr {} ({:.3}), \
         pdns_client {} ({:.3}), pdns_resolver {} ({:.4})",
        batches.len(),
        keys.0,
        per_row(keys.0),
        keys.1,
        per_row(keys.1),
        keys.2,
        per_row(keys.2)
    );

    let tag = std::process::id();
    let repeat = env_usize("STORE_BENCH_REPEAT", 1).max(1);
    let mut ratios = Vec::new();
    let mut ours_rates = Vec::new();
    let mut plain_rates = Vec::new();
    let mut cpu_ratios = Vec::new();
    let mut ours_keep: Option<Store> = None;
    // The server's CPU is readable when it runs on this machine: the private server, or a
    // MYSQL_URL on the loopback (a remote server's pid file path could name a local process).
    let local = std::env::var("MYSQL_URL").map_or(true, |u| {
        ["@127.0.0.1", "@localhost", "@[::1]"]
            .iter()
            .any(|h| u.contains(h))
    });
    let pid = if local {
        let probe = mysql_store(&url, &format!("bench_probe_{}", std::process::id())).await;
        server_pid(pool_of(&probe)).await
    } else {
        None
    };
    for round in 0..repeat {
        println!("-- round {} of {repeat}", round + 1);
        // Rotate the order so that neither side always runs on the warmer (or busier) server.
        let mut d_ours = Duration::ZERO;
        let mut d_bulk = Duration::ZERO;
        let mut d_load: Result<Duration, String> = Err("not run".into());
        let (mut c_ours, mut c_bulk, mut c_load) =
            (Cost::default(), Cost::default(), Cost::default());
        for step in 0..3 {
            match (step + round) % 3 {
                0 => {
                    let mut ours = mysql_store(&url, &format!("bench_ours_{tag}_{round}")).await;
                    if let Ok(v) = std::env::var("STORE_BENCH_WB") {
                        ours.set_write_behind_keys(v.parse().expect("STORE_BENCH_WB: a number"));
                    }
                    if let Store::Mysql(m) = &ours {
                        m.reset_statement_timings();
                        if std::env::var("STORE_BENCH_NO_LOAD_DATA").is_ok_and(|v| v == "1") {
                            m.disable_load_data();
                        }
                    }
                    let waits0 = row_lock_waits(pool_of(&ours)).await;
                    let c0 = cost_now(pool_of(&ours), pid.as_deref()).await;
                    d_ours = load_ours(&ours, &batches).await;
                    c_ours = cost_now(pool_of(&ours), pid.as_deref()).await.since(c0);
                    let waits1 = row_lock_waits(pool_of(&ours)).await;
                    let counts = ours.counts().await.expect("counts");
                    assert_eq!(counts.dns as usize, dns_rows);
                    assert_eq!(counts.flows as usize, flow_rows);
                    assert_eq!(counts.tcp as usize, tcp_rows);
                    println!(
                        "ours: commit_batch (ledger + ids + flows/dns + aggregates): {:>7.0} rows/s  ({:.1} s; pdns_rr {}, pdns_client {}, pdns_resolver {})",
                        rate(dns_rows, d_ours),
                        d_ours.as_secs_f64(),
                        counts.pdns_rr,
                        counts.pdns_client,
                        counts.pdns_resolver
                    );
                    println!("  {}", c_ours.line(dns_rows));
                    println!(
                        "  distinct keys per DNS row: pdns_rr {:.3}, pdns_client {:.3}, pdns_resolver {:.4} \
                         (new keys / upserted keys: {:.0} %, {:.0} %, {:.0} %)",
                        per_row(counts.pdns_rr as usize),
                        per_row(counts.pdns_client as usize),
                        per_row(counts.pdns_resolver as usize),
                        100.0 * counts.pdns_rr as f64 / keys.0.max(1) as f64,
                        100.0 * counts.pdns_client as f64 / keys.1.max(1) as f64,
                        100.0 * counts.pdns_resolver as f64 / keys.2.max(1) as f64
                    );
                    println!(
                        "  row lock waits between our concurrent commits: {} waits, {} ms",
                        waits1.0.saturating_sub(waits0.0),
                        waits1.1.saturating_sub(waits0.1)
                    );
                    if let Store::Mysql(m) = &ours {
                        let mut t = m.statement_timings();
                        t.sort_by_key(|x| std::cmp::Reverse(x.elapsed));
                        for x in &t {
                            println!(
                                "  {:<22} {:>7.2} s  {:>5.1} %  {:>9} rows in {} calls",
                                x.statement,
                                x.elapsed.as_secs_f64(),
                                100.0 * x.elapsed.as_secs_f64() / d_ours.as_secs_f64(),
                                x.rows,
                                x.calls
                            );
                        }
                    }
                    ours_keep = Some(ours);
                }
                1 => {
                    let plain = mysql_store(&url, &format!("bench_pbulk_{tag}_{round}")).await;
                    let c0 = cost_now(pool_of(&plain), pid.as_deref()).await;
                    d_bulk = plain_same_schema_bulk(pool_of(&plain), &batches).await;
                    c_bulk = cost_now(pool_of(&plain), pid.as_deref()).await.since(c0);
                    check_raw_counts(&plain, flow_rows, tcp_rows, dns_rows).await;
                    println!(
                        "plain exec_batch, same schema (flows + dns):              {:>7.0} rows/s",
                        rate(dns_rows, d_bulk)
                    );
                    println!("  {}", c_bulk.line(dns_rows));
                }
                _ => {
                    let plain = mysql_store(&url, &format!("bench_pload_{tag}_{round}")).await;
                    let c0 = cost_now(pool_of(&plain), pid.as_deref()).await;
                    d_load = plain_same_schema_load(pool_of(&plain), &batches).await;
                    c_load = cost_now(pool_of(&plain), pid.as_deref()).await.since(c0);
                    if d_load.is_ok() {
                        check_raw_counts(&plain, flow_rows, tcp_rows, dns_rows).await;
                        println!("  {}", c_load.line(dns_rows));
                    }
                    match &d_load {
                        Ok(d) => println!(
                            "plain LOAD DATA LOCAL, same schema (flows + dns):         {:>7.0} rows/s",
                            rate(dns_rows, *d)
                        ),
                        Err(e) => println!("plain LOAD DATA LOCAL, same schema: failed: {e}"),
                    }
                }
            }
        }
        let (best_plain, c_plain) = match &d_load {
            Ok(l) if *l < d_bulk => (*l, c_load),
            _ => (d_bulk, c_bulk),
        };
        let ratio = 100.0 * best_plain.as_secs_f64() / d_ours.as_secs_f64();
        println!("ratio ours / fastest plain same-schema: {ratio:.0} %");
        // The same in CPU time (server + client): less disturbed by other jobs than wall-clock
        // time, but blind to what two commits in flight gain from the second core.
        if let Some((p, o)) = c_plain.total_cpu().zip(c_ours.total_cpu()) {
            println!(
                "CPU-time ratio (fastest plain's CPU / ours), for context: {:.0} %",
                100.0 * p / o
            );
            cpu_ratios.push(100.0 * p / o);
        }
        ratios.push(ratio);
        ours_rates.push(rate(dns_rows, d_ours));
        plain_rates.push(rate(dns_rows, best_plain));
    }
    let spread = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        format!(
            "median {:.0}, min {:.0}, max {:.0} (n={})",
            v[v.len() / 2],
            v[0],
            v[v.len() - 1],
            v.len()
        )
    };
    println!("SUMMARY ours rows/s: {}", spread(ours_rates));
    println!(
        "SUMMARY fastest plain same-schema rows/s: {}",
        spread(plain_rates)
    );
    println!("SUMMARY ratio %: {}", spread(ratios));
    if !cpu_ratios.is_empty() {
        println!("SUMMARY CPU-time ratio % (context): {}", spread(cpu_ratios));
    }

    // Context only: the same dns rows into a table without secondary indexes.
    let bare = mysql_store(&url, &format!("bench_bare_{tag}")).await;
    let pool = pool_of(&bare);
    let d_bulk = bare_exec_batch(pool, &batches).await;
    println!(
        "context: exec_batch, bare dns table:        {:>9.0} rows/s",
        rate(dns_rows, d_bulk)
    );
    match bare_load_data(pool, &batches).await {
        Ok(d) => println!(
            "context: LOAD DATA LOCAL, bare dns table:   {:>9.0} rows/s",
            rate(dns_rows, d)
        ),
        Err(e) => println!("context: LOAD DATA LOCAL: failed: {e}"),
    }
    if std::env::var("STORE_BENCH_MULTI").is_ok_and(|v| v == "1") {
        let d_multi = bare_multi_row(pool, &batches).await;
        println!(
            "context: multi-row INSERT, bare dns table:  {:>9.0} rows/s",
            rate(dns_rows, d_multi)
        );
    }
    let ours = ours_keep.expect("at least one round");

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

    if let Some(path) = &file {
        if std::env::var("STORE_BENCH_E2E").is_ok_and(|v| v == "1") {
            let e2e = mysql_store(&url, &format!("bench_e2e_{tag}")).await;
            let cancel = tokio_util::sync::CancellationToken::new();
            let t = Instant::now();
            let load = mediator::source::file::load_file(path, "", &e2e, &cancel)
                .await
                .expect("load_file");
            let d = t.elapsed();
            assert_eq!(load.dns_loaded as usize, dns_rows);
            println!(
                "context: load_file (decode + map + commit, as --in-file runs it): {:>7.0} rows/s ({:.1} s)",
                rate(dns_rows, d),
                d.as_secs_f64()
            );
        }
        println!(
            "lookup timings skipped: they sample generated names (run without STORE_BENCH_FILE)"
        );
        return;
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
    let samples: Vec<FlowRow> = (0..env_usize("STORE_BENCH_LOOKUPS", 50))
        .map(|_| {
            let b = &batches[rng.below(batches.len() as u64) as usize];
            b.flows[rng.below(b.flows.len() as u64) as usize].clone()
        })
        .collect();
    time_lookups(&ours, &samples).await;
}
