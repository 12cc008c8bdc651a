//! Embedded SQLite backend (rusqlite, bundled): the zero-setup default with the same tables and
//! semantics as MySQL. One connection behind a mutex, used from `spawn_blocking` so the async
//! callers are never blocked; SQLite has one writer at a time anyway.
//!
//! Durability: WAL with `synchronous=FULL`, so a commit that returned survives a power loss,
//! which the ledger guarantee ("delete the input after commit") relies on.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension, TransactionBehavior};

use super::answers::{self, Param};
use super::error::from_sqlite;
use super::model::Batch;
use super::prep;
use super::{CommitOutcome, PruneReport, StoreError, SCHEMA_VERSION};

const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        include_str!("../../../../templates/sql/sqlite/001_initial.sql"),
    ),
    (
        2,
        include_str!("../../../../templates/sql/sqlite/002_lean_load.sql"),
    ),
    (
        3,
        include_str!("../../../../templates/sql/sqlite/003_drop_client_index.sql"),
    ),
    (
        4,
        include_str!("../../../../templates/sql/sqlite/004_first_seen_insert.sql"),
    ),
    (
        5,
        include_str!("../../../../templates/sql/sqlite/005_pending_aggregates.sql"),
    ),
];

/// Version 2's data step: pdns_client.name_hash becomes the plain SHA-256 prefix of the name
/// (SQLite has no SHA-256 function, so this cannot live in the .sql file). Runs inside the
/// migration's transaction.
fn rehash_client_names(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let rows: Vec<(i64, String)> = {
        let mut st = tx
            .prepare("SELECT id, rrname FROM pdns_client")
            .map_err(|e| from_sqlite("migration 2 read", e))?;
        let it = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| from_sqlite("migration 2 read", e))?;
        it.collect::<Result<_, _>>()
            .map_err(|e| from_sqlite("migration 2 read", e))?
    };
    let mut up = tx
        .prepare("UPDATE pdns_client SET name_hash = ?1 WHERE id = ?2")
        .map_err(|e| from_sqlite("migration 2 rehash", e))?;
    for (id, name) in rows {
        up.execute(rusqlite::params![prep::name_hash(&name).to_vec(), id])
            .map_err(|e| from_sqlite("migration 2 rehash", e))?;
    }
    Ok(())
}
const PRUNE_CHUNK: usize = 5_000;

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqliteStore({})", self.path.display())
    }
}

fn dt(ms: i64) -> Value {
    prep::text_from_ms(ms).map_or(Value::Null, Value::Text)
}

fn int(v: u64) -> Value {
    Value::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

fn lim(limit: usize) -> Value {
    int(limit as u64)
}

fn split_ip(ip: IpAddr) -> (Value, Value) {
    match ip {
        IpAddr::V4(a) => (Value::Integer(i64::from(u32::from(a))), Value::Null),
        IpAddr::V6(a) => (Value::Null, Value::Blob(a.octets().to_vec())),
    }
}

fn query_rows(
    c: &Connection,
    context: &'static str,
    sql: &str,
    params: Vec<Value>,
) -> Result<Vec<Vec<Value>>, StoreError> {
    let mut stmt = c.prepare_cached(sql).map_err(|e| from_sqlite(context, e))?;
    let n = stmt.column_count();
    let rows = stmt
        .query_map(params_from_iter(params), |r| {
            (0..n).map(|i| r.get::<_, Value>(i)).collect()
        })
        .map_err(|e| from_sqlite(context, e))?;
    rows.collect::<Result<Vec<Vec<Value>>, _>>()
        .map_err(|e| from_sqlite(context, e))
}

impl SqliteStore {
    /// Opens (creating) the database file. Tables are created by `init`.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let p = path.to_path_buf();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, StoreError> {
            let c = Connection::open(&p).map_err(|e| from_sqlite("open", e))?;
            c.busy_timeout(std::time::Duration::from_secs(10))
                .map_err(|e| from_sqlite("open", e))?;
            c.pragma_update(None, "journal_mode", "WAL")
                .map_err(|e| from_sqlite("open", e))?;
            c.pragma_update(None, "synchronous", "FULL")
                .map_err(|e| from_sqlite("open", e))?;
            // The default 2 MB page cache makes every aggregate upsert a cache miss once the
            // tables outgrow it; 64 MB keeps the hot index pages resident.
            c.pragma_update(None, "cache_size", -65_536)
                .map_err(|e| from_sqlite("open", e))?;
            Ok(c)
        })
        .await
        .map_err(|e| StoreError::permanent("sqlite open", e.to_string()))??;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path.to_path_buf()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection in a blocking thread (also for raw SQL in tests and tools).
    pub async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut g = conn
                .lock()
                .map_err(|_| StoreError::permanent("sqlite", "connection mutex poisoned"))?;
            f(&mut g)
        })
        .await
        .map_err(|e| StoreError::permanent("sqlite task", e.to_string()))?
    }

    pub async fn init(&self) -> Result<u32, StoreError> {
        self.with_conn(|c| {
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY, \
                 applied_at TEXT NOT NULL)",
            )
            .map_err(|e| from_sqlite("create schema_version", e))?;
            let current = version(c)?;
            if current > SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew {
                    found: current,
                    supported: SCHEMA_VERSION,
                });
            }
            for (v, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
                let tx = c
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(|e| from_sqlite("begin", e))?;
                tx.execute_batch(sql)
                    .map_err(|e| from_sqlite("apply migration", e))?;
                if *v == 2 {
                    rehash_client_names(&tx)?;
                }
                tx.execute(
                    "INSERT OR IGNORE INTO schema_version (version, applied_at) VALUES (?1, ?2)",
                    rusqlite::params![v, now_text()],
                )
                .map_err(|e| from_sqlite("record schema version", e))?;
                tx.commit().map_err(|e| from_sqlite("commit", e))?;
                tracing::info!(version = v, "sqlite schema migration applied");
            }
            version(c)
        })
        .await
    }

    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        self.with_conn(|c| version(c)).await
    }

    pub async fn commit_batch(&self, batch: &Batch) -> Result<CommitOutcome, StoreError> {
        // spawn_blocking needs owned data; a copy is cheap next to the disk writes.
        let batch = batch.clone();
        self.with_conn(move |c| commit(c, &batch)).await
    }

    pub async fn prune(&self, cutoff_ms: i64) -> Result<PruneReport, StoreError> {
        let cutoff = dt(prep::clamp_ms(cutoff_ms));
        let mut report = PruneReport::default();
        loop {
            let cutoff = cutoff.clone();
            let (flows, dns) = self
                .with_conn(move |c| {
                    let tx = c
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .map_err(|e| from_sqlite("begin", e))?;
                    let ids = query_rows(
                        &tx,
                        "prune select",
                        "SELECT id FROM flows WHERE flowStartMilliseconds < ?1 LIMIT ?2",
                        vec![cutoff, lim(PRUNE_CHUNK)],
                    )?;
                    if ids.is_empty() {
                        return Ok((0, 0));
                    }
                    let params: Vec<Value> = ids
                        .into_iter()
                        .filter_map(|r| r.into_iter().next())
                        .collect();
                    let marks = vec!["?"; params.len()].join(",");
                    let del = |table: &str| -> Result<usize, StoreError> {
                        tx.execute(
                            &format!("DELETE FROM {table} WHERE id IN ({marks})"),
                            params_from_iter(params.iter()),
                        )
                        .map_err(|e| from_sqlite("prune", e))
                    };
                    let dns = del("dns")?;
                    del("tcp")?;
                    let flows = del("flows")?;
                    tx.commit().map_err(|e| from_sqlite("commit", e))?;
                    Ok((flows as u64, dns as u64))
                })
                .await?;
            if flows == 0 {
                return Ok(report);
            }
            report.flows += flows;
            report.dns_rows += dns;
        }
    }
}

fn now_text() -> String {
    let now = time::OffsetDateTime::now_utc();
    let ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    prep::text_from_ms(ms).unwrap_or_default()
}

fn version(c: &Connection) -> Result<u32, StoreError> {
    let v: Option<Option<u32>> = c
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .optional()
        .map_err(|e| from_sqlite("read schema version", e))?;
    Ok(v.flatten().unwrap_or(0))
}

fn commit(c: &mut Connection, batch: &Batch) -> Result<CommitOutcome, StoreError> {
    let p = prep::prepare(batch)?;
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| from_sqlite("begin", e))?;
    let inserted = tx
        .execute(
            "INSERT INTO ingest_ledger (key_hash, chunk, source_key, label, flows, dns_rows, \
             loaded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
            rusqlite::params![
                p.key_hash.to_vec(),
                int(batch.chunk),
                prep::truncate_chars(&batch.source.key, prep::MAX_TEXT),
                prep::truncate_chars(&batch.source.label, prep::MAX_TEXT),
                p.flows as i64,
                p.dns_rows as i64,
                now_text(),
            ],
        )
        .map_err(|e| from_sqlite("ledger insert", e))?;
    if inserted == 0 {
        // Dropping the transaction rolls it back.
        return Ok(CommitOutcome::AlreadyLoaded);
    }
    if p.flows > 0 {
        let end: i64 = tx
            .query_row(
                "UPDATE id_alloc SET next_id = next_id + ?1 WHERE name = 'flows' RETURNING next_id",
                [p.flows as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| from_sqlite("allocate ids", e))?
            .ok_or_else(|| {
                StoreError::permanent("allocate ids", "id_alloc row missing: run init")
            })?;
        let first_id = end - p.flows as i64;
        {
            let mut fs = tx
                .prepare_cached(
                    "INSERT INTO flows (id, srcip4, dstip4, srcport, dstport, protocol, vlan, \
                     srcip6, dstip6, flowStartMilliseconds, flowEndMilliseconds, octetTotalCount, \
                     reverseOctetTotalCount, packetTotalCount, reversePacketTotalCount, \
                     silkAppLabel, flowEndReason, ObservationDomain, flowAttributes, \
                     reverseFlowAttributes, ingressInterface, egressInterface, sensor) \
                     VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                )
                .map_err(|e| from_sqlite("prepare flows", e))?;
            let mut ts = tx
                .prepare_cached(
                    "INSERT INTO tcp (id, tcpSequenceNumber, reverseTcpSequenceNumber, \
                     initialTCPFlags, reverseInitialTCPFlags, unionTCPFlags, reverseUnionTCPFlags) \
                     VALUES (?,?,?,?,?,?,?)",
                )
                .map_err(|e| from_sqlite("prepare tcp", e))?;
            let mut ds = tx
                .prepare_cached(
                    "INSERT INTO dns (id, seq, tid, qr, type, auth, nx, section, ttl, rrname, \
                     rrval) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                )
                .map_err(|e| from_sqlite("prepare dns", e))?;
            for ((i, f), dns) in batch.flows.iter().enumerate().zip(p.dns.iter()) {
                let id = first_id + i as i64;
                let (s4, s6) = split_ip(f.src);
                let (d4, d6) = split_ip(f.dst);
                let opt = |v: Option<u32>| v.map_or(Value::Null, |x| Value::Integer(i64::from(x)));
                let row: [Value; 23] = [
                    Value::Integer(id),
                    s4,
                    d4,
                    Value::Integer(i64::from(f.src_port)),
                    Value::Integer(i64::from(f.dst_port)),
                    Value::Integer(i64::from(f.protocol)),
                    Value::Integer(i64::from(f.vlan)),
                    s6,
                    d6,
                    dt(f.start_ms),
                    dt(f.end_ms),
                    int(f.octets),
                    int(f.reverse_octets),
                    int(f.packets),
                    int(f.reverse_packets),
                    Value::Integer(i64::from(f.silk_app_label)),
                    Value::Integer(i64::from(f.flow_end_reason)),
                    Value::Integer(i64::from(f.observation_domain)),
                    Value::Integer(i64::from(f.flow_attributes)),
                    Value::Integer(i64::from(f.reverse_flow_attributes)),
                    opt(f.ingress_interface),
                    opt(f.egress_interface),
                    Value::Text(prep::truncate_chars(&f.sensor, prep::MAX_SENSOR).to_string()),
                ];
                fs.execute(params_from_iter(row.iter()))
                    .map_err(|e| from_sqlite("insert flows", e))?;
                if let Some(t) = f.tcp {
                    ts.execute(rusqlite::params![
                        id,
                        t.seq,
                        t.reverse_seq,
                        prep::tcp_flags_text(t.initial_flags),
                        prep::tcp_flags_text(t.reverse_initial_flags),
                        prep::tcp_flags_text(t.union_flags),
                        prep::tcp_flags_text(t.reverse_union_flags),
                    ])
                    .map_err(|e| from_sqlite("insert tcp", e))?;
                }
                for d in dns {
                    ds.execute(rusqlite::params![
                        id,
                        d.seq,
                        d.row.dns_id,
                        d.row.qr,
                        d.row.rrtype,
                        d.row.auth,
                        d.row.rcode,
                        d.row.section,
                        d.row.ttl,
                        d.rrname,
                        d.rrval,
                    ])
                    .map_err(|e| from_sqlite("insert dns", e))?;
                }
            }
            let mut rs = tx
                .prepare_cached(
                    "INSERT INTO pdns_rr (rr_hash, rrname, rrname_rev, rrtype, rrval, first_seen, \
                     first_seen_insert, last_seen, count, ttl_min, ttl_max) \
                     VALUES (?,?,?,?,?,?,?,?,?,?,?) \
                     ON CONFLICT (rr_hash) DO UPDATE SET \
                     first_seen = min(first_seen, excluded.first_seen), \
                     last_seen = max(last_seen, excluded.last_seen), \
                     count = count + excluded.count, \
                     ttl_min = min(ttl_min, excluded.ttl_min), \
                     ttl_max = max(ttl_max, excluded.ttl_max)",
                )
                .map_err(|e| from_sqlite("prepare pdns_rr", e))?;
            for a in &p.rr {
                rs.execute(rusqlite::params![
                    a.hash.to_vec(),
                    a.rrname,
                    a.rrname_rev,
                    a.rrtype,
                    a.rrval,
                    dt(a.first_ms),
                    dt(a.first_ms),
                    dt(a.last_ms),
                    int(a.count),
                    a.ttl_min,
                    a.ttl_max,
                ])
                .map_err(|e| from_sqlite("upsert pdns_rr", e))?;
            }
            let mut cs = tx
                .prepare_cached(
                    "INSERT INTO pdns_client (name_hash, client, rrname, first_seen, \
                     last_seen, count) VALUES (?,?,?,?,?,?) \
                     ON CONFLICT (name_hash, client) DO UPDATE SET \
                     first_seen = min(first_seen, excluded.first_seen), \
                     last_seen = max(last_seen, excluded.last_seen), \
                     count = count + excluded.count",
                )
                .map_err(|e| from_sqlite("prepare pdns_client", e))?;
            for a in &p.clients {
                cs.execute(rusqlite::params![
                    a.name_hash.to_vec(),
                    a.client,
                    a.rrname,
                    dt(a.first_ms),
                    dt(a.last_ms),
                    int(a.count),
                ])
                .map_err(|e| from_sqlite("upsert pdns_client", e))?;
            }
            let mut vs = tx
                .prepare_cached(
                    "INSERT INTO pdns_resolver (client, resolver, port, first_seen, last_seen, \
                     count) VALUES (?,?,?,?,?,?) \
                     ON CONFLICT (client, resolver, port) DO UPDATE SET \
                     first_seen = min(first_seen, excluded.first_seen), \
                     last_seen = max(last_seen, excluded.last_seen), \
                     count = count + excluded.count",
                )
                .map_err(|e| from_sqlite("prepare pdns_resolver", e))?;
            for a in &p.resolvers {
                vs.execute(rusqlite::params![
                    a.client,
                    a.resolver,
                    a.port,
                    dt(a.first_ms),
                    dt(a.last_ms),
                    int(a.count),
                ])
                .map_err(|e| from_sqlite("upsert pdns_resolver", e))?;
            }
        }
    }
    tx.commit().map_err(|e| from_sqlite("commit", e))?;
    Ok(CommitOutcome::Loaded {
        flows: p.flows as u64,
        dns_rows: p.dns_rows as u64,
    })
}

impl answers::Cell for Value {
    fn ms(&self) -> i64 {
        match self {
            Value::Text(s) => prep::ms_from_text(s).unwrap_or(0),
            _ => 0,
        }
    }

    fn num(&self) -> u64 {
        match self {
            Value::Integer(i) => u64::try_from(*i).unwrap_or(0),
            Value::Real(r) => *r as u64,
            _ => 0,
        }
    }

    fn text(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Integer(i) => i.to_string(),
            _ => String::new(),
        }
    }

    fn ip(&self) -> Option<IpAddr> {
        match self {
            Value::Blob(b) => prep::ip_from_bytes(b),
            _ => None,
        }
    }
}

impl From<Param> for Value {
    fn from(p: Param) -> Value {
        match p {
            Param::Bytes(b) => Value::Blob(b),
            Param::Text(t) => Value::Text(t),
            Param::UInt(u) => int(u),
            Param::Time(ms) => dt(ms),
        }
    }
}

impl answers::Rows for SqliteStore {
    type Cell = Value;
    const TLD_EXPR: &'static str = "CASE WHEN instr(rrname_rev, '.') > 0 \
        THEN substr(rrname_rev, 1, instr(rrname_rev, '.') - 1) ELSE rrname_rev END";

    async fn rows(
        &self,
        context: &'static str,
        sql: String,
        params: Vec<Param>,
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let params: Vec<Value> = params.into_iter().map(Value::from).collect();
        self.with_conn(move |c| query_rows(c, context, &sql, params))
            .await
    }
}
