//! MySQL/MariaDB backend (mysql_async). See the module docs of `store` for the guarantees and
//! the loading method.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, IsolationLevel, OptsBuilder, Params, Pool, Row, TxOpts, Value};

use super::answers::{self, Param};
use super::error::from_mysql;
use super::infile::{self, Tsv};
use super::model::{Batch, FlowRow, TcpRow};
use super::pending::{self, Behind, Merged};
use super::prep::{self, Prepared, PreparedDns, ResolverAgg, RrAgg};
use super::{CommitOutcome, PruneReport, StoreError, SCHEMA_VERSION};
use crate::dbconfig::{valid_identifier, MysqlConfig};

/// Two transactions in flight: the server works on one batch's raw rows while the other's
/// aggregate upserts run, on two cores (benches/store_load.rs: about 1.5x one at a time on a
/// quiet 2-core machine). Deadlock-free because every batch takes its aggregate row locks in
/// key order (prep.rs sorts them) and ids come from an autocommit counter.
pub const DEFAULT_PARALLEL_COMMITS: usize = 2;

/// Migrations by version: each file is applied once, in order.
const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        include_str!("../../../../templates/sql/mysql/001_initial.sql"),
    ),
    (
        2,
        include_str!("../../../../templates/sql/mysql/002_lean_load.sql"),
    ),
    (
        3,
        include_str!("../../../../templates/sql/mysql/003_drop_client_index.sql"),
    ),
    (
        4,
        include_str!("../../../../templates/sql/mysql/004_first_seen_insert.sql"),
    ),
    (
        5,
        include_str!("../../../../templates/sql/mysql/005_pending_aggregates.sql"),
    ),
];

/// "Can't DROP ...; check that it exists", "Duplicate column name", "Duplicate key name": MySQL
/// DDL is not transactional, so a migration interrupted half-way is re-run from its first
/// statement, and a DROP or ADD that fails this way was applied by the earlier run (each ALTER
/// is atomic on its own and does one of them). Nothing else is tolerated.
const MIGRATION_DONE_ERRORS: &[u16] = &[1091, 1060, 1061];

/// MySQL's duplicate-key error: the ledger already holds the batch.
const ER_DUP_ENTRY: u16 = 1062;
/// Rows per `exec_batch` call; halved after "packet too large". mysql_async already splits a
/// bulk execute by max_allowed_packet, so this only bounds client memory per call.
const DEFAULT_ROWS_PER_EXEC: usize = 100_000;
const MIN_ROWS_PER_EXEC: usize = 1;
/// The server refuses LOAD DATA LOCAL (local_infile=0): ER_NOT_ALLOWED_COMMAND (MySQL 5.x,
/// older MariaDB), ER_CLIENT_LOCAL_FILES_DISABLED (MySQL 8), ER_LOAD_INFILE_CAPABILITY_DISABLED
/// (MariaDB 10.5+; tests/store_load_data.rs).
const INFILE_REFUSED: &[u16] = &[1148, 3948, 4166];
/// Flows deleted per prune transaction: short transactions, bounded undo log, bounded
/// placeholder count.
const PRUNE_CHUNK: usize = 5_000;
/// Distinct pdns_rr and pdns_resolver keys merged in memory before they are applied (besides
/// the end of every file): about 250 B each, so at most about 64 MiB. 0 applies every batch's
/// keys in its own transaction.
pub const DEFAULT_WRITE_BEHIND_KEYS: usize = 262_144;
/// `pdns_pending` rows read back per transaction when applying them from the table (start-up
/// recovery, or after a flush failed): at most 32 MiB of payload.
const PENDING_ROWS_PER_APPLY: usize = 64;

#[derive(Clone)]
pub struct MysqlStore {
    pool: Pool,
    cfg: Arc<MysqlConfig>,
    rows_per_exec: Arc<AtomicUsize>,
    timings: Arc<Mutex<Vec<StatementTiming>>>,
    parallel_commits: usize,
    /// Raw rows go through LOAD DATA LOCAL until the server refuses it or a load does not come
    /// back exact; then bound parameters for the rest of the store's life.
    use_infile: Arc<AtomicBool>,
    files: Arc<infile::Files>,
    /// See [`DEFAULT_WRITE_BEHIND_KEYS`]; 0 = aggregates in each batch's transaction.
    write_behind_keys: usize,
    behind: Arc<Mutex<Behind>>,
}

/// How the raw rows of a batch were written, or why LOAD DATA could not be used.
enum RawLoad {
    Done,
    /// Refused before any row was written: the same transaction goes on with bound parameters.
    Refused(String),
}

/// Cumulative time spent in one statement of the commit path, since open or the last reset:
/// where a load's time goes (the benchmark prints it), without a profiler on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementTiming {
    pub statement: &'static str,
    pub calls: u64,
    pub rows: u64,
    pub elapsed: Duration,
}

impl std::fmt::Debug for MysqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // MysqlConfig's Display never includes the password.
        write!(f, "MysqlStore({})", self.cfg)
    }
}

fn opts(cfg: &MysqlConfig, with_db: bool) -> OptsBuilder {
    opts_with(cfg, with_db, None)
}

fn opts_with(cfg: &MysqlConfig, with_db: bool, files: Option<&Arc<infile::Files>>) -> OptsBuilder {
    let mut b = OptsBuilder::default()
        .ip_or_hostname(cfg.host.clone())
        .tcp_port(cfg.port)
        .user(Some(cfg.user.clone()))
        .pass(cfg.password.as_ref().map(|p| p.expose().to_string()))
        .db_name(with_db.then(|| cfg.database.clone()))
        // Our own statements only; keep a few prepared per connection.
        .stmt_cache_size(64)
        .local_infile_handler(files.map(|f| infile::Handler(Arc::clone(f))));
    if let Some(s) = &cfg.socket {
        b = b.socket(Some(s.to_string_lossy().into_owned()));
    }
    b
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

fn cols(row: Row) -> Vec<Value> {
    row.unwrap()
}

/// A raw row's cells, written once for both ways the row can reach the server: bound
/// parameters and LOAD DATA text.
trait RowCells {
    fn uint(&mut self, v: u64);
    fn opt_uint(&mut self, v: Option<u64>);
    /// An IPv6 address's octets, or NULL.
    fn ip6(&mut self, v: Option<[u8; 16]>);
    fn datetime(&mut self, ms: i64);
    fn text(&mut self, s: &str);
}

impl RowCells for Vec<Value> {
    fn uint(&mut self, v: u64) {
        self.push(Value::UInt(v));
    }
    fn opt_uint(&mut self, v: Option<u64>) {
        self.push(v.map_or(Value::NULL, Value::UInt));
    }
    fn ip6(&mut self, v: Option<[u8; 16]>) {
        self.push(v.map_or(Value::NULL, |o| Value::Bytes(o.to_vec())));
    }
    fn datetime(&mut self, ms: i64) {
        self.push(dt(ms));
    }
    fn text(&mut self, s: &str) {
        self.push(Value::from(s));
    }
}

/// IPv6 addresses in hex, for the LOAD DATA statements' UNHEX.
impl RowCells for Tsv {
    fn uint(&mut self, v: u64) {
        Tsv::uint(self, v);
    }
    fn opt_uint(&mut self, v: Option<u64>) {
        Tsv::opt_uint(self, v);
    }
    fn ip6(&mut self, v: Option<[u8; 16]>) {
        match v {
            Some(o) => self.hex(&o),
            None => self.null(),
        }
    }
    fn datetime(&mut self, ms: i64) {
        Tsv::datetime(self, ms);
    }
    fn text(&mut self, s: &str) {
        Tsv::text(self, s);
    }
}

/// A flows row in the column order of the flows INSERT and LOAD DATA statements. The old
/// schema keeps IPv4 as an unsigned integer and IPv6 as BINARY(16) in separate columns; the
/// unused one is NULL.
fn flow_cells(out: &mut impl RowCells, id: u64, f: &FlowRow) {
    let split = |ip: IpAddr| match ip {
        IpAddr::V4(a) => (Some(u64::from(u32::from(a))), None),
        IpAddr::V6(a) => (None, Some(a.octets())),
    };
    let (s4, s6) = split(f.src);
    let (d4, d6) = split(f.dst);
    out.uint(id);
    out.opt_uint(s4);
    out.opt_uint(d4);
    out.uint(u64::from(f.src_port));
    out.uint(u64::from(f.dst_port));
    out.uint(u64::from(f.protocol));
    out.uint(u64::from(f.vlan));
    out.ip6(s6);
    out.ip6(d6);
    out.datetime(f.start_ms);
    out.datetime(f.end_ms);
    out.uint(f.octets);
    out.uint(f.reverse_octets);
    out.uint(f.packets);
    out.uint(f.reverse_packets);
    out.uint(u64::from(f.silk_app_label));
    out.uint(u64::from(f.flow_end_reason));
    out.uint(u64::from(f.observation_domain));
    out.uint(u64::from(f.flow_attributes));
    out.uint(u64::from(f.reverse_flow_attributes));
    out.opt_uint(f.ingress_interface.map(u64::from));
    out.opt_uint(f.egress_interface.map(u64::from));
    out.text(prep::truncate_chars(&f.sensor, prep::MAX_SENSOR));
}

/// A tcp row in the column order of `INSERT_TCP`/`LOAD_TCP`: the numbers, then the flags as
/// text.
fn tcp_cells(out: &mut impl RowCells, id: u64, t: &TcpRow) {
    out.uint(id);
    out.uint(u64::from(t.seq));
    out.uint(u64::from(t.reverse_seq));
    for flags in [
        t.initial_flags,
        t.reverse_initial_flags,
        t.union_flags,
        t.reverse_union_flags,
    ] {
        out.text(&prep::tcp_flags_text(flags));
    }
}

/// A dns row in the column order of `INSERT_DNS`/`LOAD_DNS`.
fn dns_cells(out: &mut impl RowCells, id: u64, d: &PreparedDns<'_>) {
    for n in [
        id,
        u64::from(d.seq),
        u64::from(d.row.dns_id),
        u64::from(d.row.qr),
        u64::from(d.row.rrtype),
        u64::from(d.row.auth),
        u64::from(d.row.rcode),
        u64::from(d.row.section),
        u64::from(d.row.ttl),
    ] {
        out.uint(n);
    }
    out.text(d.rrname);
    out.text(d.rrval);
}

/// Bound parameters for one row written by `cells`.
fn params_of(capacity: usize, cells: impl FnOnce(&mut Vec<Value>)) -> Params {
    let mut v = Vec::with_capacity(capacity);
    cells(&mut v);
    Params::Positional(v)
}

const INSERT_FLOW: &str = "INSERT INTO flows (id, srcip4, dstip4, srcport, dstport, protocol, \
    vlan, srcip6, dstip6, flowStartMilliseconds, flowEndMilliseconds, octetTotalCount, \
    reverseOctetTotalCount, packetTotalCount, reversePacketTotalCount, silkAppLabel, \
    flowEndReason, ObservationDomain, flowAttributes, reverseFlowAttributes, ingressInterface, \
    egressInterface, sensor) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
const INSERT_TCP: &str = "INSERT INTO tcp (id, tcpSequenceNumber, reverseTcpSequenceNumber, \
    initialTCPFlags, reverseInitialTCPFlags, unionTCPFlags, reverseUnionTCPFlags) \
    VALUES (?,?,?,?,?,?,?)";
const INSERT_DNS: &str = "INSERT INTO dns (id, seq, tid, qr, type, auth, nx, section, ttl, \
    rrname, rrval) VALUES (?,?,?,?,?,?,?,?,?,?,?)";
// LOAD DATA forms of the three inserts above ({file} and {format} filled in per statement).
const LOAD_FLOWS: &str = "LOAD DATA LOCAL INFILE '{file}' INTO TABLE flows {format} (id, srcip4, \
    dstip4, srcport, dstport, protocol, vlan, @s6, @d6, flowStartMilliseconds, \
    flowEndMilliseconds, octetTotalCount, reverseOctetTotalCount, packetTotalCount, \
    reversePacketTotalCount, silkAppLabel, flowEndReason, ObservationDomain, flowAttributes, \
    reverseFlowAttributes, ingressInterface, egressInterface, sensor) \
    SET srcip6 = UNHEX(@s6), dstip6 = UNHEX(@d6)";
const LOAD_TCP: &str = "LOAD DATA LOCAL INFILE '{file}' INTO TABLE tcp {format} (id, \
    tcpSequenceNumber, reverseTcpSequenceNumber, initialTCPFlags, reverseInitialTCPFlags, \
    unionTCPFlags, reverseUnionTCPFlags)";
const LOAD_DNS: &str = "LOAD DATA LOCAL INFILE '{file}' INTO TABLE dns {format} (id, seq, tid, \
    qr, type, auth, nx, section, ttl, rrname, rrval)";
/// `first_seen_insert` is written once, at insert (schema 4).
const UPSERT_RR: &str = "INSERT INTO pdns_rr (rr_hash, rrname, rrname_rev, rrtype, rrval, \
    first_seen, first_seen_insert, last_seen, count, ttl_min, ttl_max) \
    VALUES (?,?,?,?,?,?,?,?,?,?,?) \
    ON DUPLICATE KEY UPDATE first_seen = LEAST(first_seen, VALUES(first_seen)), \
    last_seen = GREATEST(last_seen, VALUES(last_seen)), count = count + VALUES(count), \
    ttl_min = LEAST(ttl_min, VALUES(ttl_min)), ttl_max = GREATEST(ttl_max, VALUES(ttl_max))";
const UPSERT_CLIENT: &str = "INSERT INTO pdns_client (name_hash, client, rrname, \
    first_seen, last_seen, count) VALUES (?,?,?,?,?,?) \
    ON DUPLICATE KEY UPDATE first_seen = LEAST(first_seen, VALUES(first_seen)), \
    last_seen = GREATEST(last_seen, VALUES(last_seen)), count = count + VALUES(count)";
const UPSERT_RESOLVER: &str = "INSERT INTO pdns_resolver (client, resolver, port, first_seen, \
    last_seen, count) VALUES (?,?,?,?,?,?) \
    ON DUPLICATE KEY UPDATE first_seen = LEAST(first_seen, VALUES(first_seen)), \
    last_seen = GREATEST(last_seen, VALUES(last_seen)), count = count + VALUES(count)";

impl MysqlStore {
    pub fn open(cfg: &MysqlConfig) -> Result<MysqlStore, StoreError> {
        if !valid_identifier(&cfg.database) {
            return Err(StoreError::Config(format!(
                "bad database name {:?}",
                cfg.database
            )));
        }
        let files = Arc::new(infile::Files::default());
        Ok(MysqlStore {
            pool: Pool::new(opts_with(cfg, true, Some(&files))),
            cfg: Arc::new(cfg.clone()),
            rows_per_exec: Arc::new(AtomicUsize::new(DEFAULT_ROWS_PER_EXEC)),
            timings: Arc::default(),
            parallel_commits: DEFAULT_PARALLEL_COMMITS,
            use_infile: Arc::new(AtomicBool::new(true)),
            files,
            write_behind_keys: DEFAULT_WRITE_BEHIND_KEYS,
            behind: Arc::default(),
        })
    }

    /// Batches of one file committed at the same time, each in its own transaction on its
    /// own connection.
    pub fn parallel_commits(&self) -> usize {
        self.parallel_commits
    }

    pub fn set_parallel_commits(&mut self, n: usize) {
        self.parallel_commits = n.max(1);
    }

    /// How many merged aggregate keys may wait for [`MysqlStore::flush_aggregates`] before a
    /// commit applies them itself; 0 upserts them in every batch's own transaction.
    pub fn set_write_behind_keys(&mut self, n: usize) {
        self.write_behind_keys = n;
    }

    /// Whether raw rows are loaded with LOAD DATA LOCAL (else bound parameters).
    pub fn uses_load_data(&self) -> bool {
        self.use_infile.load(Ordering::Relaxed)
    }

    /// Loads raw rows with bound parameters only (tests compare both paths; an operator whose
    /// server allows LOAD DATA LOCAL has no reason to).
    pub fn disable_load_data(&self) {
        self.use_infile.store(false, Ordering::Relaxed);
    }

    /// The connection pool, for callers that need raw SQL (tests, the seed queries).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn config(&self) -> &MysqlConfig {
        &self.cfg
    }

    /// Time per commit-path statement since open or the last `reset_statement_timings`.
    pub fn statement_timings(&self) -> Vec<StatementTiming> {
        self.timings.lock().map(|t| t.clone()).unwrap_or_default()
    }

    pub fn reset_statement_timings(&self) {
        if let Ok(mut t) = self.timings.lock() {
            t.clear();
        }
    }

    fn record(&self, statement: &'static str, rows: usize, since: Instant) {
        let elapsed = since.elapsed();
        // A poisoned lock only loses statistics.
        if let Ok(mut t) = self.timings.lock() {
            match t.iter_mut().find(|x| x.statement == statement) {
                Some(x) => {
                    x.calls += 1;
                    x.rows += rows as u64;
                    x.elapsed += elapsed;
                }
                None => t.push(StatementTiming {
                    statement,
                    calls: 1,
                    rows: rows as u64,
                    elapsed,
                }),
            }
        }
    }

    /// Halves the rows per bulk execute; false if it was already one.
    pub(super) fn shrink_statements(&self) -> bool {
        let cur = self.rows_per_exec.load(Ordering::Relaxed);
        if cur <= MIN_ROWS_PER_EXEC {
            return false;
        }
        self.rows_per_exec
            .store((cur / 2).max(MIN_ROWS_PER_EXEC), Ordering::Relaxed);
        true
    }

    async fn conn(&self) -> Result<Conn, StoreError> {
        self.pool
            .get_conn()
            .await
            .map_err(|e| from_mysql("connect", e))
    }

    pub async fn init(&self) -> Result<u32, StoreError> {
        // Without a default database: it may not exist yet.
        let mut c = Conn::new(opts(&self.cfg, false))
            .await
            .map_err(|e| from_mysql("connect", e))?;
        let db = &self.cfg.database;
        // The name was checked by valid_identifier; identifiers cannot be bound.
        c.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4"
        ))
        .await
        .map_err(|e| from_mysql("create database", e))?;
        c.query_drop(format!("USE `{db}`"))
            .await
            .map_err(|e| from_mysql("use database", e))?;
        c.query_drop(
            "CREATE TABLE IF NOT EXISTS schema_version (version INT UNSIGNED NOT NULL PRIMARY KEY, \
             applied_at DATETIME(3) NOT NULL) ENGINE=InnoDB",
        )
        .await
        .map_err(|e| from_mysql("create schema_version", e))?;
        let current = current_version(&mut c).await?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            for stmt in super::ddl_statements(sql) {
                match c.query_drop(&stmt).await {
                    Ok(()) => {}
                    Err(mysql_async::Error::Server(se))
                        if MIGRATION_DONE_ERRORS.contains(&se.code) =>
                    {
                        tracing::info!(version, error = %se.message, "migration step was already applied");
                    }
                    Err(e) => return Err(from_mysql("apply migration", e)),
                }
            }
            c.exec_drop(
                "INSERT IGNORE INTO schema_version (version, applied_at) VALUES (?, UTC_TIMESTAMP(3))",
                (version,),
            )
            .await
            .map_err(|e| from_mysql("record schema version", e))?;
            tracing::info!(version, database = %db, "schema migration applied");
        }
        // Flows written by other tools (the old mediator's AUTO_INCREMENT) must not collide
        // with our allocated ranges.
        c.query_drop(
            "UPDATE id_alloc SET next_id = GREATEST(next_id, \
             (SELECT COALESCE(MAX(id), 0) + 1 FROM flows)) WHERE name = 'flows'",
        )
        .await
        .map_err(|e| from_mysql("sync id_alloc", e))?;
        let v = current_version(&mut c).await?;
        let _ = c.disconnect().await;
        Ok(v)
    }

    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        let mut c = self.conn().await?;
        current_version(&mut c).await
    }

    pub async fn commit_batch(&self, batch: &Batch) -> Result<CommitOutcome, StoreError> {
        let t = Instant::now();
        let mut p = prep::prepare(batch)?;
        self.record("prepare (client)", p.dns_rows, t);
        let t = Instant::now();
        let mut conn = self.conn().await?;
        // Ids are reserved in their own autocommit statement, before the load transaction:
        // inside it, the counter row's lock would be held until commit and serialise every
        // concurrent load behind it. A batch that then fails or was already loaded leaves
        // a gap in the ids, which nothing relies on being dense.
        let first_id = if p.flows > 0 {
            let t = Instant::now();
            let id = allocate_ids(&mut conn, p.flows as u64).await?;
            self.record("allocate ids", 1, t);
            Some(id)
        } else {
            None
        };
        // READ COMMITTED: the load reads nothing it must see repeatably, and without gap locks
        // two loaders inserting neighbouring aggregate keys do not block or deadlock each
        // other. Uniqueness (ledger, aggregate keys) is still enforced by the key checks.
        let mut opts = TxOpts::default();
        opts.with_isolation_level(IsolationLevel::ReadCommitted);
        let mut tx = conn
            .start_transaction(opts)
            .await
            .map_err(|e| from_mysql("begin", e))?;
        self.record("connect + begin", 0, t);
        let t = Instant::now();
        // Ledger first: it takes the row lock that serialises a concurrent load of the same
        // batch, and a duplicate means "already committed" before any work is done.
        let ledger = tx
            .exec_drop(
                "INSERT INTO ingest_ledger (key_hash, chunk, source_key, label, flows, dns_rows, \
                 loaded_at) VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))",
                (
                    p.key_hash.to_vec(),
                    batch.chunk,
                    prep::truncate_chars(&batch.source.key, prep::MAX_TEXT),
                    prep::truncate_chars(&batch.source.label, prep::MAX_TEXT),
                    p.flows as u64,
                    p.dns_rows as u64,
                ),
            )
            .await;
        match ledger {
            Ok(()) => {}
            Err(mysql_async::Error::Server(se)) if se.code == ER_DUP_ENTRY => {
                let _ = tx.rollback().await;
                return Ok(CommitOutcome::AlreadyLoaded);
            }
            Err(e) => return Err(from_mysql("ledger insert", e)),
        }
        self.record("ledger insert", 1, t);
        let pending_ids = match first_id {
            Some(first_id) => self.write_rows(&mut tx, batch, &mut p, first_id).await?,
            None => Vec::new(),
        };
        let t = Instant::now();
        if let Err(e) = tx.commit().await {
            if !pending_ids.is_empty() {
                self.behind().orphans = true;
            }
            return Err(from_mysql("commit", e));
        }
        self.record("commit", 1, t);
        if !pending_ids.is_empty() {
            let (rr, resolvers) = (std::mem::take(&mut p.rr), std::mem::take(&mut p.resolvers));
            self.defer(pending_ids, rr, resolvers).await;
        }
        Ok(CommitOutcome::Loaded {
            flows: p.flows as u64,
            dns_rows: p.dns_rows as u64,
        })
    }

    /// Runs `sql` for every parameter row, `rows_per_exec` rows per bulk execute. Takes a
    /// materialised Vec: an iterator with borrowing closures held across the await would make
    /// the commit future not `Send`.
    async fn exec_chunked(
        &self,
        tx: &mut mysql_async::Transaction<'_>,
        context: &'static str,
        sql: &str,
        mut params: Vec<Params>,
    ) -> Result<(), StoreError> {
        let per = self.rows_per_exec.load(Ordering::Relaxed).max(1);
        let (t0, rows) = (Instant::now(), params.len());
        while !params.is_empty() {
            let rest = params.split_off(per.min(params.len()));
            let chunk = std::mem::replace(&mut params, rest);
            tx.exec_batch(sql, chunk)
                .await
                .map_err(|e| from_mysql(context, e))?;
        }
        self.record(context, rows, t0);
        Ok(())
    }

    /// The raw rows through bound parameters (MariaDB bulk execute).
    async fn exec_raw(
        &self,
        tx: &mut mysql_async::Transaction<'_>,
        batch: &Batch,
        p: &Prepared<'_>,
        first_id: u64,
    ) -> Result<(), StoreError> {
        let flows: Vec<Params> = (first_id..)
            .zip(batch.flows.iter())
            .map(|(id, f)| params_of(23, |v| flow_cells(v, id, f)))
            .collect();
        self.exec_chunked(tx, "insert flows", INSERT_FLOW, flows)
            .await?;
        let tcp: Vec<Params> = (first_id..)
            .zip(batch.flows.iter())
            .filter_map(|(id, f)| f.tcp.map(|t| params_of(7, |v| tcp_cells(v, id, &t))))
            .collect();
        self.exec_chunked(tx, "insert tcp", INSERT_TCP, tcp).await?;
        let dns: Vec<Params> = (first_id..)
            .zip(p.dns.iter())
            .flat_map(|(id, rows)| {
                rows.iter()
                    .map(move |d| params_of(11, |v| dns_cells(v, id, d)))
            })
            .collect();
        self.exec_chunked(tx, "insert dns", INSERT_DNS, dns).await
    }

    /// The raw rows through LOAD DATA LOCAL INFILE from memory, the same columns and values
    /// as `exec_raw`.
    async fn load_raw(
        &self,
        tx: &mut mysql_async::Transaction<'_>,
        batch: &Batch,
        p: &Prepared<'_>,
        first_id: u64,
        max_packet: u64,
    ) -> Result<RawLoad, StoreError> {
        let chunk = infile::chunk_size(max_packet);
        let t = Instant::now();
        let mut fl = Tsv::with_capacity(batch.flows.len() * 160);
        let mut tcp = Tsv::default();
        let mut dns = Tsv::with_capacity(p.dns_rows * 80);
        for ((id, f), rows) in (first_id..).zip(batch.flows.iter()).zip(p.dns.iter()) {
            flow_cells(&mut fl, id, f);
            fl.end_row();
            if let Some(t) = f.tcp {
                tcp_cells(&mut tcp, id, &t);
                tcp.end_row();
            }
            for d in rows {
                dns_cells(&mut dns, id, d);
                dns.end_row();
            }
        }
        self.record("encode raw rows (client)", p.dns_rows, t);
        let tables = [
            ("load flows", LOAD_FLOWS, fl),
            ("load tcp", LOAD_TCP, tcp),
            ("load dns", LOAD_DNS, dns),
        ];
        for (i, (context, sql, rows)) in tables.into_iter().enumerate() {
            if rows.rows() == 0 {
                continue;
            }
            let t = Instant::now();
            let n = rows.rows();
            let file = self.files.register(rows.into_bytes(), chunk);
            let sql = sql
                .replace("{file}", file.name())
                .replace("{format}", infile::FORMAT);
            match tx.query_drop(sql).await {
                Ok(()) => {}
                // Only the first statement can fall back in place: nothing is written yet.
                Err(mysql_async::Error::Server(se))
                    if i == 0 && INFILE_REFUSED.contains(&se.code) =>
                {
                    return Ok(RawLoad::Refused(se.to_string()));
                }
                Err(e) => return Err(from_mysql(context, e)),
            }
            drop(file);
            // LOCAL implies IGNORE: a row the server could not store exactly becomes a warning
            // or a skipped row instead of an error. None is expected (ids are fresh, values are
            // cut to fit); if it happens, this transaction is dropped (rolled back) and the
            // retry loads the batch with bound parameters, which fail loudly instead.
            let (loaded, warnings) = (tx.affected_rows(), tx.get_warnings());
            if loaded != n as u64 || warnings != 0 {
                self.use_infile.store(false, Ordering::Relaxed);
                return Err(StoreError::Transient {
                    context,
                    message: format!(
                        "LOAD DATA stored {loaded} of {n} rows with {warnings} warnings; \
                         retrying the batch with bound parameters"
                    ),
                });
            }
            self.record(context, n, t);
        }
        Ok(RawLoad::Done)
    }

    /// Takes the aggregates out of `p` (their strings move into the statement parameters),
    /// except the keys it defers (write-behind), which stay in `p`; returns the `pdns_pending`
    /// rows it wrote for those.
    async fn write_rows(
        &self,
        tx: &mut mysql_async::Transaction<'_>,
        batch: &Batch,
        p: &mut Prepared<'_>,
        first_id: u64,
    ) -> Result<Vec<u64>, StoreError> {
        let infile = self.use_infile.load(Ordering::Relaxed);
        let defer = self.write_behind_keys > 0 && !(p.rr.is_empty() && p.resolvers.is_empty());
        // LOAD DATA packets and pending payloads must fit this connection's limit (read per
        // batch, once: the pool's connections may have been opened under different settings).
        let max_packet: u64 = if infile || defer {
            let v: Option<u64> = tx
                .query_first("SELECT @@max_allowed_packet")
                .await
                .map_err(|e| from_mysql("read max_allowed_packet", e))?;
            v.unwrap_or(0)
        } else {
            0
        };
        let raw_done = if infile {
            match self.load_raw(tx, batch, p, first_id, max_packet).await? {
                RawLoad::Done => true,
                RawLoad::Refused(why) => {
                    self.use_infile.store(false, Ordering::Relaxed);
                    tracing::warn!(
                        error = %why,
                        "the server refuses LOAD DATA LOCAL INFILE (local_infile=0?): raw \
                         rows go through bound parameters from now on, which is slower"
                    );
                    false
                }
            }
        } else {
            false
        };
        if !raw_done {
            self.exec_raw(tx, batch, p, first_id).await?;
        }
        // Aggregate rows stay locked until COMMIT, and a concurrent commit that needs one of
        // them waits for it. Tables go in order of how many of their keys every batch shares
        // (pdns_client's (client, name) pairs rarely repeat, popular names' pdns_rr rows often,
        // pdns_resolver's few rows always), so the most contended locks are held for the
        // shortest time. The order is the same in every transaction: no lock cycles.
        // pdns_client is never deferred: its (client, name) pairs rarely repeat across batches
        // (none do on the generated capture), so merging them would save nothing.
        self.exec_chunked(
            tx,
            "upsert pdns_client",
            UPSERT_CLIENT,
            std::mem::take(&mut p.clients)
                .into_iter()
                .map(|a| {
                    Params::Positional(vec![
                        Value::Bytes(a.name_hash.to_vec()),
                        Value::Bytes(a.client),
                        Value::Bytes(a.rrname.into_bytes()),
                        dt(a.first_ms),
                        dt(a.last_ms),
                        Value::UInt(a.count),
                    ])
                })
                .collect::<Vec<Params>>(),
        )
        .await?;
        if defer {
            let t = Instant::now();
            let part = pending::part_bytes(max_packet);
            let parts = pending::encode(&p.rr, &p.resolvers, part)
                .map_err(|e| StoreError::permanent("encode pdns_pending", e.to_string()))?;
            self.record(
                "encode pdns_pending (client)",
                p.rr.len() + p.resolvers.len(),
                t,
            );
            return self.insert_pending(tx, parts).await;
        }
        if self.write_behind_keys == 0 {
            self.upsert_rr(tx, std::mem::take(&mut p.rr)).await?;
            self.upsert_resolvers(tx, std::mem::take(&mut p.resolvers))
                .await?;
        }
        Ok(Vec::new())
    }

    async fn upsert_rr(
        &self,
        tx: &mut mysql_async::Transaction<'_>,
        rr: Vec<RrAgg>,
    ) -> Result<(), StoreError> {
        self.exec_chunked(
            tx,
            "upsert pdns_rr",
            UPSERT_RR,
            rr.into_iter()
                .map(|a| {
                    Params::Positional(vec![
                        Value::Bytes(a.hash.to_vec()),
                        Value::Bytes(a.rrname.into_bytes()),
                        Value::Bytes(a.rrname_rev.into_bytes()),
                        Value::UInt(u64::from(a.rrtype)),
                        Value::Bytes(a.rrval.into_bytes()),
                        dt(a.first_ms),
                        dt(a.first_ms),
                        dt(a.last_ms),
                        Value::UInt(a.count),
                        Value::UInt(u64::from(a.ttl_min)),
                        Value::UInt(u64::from(a.ttl_max)),
                    ])
                })
                .collect::<Vec<Params>>(),
        )
        .await
    }

    async fn upsert_resolvers(
        &self,
        tx: &mut mysql_async::Transaction<'_>,
        resolvers: Vec<ResolverAgg>,
    ) -> Result<(), StoreError> {
        self.exec_chunked(
            tx,
            "upsert pdns_resolver",
            UPSERT_RESOLVER,
            resolvers
                .into_iter()
                .map(|a| {
                    Params::Positional(vec![
                        Value::Bytes(a.client),
                        Value::Bytes(a.resolver),
                        Value::UInt(u64::from(a.port)),
                        dt(a.first_ms),
                        dt(a.last_ms),
                        Value::UInt(a.count),
                    ])
                })
                .collect::<Vec<Params>>(),
        )
        .await
    }

    /// Appends a batch's aggregate payloads to `pdns_pending`; returns their ids. One row per
    /// statement: `last_insert_id` is exact for a single-row insert under every
    /// innodb_autoinc_lock_mode, and a batch has only a few parts.
    async fn insert_pending(
        &self,
        tx: &mut mysql_async::Transaction<'_>,
        parts: Vec<Vec<u8>>,
    ) -> Result<Vec<u64>, StoreError> {
        let (t, n) = (Instant::now(), parts.len());
        let mut ids = Vec::with_capacity(n);
        for part in parts {
            tx.exec_drop(
                "INSERT INTO pdns_pending (created_at, payload) VALUES (UTC_TIMESTAMP(3), ?)",
                (part,),
            )
            .await
            .map_err(|e| from_mysql("insert pdns_pending", e))?;
            let id = tx.last_insert_id().ok_or_else(|| {
                StoreError::permanent("insert pdns_pending", "the server returned no row id")
            })?;
            ids.push(id);
        }
        self.record("insert pdns_pending", n, t);
        Ok(ids)
    }

    /// The write-behind state; a panic while it was held leaves the merged keys untrusted, so
    /// their batches are then applied from their `pdns_pending` rows instead.
    fn behind(&self) -> std::sync::MutexGuard<'_, Behind> {
        self.behind.lock().unwrap_or_else(|poisoned| {
            let mut b = poisoned.into_inner();
            let ids = std::mem::take(&mut b.ids);
            b.unmerged.extend(ids);
            b.merged = Merged::default();
            self.behind.clear_poison();
            b
        })
    }

    /// A committed batch's deferred keys join the merged ones; when there are enough of them,
    /// they are applied now (a failure leaves them for the next flush: the batch itself is
    /// committed either way).
    async fn defer(&self, ids: Vec<u64>, rr: Vec<RrAgg>, resolvers: Vec<ResolverAgg>) {
        let full = {
            let mut b = self.behind();
            b.ids.extend(ids);
            for a in rr {
                b.merged.add_rr(a);
            }
            for a in resolvers {
                b.merged.add_resolver(a);
            }
            b.merged.keys() >= self.write_behind_keys
        };
        if full {
            if let Err(e) = self.flush_aggregates().await {
                tracing::warn!(error = %e, "applying write-behind aggregates failed; they stay in \
                    pdns_pending and are applied by the next flush");
            }
        }
    }

    /// Applies the aggregates of every batch this store committed so far, exactly once each:
    /// the merged keys and the deletion of their `pdns_pending` rows commit together. If some
    /// of those rows are gone (another mediator's start-up applied them, or an earlier attempt
    /// committed but its reply was lost), the keys are read back from the rows that remain
    /// instead. On error the batches stay pending, in the table and here, for the next call.
    pub async fn flush_aggregates(&self) -> Result<(), StoreError> {
        let taken = std::mem::take(&mut *self.behind());
        let all: Vec<u64> = taken.ids.iter().chain(&taken.unmerged).copied().collect();
        let r = if all.is_empty() {
            Ok(())
        } else if taken.unmerged.is_empty() {
            match self.apply_merged(&taken.ids, taken.merged).await {
                Ok(true) => Ok(()),
                Ok(false) => self.apply_listed(&all).await,
                Err(e) => Err(e),
            }
        } else {
            self.apply_listed(&all).await
        };
        if let Err(e) = r {
            let mut b = self.behind();
            b.unmerged.extend(all);
            b.orphans |= taken.orphans;
            return Err(e);
        }
        if taken.orphans {
            if let Err(e) = self.recover_pending().await {
                self.behind().orphans = true;
                return Err(e);
            }
        }
        Ok(())
    }

    /// The fast path: deletes the rows `ids` and upserts `merged`; false (nothing written) if
    /// not every row was there to delete.
    async fn apply_merged(&self, ids: &[u64], merged: Merged) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = begin_read_committed(&mut conn).await?;
        let t = Instant::now();
        let deleted = delete_pending(&mut tx, ids).await?;
        self.record("delete pdns_pending", ids.len(), t);
        if deleted != ids.len() as u64 {
            tracing::info!(
                expected = ids.len(),
                deleted,
                "some pending aggregate rows were already applied elsewhere; applying the rest \
                 from the table"
            );
            let _ = tx.rollback().await;
            return Ok(false);
        }
        self.upsert_merged_and_commit(tx, merged).await?;
        Ok(true)
    }

    /// Applies whichever of the rows `ids` are still in `pdns_pending`, from their payloads.
    async fn apply_listed(&self, ids: &[u64]) -> Result<(), StoreError> {
        for group in ids.chunks(PENDING_ROWS_PER_APPLY) {
            self.apply_from_table(Some(group)).await?;
        }
        Ok(())
    }

    /// Applies every row left in `pdns_pending` (by a mediator that stopped before its flush,
    /// or whose flush failed); returns how many there were. `mediator run` and `init-db` call
    /// it at start (not `prune` or `query`, which may run beside a loading mediator: applying
    /// its rows would be correct, but would make it read them back).
    pub async fn recover_pending(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let n = self.apply_from_table(None).await?;
            if n == 0 {
                break;
            }
            total += n;
        }
        if total > 0 {
            tracing::info!(
                rows = total,
                "applied write-behind aggregates left pending by an earlier run"
            );
        }
        Ok(total)
    }

    /// One transaction: locks the rows `ids` (or the oldest rows, for recovery), merges their
    /// payloads, upserts the keys and deletes the rows. Returns the rows applied.
    async fn apply_from_table(&self, ids: Option<&[u64]>) -> Result<usize, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = begin_read_committed(&mut conn).await?;
        let rows: Vec<(u64, Vec<u8>)> = match ids {
            Some([]) => Vec::new(),
            Some(ids) => tx
                .exec(
                    format!(
                        "SELECT id, payload FROM pdns_pending WHERE id IN ({}) FOR UPDATE",
                        vec!["?"; ids.len()].join(",")
                    ),
                    ids.iter().map(|&i| Value::UInt(i)).collect::<Vec<_>>(),
                )
                .await
                .map_err(|e| from_mysql("read pdns_pending", e))?,
            None => tx
                .exec(
                    "SELECT id, payload FROM pdns_pending ORDER BY id LIMIT ? FOR UPDATE",
                    (PENDING_ROWS_PER_APPLY as u64,),
                )
                .await
                .map_err(|e| from_mysql("read pdns_pending", e))?,
        };
        if rows.is_empty() {
            let _ = tx.rollback().await;
            return Ok(0);
        }
        let mut merged = Merged::default();
        for (id, payload) in &rows {
            merged.add_payload(payload).map_err(|e| {
                StoreError::permanent(
                    "read pdns_pending",
                    format!(
                        "row id {id}: {e}; its batch's pdns_rr/pdns_resolver keys cannot be \
                         applied (inspect the row; deleting it gives up those keys)"
                    ),
                )
            })?;
        }
        let found: Vec<u64> = rows.iter().map(|(id, _)| *id).collect();
        delete_pending(&mut tx, &found).await?;
        self.upsert_merged_and_commit(tx, merged).await?;
        Ok(found.len())
    }

    /// The end of both apply paths: the merged keys in lock order, then COMMIT.
    async fn upsert_merged_and_commit(
        &self,
        mut tx: mysql_async::Transaction<'_>,
        merged: Merged,
    ) -> Result<(), StoreError> {
        let (rr, resolvers) = merged.into_sorted();
        self.upsert_rr(&mut tx, rr).await?;
        self.upsert_resolvers(&mut tx, resolvers).await?;
        let t = Instant::now();
        tx.commit().await.map_err(|e| from_mysql("commit", e))?;
        self.record("commit aggregates", 1, t);
        Ok(())
    }

    pub async fn prune(&self, cutoff_ms: i64) -> Result<PruneReport, StoreError> {
        let mut report = PruneReport::default();
        let cutoff = dt(prep::clamp_ms(cutoff_ms));
        loop {
            let mut conn = self.conn().await?;
            let ids: Vec<i64> = conn
                .exec(
                    "SELECT id FROM flows WHERE flowStartMilliseconds < ? LIMIT ?",
                    (cutoff.clone(), PRUNE_CHUNK as u64),
                )
                .await
                .map_err(|e| from_mysql("prune select", e))?;
            if ids.is_empty() {
                return Ok(report);
            }
            let marks = vec!["?"; ids.len()].join(",");
            let params: Vec<Value> = ids.iter().map(|i| Value::Int(*i)).collect();
            let mut tx = conn
                .start_transaction(TxOpts::default())
                .await
                .map_err(|e| from_mysql("begin", e))?;
            tx.exec_drop(
                format!("DELETE FROM dns WHERE id IN ({marks})"),
                params.clone(),
            )
            .await
            .map_err(|e| from_mysql("prune dns", e))?;
            let dns = tx.affected_rows();
            tx.exec_drop(
                format!("DELETE FROM tcp WHERE id IN ({marks})"),
                params.clone(),
            )
            .await
            .map_err(|e| from_mysql("prune tcp", e))?;
            tx.exec_drop(format!("DELETE FROM flows WHERE id IN ({marks})"), params)
                .await
                .map_err(|e| from_mysql("prune flows", e))?;
            let flows = tx.affected_rows();
            tx.commit().await.map_err(|e| from_mysql("commit", e))?;
            report.flows += flows;
            report.dns_rows += dns;
        }
    }
}

/// A READ COMMITTED transaction (for applying aggregates: no gap locks between two flushes
/// that upsert neighbouring keys, as for the batch transactions).
async fn begin_read_committed(conn: &mut Conn) -> Result<mysql_async::Transaction<'_>, StoreError> {
    let mut opts = TxOpts::default();
    opts.with_isolation_level(IsolationLevel::ReadCommitted);
    conn.start_transaction(opts)
        .await
        .map_err(|e| from_mysql("begin", e))
}

/// Deletes the `pdns_pending` rows `ids`; returns how many were there.
async fn delete_pending(
    tx: &mut mysql_async::Transaction<'_>,
    ids: &[u64],
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    tx.exec_drop(
        format!(
            "DELETE FROM pdns_pending WHERE id IN ({})",
            vec!["?"; ids.len()].join(",")
        ),
        ids.iter().map(|&i| Value::UInt(i)).collect::<Vec<_>>(),
    )
    .await
    .map_err(|e| from_mysql("delete pdns_pending", e))?;
    Ok(tx.affected_rows())
}

async fn current_version(c: &mut Conn) -> Result<u32, StoreError> {
    let v: Option<Option<u32>> = c
        .query_first("SELECT MAX(version) FROM schema_version")
        .await
        .map_err(|e| from_mysql("read schema version", e))?;
    Ok(v.flatten().unwrap_or(0))
}

/// Reserves `n` consecutive flow ids (autocommit); returns the first.
async fn allocate_ids(tx: &mut Conn, n: u64) -> Result<u64, StoreError> {
    // LAST_INSERT_ID(expr) hands the new value back in the OK packet: one round trip.
    tx.exec_drop(
        "UPDATE id_alloc SET next_id = LAST_INSERT_ID(next_id + ?) WHERE name = 'flows'",
        (n,),
    )
    .await
    .map_err(|e| from_mysql("allocate ids", e))?;
    if tx.affected_rows() != 1 {
        return Err(StoreError::permanent(
            "allocate ids",
            "id_alloc has no 'flows' row: run init",
        ));
    }
    let end = match tx.last_insert_id() {
        Some(v) => v,
        None => tx
            .query_first::<u64, _>("SELECT LAST_INSERT_ID()")
            .await
            .map_err(|e| from_mysql("allocate ids", e))?
            .unwrap_or(0),
    };
    end.checked_sub(n)
        .ok_or_else(|| StoreError::permanent("allocate ids", "id counter underflow"))
}

impl answers::Cell for Value {
    fn ms(&self) -> i64 {
        match self {
            Value::Date(y, mo, d, h, mi, s, us) => prep::ms_from_civil(prep::CivilMs {
                year: *y,
                month: *mo,
                day: *d,
                hour: *h,
                minute: *mi,
                second: *s,
                milli: u16::try_from(us / 1000).unwrap_or(0),
            })
            .unwrap_or(0),
            Value::Bytes(b) => std::str::from_utf8(b)
                .ok()
                .and_then(prep::ms_from_text)
                .unwrap_or(0),
            _ => 0,
        }
    }

    fn num(&self) -> u64 {
        match self {
            Value::UInt(u) => *u,
            Value::Int(i) => u64::try_from(*i).unwrap_or(0),
            // DECIMAL results (SUM) arrive as text.
            Value::Bytes(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.split('.').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            Value::Double(d) => *d as u64,
            Value::Float(f) => *f as u64,
            _ => 0,
        }
    }

    fn text(&self) -> String {
        match self {
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::NULL => String::new(),
            other => other.as_sql(true),
        }
    }

    fn ip(&self) -> Option<IpAddr> {
        match self {
            Value::Bytes(b) => prep::ip_from_bytes(b),
            _ => None,
        }
    }
}

impl From<Param> for Value {
    fn from(p: Param) -> Value {
        match p {
            Param::Bytes(b) => Value::Bytes(b),
            Param::Text(t) => Value::from(t),
            Param::UInt(u) => Value::UInt(u),
            Param::Time(ms) => dt(ms),
        }
    }
}

impl answers::Rows for MysqlStore {
    type Cell = Value;
    const TLD_EXPR: &'static str = "SUBSTRING_INDEX(rrname_rev, '.', 1)";

    async fn rows(
        &self,
        context: &'static str,
        sql: String,
        params: Vec<Param>,
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let params: Vec<Value> = params.into_iter().map(Value::from).collect();
        let mut c = self.conn().await?;
        let rows: Vec<Row> = c
            .exec(sql, params)
            .await
            .map_err(|e| from_mysql(context, e))?;
        Ok(rows.into_iter().map(cols).collect())
    }
}
