//! The mediator's storage layer: MySQL/MariaDB for production, embedded SQLite as the zero-setup
//! default, one API and one schema (templates/sql/{mysql,sqlite}/).
//!
//! # Guarantees
//! - **A batch is atomic.** `commit_batch` writes a batch's `flows`/`dns`/`tcp` rows, its
//!   passive-DNS aggregate updates and its ledger row `(source.key, chunk)` in one transaction.
//!   With write-behind (MySQL's default, `--write-behind-keys`), the `pdns_rr` and
//!   `pdns_resolver` updates are written in that transaction as `pdns_pending` rows instead,
//!   and applied, merged with other batches', by `flush_aggregates` (the file loader calls it
//!   at the end of every file), by a commit once enough keys wait, or by `recover_pending` at
//!   the next start. Each pending row is applied in the transaction that deletes it, so
//!   exactly once (pending.rs). `pdns_client` is always updated in the batch's own transaction.
//! - **A batch loads at most once.** The ledger row is inserted first; if `(key, chunk)` is
//!   already there the transaction is rolled back and `CommitOutcome::AlreadyLoaded` returned.
//!   So retrying after an ambiguous failure (connection lost during COMMIT), or re-reading a file
//!   after a crash between commit and delete, never duplicates rows. A concurrent loader of the
//!   same batch blocks on the ledger row lock and then sees the duplicate.
//! - **Errors say whether to retry** (`StoreError::is_transient`); `commit_batch_with_retry`
//!   reconnects with capped exponential backoff and offers the same batch again.
//!
//! # Schema (templates/sql/{mysql,sqlite}/NNN_*.sql, version in `schema_version`)
//! - `flows`, `dns`, `tcp`: yaf_silk_mysql_mediator's tables and column names (its queries run
//!   unchanged), plus `flows.sensor` and `dns.seq`, DATETIME(3) times, IPv4 in
//!   `srcip4`/`dstip4`, IPv6 in `srcip6`/`dstip6`. Indexes (v2): dns (id, seq) and (rrname),
//!   flows (id) and (start). Nothing else: every other question is answered from the
//!   aggregates, whose one row per distinct key is far cheaper to index than one per sighting.
//! - `pdns_rr`: per (lower-cased rrname, rrtype, rrval) first_seen, last_seen, count, ttl_min,
//!   ttl_max, from response RRs outside the question section. Clustered on `rr_hash`; indexes
//!   on `rrname_rev` (exact names and subdomains), `rrval` (by value), `first_seen_insert`
//!   (first_seen as inserted, never updated: the candidates for "first seen since T").
//! - `pdns_client`: per (client, name) first/last/count of DNS flows naming it (question and
//!   answer names, so CNAME targets count as resolved too). Clustered on (name_hash, client),
//!   `name_hash` = first 16 bytes of SHA-256 of the name (SQL: `UNHEX(LEFT(SHA2(n,256),32))`).
//!   No other index: nothing reads it by client alone (version 3 dropped that index).
//! - `pdns_resolver`: per (client, resolver, resolver port) first/last/count of DNS flows; the
//!   resolver is the side on port 53/853/5353 when only one side is, else the flow's
//!   destination (YAF's source is the initiator). DoT flows count even without DPI rows.
//! - `ingest_ledger` (source key hash, chunk) and `id_alloc` (below).
//! - `pdns_pending` (version 5, MySQL): write-behind aggregate keys of committed batches not yet
//!   applied; empty when the aggregates are current.
//!
//! Version 2 (002_lean_load.sql) dropped `dns.rrname_rev` and the dns indexes on it and on
//! `rrval`, and re-keyed the two large aggregates on their hashes; version 3
//! (003_drop_client_index.sql) dropped `pdns_client`'s unused index on `client`; version 4
//! (004_first_seen_insert.sql) replaced the index on `pdns_rr.first_seen`, which every upsert
//! that lowered first_seen rewrote, by one on the write-once `first_seen_insert`. `init`
//! upgrades older databases in place (tests/store_migration.rs).
//!
//! Names are compared byte-wise in the aggregates after ASCII lower-casing (DNS 0x20
//! randomisation would otherwise split keys); long keys are hashed (first 16 bytes of SHA-256)
//! into unique indexes. `prep.rs` has the exact rules, shared by both backends.
//!
//! # Ids
//! `dns.id = flows.id`. Ids come from the one-row table `id_alloc`: just before the loading
//! transaction, an autocommit `UPDATE id_alloc SET next_id = next_id + n` reserves `n`
//! consecutive ids, and flows are inserted with explicit ids. Outside the transaction, so that
//! the counter's row lock does not serialise concurrent loads (`parallel_commits`); a batch
//! that then fails or was already loaded leaves a gap, and ids are unique but not dense. (SQLite
//! has one writer and reserves them inside its transaction.) AUTO_INCREMENT ids of a multi-row
//! or bulk insert are not guaranteed consecutive under `innodb_autoinc_lock_mode=2` (MySQL 8's
//! default, and a common MariaDB tuning), so they cannot be used to link `dns` rows without
//! reading every id back. `init`
//! moves the counter past `MAX(flows.id)`, so rows that other tools inserted with
//! AUTO_INCREMENT before we started never collide; do not run such tools concurrently.
//!
//! # Bulk loading (MySQL)
//! The raw rows (`flows`, `tcp`, `dns`) go through LOAD DATA LOCAL INFILE from memory
//! (infile.rs: tab-separated text with every terminator escaped, served only from memory by a
//! pool-wide handler), inside the batch's transaction. LOCAL implies IGNORE, so each statement's
//! row count and warning count are checked: anything but "all rows, no warning" rolls the batch
//! back and switches the store to bound parameters, which fail loudly instead of cutting values.
//! A server with `local_infile=0` refuses the first statement; the same transaction then goes on
//! with bound parameters, and so does every later batch. Bound parameters are one prepared
//! statement per table run through `exec_batch`, which on MariaDB is `COM_STMT_BULK_EXECUTE`
//! (one round trip per max_allowed_packet of rows); on MySQL it degrades to one execute per row,
//! which is where LOAD DATA matters most. The aggregates, which need ON DUPLICATE KEY UPDATE,
//! always use bound parameters; they are pre-aggregated per batch (prep.rs), so each key is
//! upserted once per batch, in key order. benches/store_load.rs times ours against plain bulk
//! execute and LOAD DATA of the same flows+dns rows into the same tables in one run. The load
//! cost left is index maintenance: the aggregates add about as many B-tree entries per DNS row
//! as the raw rows themselves (see the bench's per-statement timings).
//!
//! # Retention
//! `prune(cutoff)` deletes raw `flows`/`dns`/`tcp` rows whose flow started before the cutoff,
//! in bounded chunks (each its own short transaction, ids taken through the `flows_start`
//! index), and keeps every aggregate and the ledger. Daily partitioning is not used: InnoDB
//! partitioning needs the partition column in every unique key, which would change the key of
//! the compatible `flows` table, and partitions must be created ahead of arbitrary (replayed,
//! old) flow times.

mod answers;
mod error;
mod infile;
pub mod model;
mod mysql;
pub mod pending;
pub mod prep;
pub mod query;
mod sqlite;

use std::net::IpAddr;
use std::time::Duration;

pub use error::StoreError;
pub use model::{Batch, BatchSource, DnsRow, FlowRow, TcpRow};
pub use mysql::{MysqlStore, StatementTiming, DEFAULT_PARALLEL_COMMITS, DEFAULT_WRITE_BEHIND_KEYS};
pub use query::{
    ClientSeen, FluxCandidate, FluxParams, NameSeen, NameSummary, ResolverUse, RrRecord,
    TableCounts, TldSeen,
};
pub use sqlite::SqliteStore;

use crate::dbconfig::DbConfig;

/// Schema version this program creates and understands (templates/sql/*/NNN_*.sql).
pub const SCHEMA_VERSION: u32 = 5;

/// Result of committing one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Rows written by this call.
    Loaded { flows: u64, dns_rows: u64 },
    /// The ledger already holds `(source.key, chunk)`: nothing was written. After an ambiguous
    /// failure this is how a retry learns that the earlier attempt did commit.
    AlreadyLoaded,
}

/// Outcome of `commit_batch_with_retry` and how many retries it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub outcome: CommitOutcome,
    pub retries: u32,
}

/// Backoff for `commit_batch_with_retry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// `None`: retry transient errors forever (the daemon's choice: losing nothing beats
    /// finishing). Permanent errors are returned at once either way.
    pub max_retries: Option<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
            max_retries: None,
        }
    }
}

/// Rows deleted by `prune`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PruneReport {
    pub flows: u64,
    pub dns_rows: u64,
}

/// The store, either backend. Cheap to clone (both hold shared handles).
#[derive(Debug, Clone)]
pub enum Store {
    Mysql(MysqlStore),
    Sqlite(SqliteStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Mysql($s) => $e,
            Store::Sqlite($s) => $e,
        }
    };
}

impl Store {
    /// Opens the backend `cfg` names. No I/O for MySQL until first use (the pool connects
    /// lazily); SQLite opens (creating) the file.
    pub async fn open(cfg: &DbConfig) -> Result<Store, StoreError> {
        match cfg {
            DbConfig::Mysql(m) => Ok(Store::Mysql(MysqlStore::open(m)?)),
            DbConfig::Sqlite(s) => Ok(Store::Sqlite(SqliteStore::open(&s.path).await?)),
        }
    }

    /// How many batches of one file may be in their commit transaction at once: MySQL's
    /// setting (see [`DEFAULT_PARALLEL_COMMITS`]); SQLite has a single writer, so 1.
    pub fn parallel_commits(&self) -> usize {
        match self {
            Store::Mysql(m) => m.parallel_commits(),
            Store::Sqlite(_) => 1,
        }
    }

    /// Sets [`Store::parallel_commits`] (MySQL only; at least 1).
    pub fn set_parallel_commits(&mut self, n: usize) {
        if let Store::Mysql(m) = self {
            m.set_parallel_commits(n);
        }
    }

    /// Creates the database (MySQL) and tables if missing and applies pending migrations;
    /// idempotent and safe to run on every start. Returns the schema version now in place.
    pub async fn init(&self) -> Result<u32, StoreError> {
        dispatch!(self, s => s.init().await)
    }

    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        dispatch!(self, s => s.schema_version().await)
    }

    /// Commits one batch atomically, at most once per `(source.key, chunk)`.
    pub async fn commit_batch(&self, batch: &Batch) -> Result<CommitOutcome, StoreError> {
        dispatch!(self, s => s.commit_batch(batch).await)
    }

    /// `commit_batch`, retrying transient errors with capped exponential backoff on a fresh
    /// connection. Safe because of the ledger: a retry after a commit whose reply was lost
    /// returns `AlreadyLoaded`.
    pub async fn commit_batch_with_retry(
        &self,
        batch: &Batch,
        policy: &RetryPolicy,
    ) -> Result<Committed, StoreError> {
        let (outcome, retries) = self
            .retrying(
                policy,
                || self.commit_batch(batch),
                |e, retry, delay| {
                    tracing::warn!(
                        source = %batch.source.label,
                        chunk = batch.chunk,
                        retry,
                        delay_ms = delay.as_millis() as u64,
                        error = %e,
                        "batch commit failed, retrying"
                    );
                },
            )
            .await?;
        Ok(Committed { outcome, retries })
    }

    /// Applies the write-behind aggregates of every batch committed through this store (and
    /// its clones) so far: after it returns, `pdns_rr` and `pdns_resolver` include them. A
    /// no-op for SQLite and with write-behind off, which apply them in each batch's commit.
    pub async fn flush_aggregates(&self) -> Result<(), StoreError> {
        match self {
            Store::Mysql(m) => m.flush_aggregates().await,
            Store::Sqlite(_) => Ok(()),
        }
    }

    /// Applies the write-behind aggregates a stopped mediator left in `pdns_pending` (MySQL;
    /// 0 rows for SQLite); returns the rows applied. For the start of a loading process.
    pub async fn recover_pending(&self) -> Result<usize, StoreError> {
        match self {
            Store::Mysql(m) => m.recover_pending().await,
            Store::Sqlite(_) => Ok(0),
        }
    }

    /// `flush_aggregates`, retrying transient errors like `commit_batch_with_retry`; returns
    /// the retries it took.
    pub async fn flush_aggregates_with_retry(
        &self,
        policy: &RetryPolicy,
    ) -> Result<u32, StoreError> {
        let ((), retries) = self
            .retrying(
                policy,
                || self.flush_aggregates(),
                |e, retry, delay| {
                    tracing::warn!(
                        retry,
                        delay_ms = delay.as_millis() as u64,
                        error = %e,
                        "applying write-behind aggregates failed, retrying"
                    );
                },
            )
            .await?;
        Ok(retries)
    }

    /// Sets how many merged aggregate keys may wait for a flush (MySQL only; see
    /// [`DEFAULT_WRITE_BEHIND_KEYS`]); 0 applies them in each batch's commit.
    pub fn set_write_behind_keys(&mut self, n: usize) {
        if let Store::Mysql(m) = self {
            m.set_write_behind_keys(n);
        }
    }

    /// Runs `op` until it succeeds, retrying transient errors with capped exponential backoff
    /// (`log` hears of each retry); returns its value and the retries it took.
    async fn retrying<T, F, Fut>(
        &self,
        policy: &RetryPolicy,
        mut op: F,
        log: impl Fn(&StoreError, u32, Duration),
    ) -> Result<(T, u32), StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut retries = 0u32;
        let mut delay = policy.initial;
        loop {
            match op().await {
                Ok(v) => return Ok((v, retries)),
                Err(e) if e.is_transient() => {
                    if policy.max_retries.is_some_and(|m| retries >= m) {
                        return Err(e);
                    }
                    // Smaller statements can only help down to one row per statement; a
                    // single row the server refuses will never load.
                    if matches!(e, StoreError::TooLarge { .. }) && !self.shrink_statements() {
                        return Err(e);
                    }
                    log(&e, retries + 1, delay);
                    tokio::time::sleep(delay).await;
                    retries += 1;
                    delay = (delay * 2).min(policy.max);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Halves the rows per statement after a "packet too large" (MySQL only); false when
    /// already at one row.
    fn shrink_statements(&self) -> bool {
        match self {
            Store::Mysql(m) => m.shrink_statements(),
            Store::Sqlite(_) => false,
        }
    }

    /// Deletes raw rows of flows that started before `cutoff_ms`, keeping aggregates.
    pub async fn prune(&self, cutoff_ms: i64) -> Result<PruneReport, StoreError> {
        dispatch!(self, s => s.prune(cutoff_ms).await)
    }

    pub async fn counts(&self) -> Result<TableCounts, StoreError> {
        dispatch!(self, s => answers::counts(s).await)
    }

    /// Who resolved `name` (clients, most recent first), optionally only since `since_ms`.
    pub async fn who_resolved(
        &self,
        name: &str,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClientSeen>, StoreError> {
        dispatch!(self, s => answers::who_resolved(s, name, since_ms, limit).await)
    }

    /// What `name` mapped to: its records, optionally of one type, most recent first.
    pub async fn name_values(
        &self,
        name: &str,
        rrtype: Option<u16>,
        limit: usize,
    ) -> Result<Vec<RrRecord>, StoreError> {
        dispatch!(self, s => answers::name_values(s, name, rrtype, limit).await)
    }

    /// Records whose value is `value` (an address in presentation form, or a name such as a
    /// CNAME/NS target): "which names pointed at this IP".
    pub async fn by_value(&self, value: &str, limit: usize) -> Result<Vec<RrRecord>, StoreError> {
        dispatch!(self, s => answers::by_value(s, value, limit).await)
    }

    /// Strict subdomains of `domain` that received answers, by name, via the reversed-name
    /// index.
    pub async fn subdomains(
        &self,
        domain: &str,
        limit: usize,
    ) -> Result<Vec<NameSeen>, StoreError> {
        dispatch!(self, s => answers::subdomains(s, domain, limit).await)
    }

    /// First/last seen, counts and clients of one name; `None` if never seen.
    pub async fn name_summary(&self, name: &str) -> Result<Option<NameSummary>, StoreError> {
        dispatch!(self, s => answers::name_summary(s, name).await)
    }

    /// Names first seen (answered) at or after `since_ms`, newest first.
    pub async fn new_names(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<NameSeen>, StoreError> {
        dispatch!(self, s => answers::new_names(s, since_ms, limit).await)
    }

    /// Fast-flux candidates: many distinct A/AAAA values, short TTLs, few clients.
    pub async fn fast_flux(&self, p: &FluxParams) -> Result<Vec<FluxCandidate>, StoreError> {
        dispatch!(self, s => answers::fast_flux(s, p).await)
    }

    /// TLDs seen in names with records last seen since `since_ms`, rarest first (fewest
    /// names, then fewest answers).
    pub async fn rare_tlds(&self, since_ms: i64, limit: usize) -> Result<Vec<TldSeen>, StoreError> {
        dispatch!(self, s => answers::rare_tlds(s, since_ms, limit).await)
    }

    /// (client, resolver) pairs active since `since_ms` whose resolver is not in `allowed`.
    pub async fn unapproved_resolvers(
        &self,
        allowed: &[IpAddr],
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<ResolverUse>, StoreError> {
        if allowed.len() > MAX_ALLOWLIST {
            return Err(StoreError::Config(format!(
                "resolver allowlist has {} entries, at most {MAX_ALLOWLIST} supported",
                allowed.len()
            )));
        }
        dispatch!(self, s => answers::unapproved_resolvers(s, allowed, since_ms, limit).await)
    }
}

/// Bound on the allowlist (it becomes placeholders of one statement).
pub const MAX_ALLOWLIST: usize = 10_000;

/// Splits a DDL file into statements: full-line `--` comments dropped, statements end with a
/// line ending in `;`.
pub fn ddl_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in sql.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with("--") {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if t.ends_with(';') {
            let stmt = cur.trim().trim_end_matches(';').to_string();
            if !stmt.is_empty() {
                out.push(stmt);
            }
            cur.clear();
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Compile-time check: the commit futures of both backends (and the dispatching Store)
    /// are `Send`, so an ingester may `tokio::spawn` them on the multi-thread runtime. The
    /// futures are built but never polled.
    #[allow(dead_code)]
    fn commit_futures_are_send(store: &Store, mysql: &MysqlStore, batch: &Batch) {
        let policy = RetryPolicy::default();
        assert_send(&store.commit_batch(batch));
        assert_send(&store.commit_batch_with_retry(batch, &policy));
        assert_send(&mysql.commit_batch(batch));
        assert_send(&store.prune(0));
        assert_send(&store.counts());
    }

    #[test]
    fn store_is_send_and_sync() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Store>();
        send_sync::<MysqlStore>();
    }

    #[test]
    fn ddl_split() {
        let s = ddl_statements("-- c;\nCREATE TABLE a (x INT); \n\nINSERT INTO a VALUES (1);\n");
        assert_eq!(
            s,
            vec!["CREATE TABLE a (x INT)", "INSERT INTO a VALUES (1)"]
        );
        assert_eq!(
            ddl_statements(include_str!(
                "../../../../templates/sql/mysql/001_initial.sql"
            ))
            .len(),
            9
        );
        assert_eq!(
            ddl_statements(include_str!(
                "../../../../templates/sql/sqlite/001_initial.sql"
            ))
            .len(),
            20
        );
        assert_eq!(
            ddl_statements(include_str!(
                "../../../../templates/sql/mysql/002_lean_load.sql"
            ))
            .len(),
            6
        );
    }
}
