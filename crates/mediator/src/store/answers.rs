//! The analysts' questions, written once for both backends.
//!
//! Each backend only runs SQL and reports cells ([`Rows`], [`Cell`]); the SQL text (`?`
//! placeholders, which both MariaDB and SQLite bind in order) and the mapping of result rows to
//! the structs of `query.rs` live here. Where the dialects differ (the first label of a
//! reversed name) the backend supplies that expression.

use std::future::Future;
use std::net::IpAddr;

use super::prep;
use super::query::{
    distinct_prefixes, ClientSeen, FluxCandidate, FluxParams, NameSeen, NameSummary, ResolverUse,
    RrRecord, TableCounts, TldSeen,
};
use super::StoreError;

/// A bound parameter; each backend converts it to its own value type.
#[derive(Debug, Clone)]
pub(super) enum Param {
    Bytes(Vec<u8>),
    Text(String),
    UInt(u64),
    /// Milliseconds since the epoch, bound as the backend stores times.
    Time(i64),
}

/// One result cell as a backend reports it. Conversions are lenient (0 or empty on a type the
/// column never has): the SQL is ours, and a bad cell must not fail a whole answer.
pub(super) trait Cell {
    fn ms(&self) -> i64;
    fn num(&self) -> u64;
    fn text(&self) -> String;
    fn ip(&self) -> Option<IpAddr>;
}

/// What a backend provides to answer the questions.
pub(super) trait Rows: Sync {
    type Cell: Cell + Send;
    /// SQL for the first label of `rrname_rev` (the TLD), aliased by the caller.
    const TLD_EXPR: &'static str;

    fn rows(
        &self,
        context: &'static str,
        sql: String,
        params: Vec<Param>,
    ) -> impl Future<Output = Result<Vec<Vec<Self::Cell>>, StoreError>> + Send;
}

/// Cell `i` of a row, with the lenient defaults of [`Cell`] when the row is shorter.
struct At<'a, C>(&'a [C]);

impl<C: Cell> At<'_, C> {
    fn ms(&self, i: usize) -> i64 {
        self.0.get(i).map_or(0, Cell::ms)
    }
    fn num(&self, i: usize) -> u64 {
        self.0.get(i).map_or(0, Cell::num)
    }
    fn text(&self, i: usize) -> String {
        self.0.get(i).map(Cell::text).unwrap_or_default()
    }
    fn ip(&self, i: usize) -> Option<IpAddr> {
        self.0.get(i).and_then(Cell::ip)
    }
}

const RR_COLS: &str = "rrname, rrtype, rrval, first_seen, last_seen, count, ttl_min, ttl_max";

fn rr_record<C: Cell>(c: &[C]) -> RrRecord {
    let c = At(c);
    RrRecord {
        rrname: c.text(0),
        rrtype: u16::try_from(c.num(1)).unwrap_or(0),
        rrval: c.text(2),
        first_seen: c.ms(3),
        last_seen: c.ms(4),
        count: c.num(5),
        ttl_min: u32::try_from(c.num(6)).unwrap_or(u32::MAX),
        ttl_max: u32::try_from(c.num(7)).unwrap_or(u32::MAX),
    }
}

fn name_seen<C: Cell>(c: &[C]) -> NameSeen {
    let c = At(c);
    NameSeen {
        rrname: c.text(0),
        first_seen: c.ms(1),
        last_seen: c.ms(2),
        count: c.num(3),
    }
}

fn lim(limit: usize) -> Param {
    Param::UInt(limit as u64)
}

fn since(ms: i64) -> Param {
    Param::Time(prep::clamp_ms(ms))
}

fn name_hash(norm: &str) -> Param {
    Param::Bytes(prep::name_hash(norm).to_vec())
}

pub(super) async fn counts<R: Rows>(r: &R) -> Result<TableCounts, StoreError> {
    let rows = r
        .rows(
            "counts",
            "SELECT (SELECT COUNT(*) FROM flows), (SELECT COUNT(*) FROM dns), \
             (SELECT COUNT(*) FROM tcp), (SELECT COUNT(*) FROM pdns_rr), \
             (SELECT COUNT(*) FROM pdns_client), (SELECT COUNT(*) FROM pdns_resolver), \
             (SELECT COUNT(*) FROM ingest_ledger)"
                .into(),
            vec![],
        )
        .await?;
    let c = At(rows.first().map_or(&[][..], Vec::as_slice));
    Ok(TableCounts {
        flows: c.num(0),
        dns: c.num(1),
        tcp: c.num(2),
        pdns_rr: c.num(3),
        pdns_client: c.num(4),
        pdns_resolver: c.num(5),
        ledger: c.num(6),
    })
}

pub(super) async fn who_resolved<R: Rows>(
    r: &R,
    name: &str,
    since_ms: i64,
    limit: usize,
) -> Result<Vec<ClientSeen>, StoreError> {
    let norm = prep::normalize_name(name);
    let rows = r
        .rows(
            "who_resolved",
            "SELECT client, rrname, first_seen, last_seen, count FROM pdns_client \
             WHERE name_hash = ? AND last_seen >= ? ORDER BY last_seen DESC LIMIT ?"
                .into(),
            vec![name_hash(&norm), since(since_ms), lim(limit)],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|c| {
            let c = At(c);
            Some(ClientSeen {
                client: c.ip(0)?,
                rrname: c.text(1),
                first_seen: c.ms(2),
                last_seen: c.ms(3),
                count: c.num(4),
            })
        })
        .collect())
}

pub(super) async fn name_values<R: Rows>(
    r: &R,
    name: &str,
    rrtype: Option<u16>,
    limit: usize,
) -> Result<Vec<RrRecord>, StoreError> {
    let rev = Param::Text(prep::reverse_name(&prep::normalize_name(name)));
    let (sql, params) = match rrtype {
        Some(t) => (
            format!("SELECT {RR_COLS} FROM pdns_rr WHERE rrname_rev = ? AND rrtype = ? ORDER BY last_seen DESC LIMIT ?"),
            vec![rev, Param::UInt(u64::from(t)), lim(limit)],
        ),
        None => (
            format!("SELECT {RR_COLS} FROM pdns_rr WHERE rrname_rev = ? ORDER BY last_seen DESC LIMIT ?"),
            vec![rev, lim(limit)],
        ),
    };
    let rows = r.rows("name_values", sql, params).await?;
    Ok(rows.iter().map(|c| rr_record(c)).collect())
}

pub(super) async fn by_value<R: Rows>(
    r: &R,
    value: &str,
    limit: usize,
) -> Result<Vec<RrRecord>, StoreError> {
    let rows = r
        .rows(
            "by_value",
            format!(
                "SELECT {RR_COLS} FROM pdns_rr WHERE rrval = ? ORDER BY last_seen DESC LIMIT ?"
            ),
            vec![Param::Text(value.to_string()), lim(limit)],
        )
        .await?;
    Ok(rows.iter().map(|c| rr_record(c)).collect())
}

pub(super) async fn subdomains<R: Rows>(
    r: &R,
    domain: &str,
    limit: usize,
) -> Result<Vec<NameSeen>, StoreError> {
    let (lo, hi) = prep::subdomain_range(domain);
    let rows = r
        .rows(
            "subdomains",
            "SELECT rrname, MIN(first_seen), MAX(last_seen), SUM(count) FROM pdns_rr \
             WHERE rrname_rev > ? AND rrname_rev < ? GROUP BY rrname ORDER BY rrname LIMIT ?"
                .into(),
            vec![Param::Text(lo), Param::Text(hi), lim(limit)],
        )
        .await?;
    Ok(rows.iter().map(|c| name_seen(c)).collect())
}

pub(super) async fn name_summary<R: Rows>(
    r: &R,
    name: &str,
) -> Result<Option<NameSummary>, StoreError> {
    let norm = prep::normalize_name(name);
    let rr = r
        .rows(
            "name_summary",
            "SELECT MIN(first_seen), MAX(last_seen), SUM(count), COUNT(*) FROM pdns_rr \
             WHERE rrname_rev = ?"
                .into(),
            vec![Param::Text(prep::reverse_name(&norm))],
        )
        .await?;
    let cl = r
        .rows(
            "name_summary",
            "SELECT MIN(first_seen), MAX(last_seen), SUM(count), COUNT(*) FROM pdns_client \
             WHERE name_hash = ?"
                .into(),
            vec![name_hash(&norm)],
        )
        .await?;
    let rr = At(rr.first().map_or(&[][..], Vec::as_slice));
    let cl = At(cl.first().map_or(&[][..], Vec::as_slice));
    let values = rr.num(3);
    let clients = cl.num(3);
    if values == 0 && clients == 0 {
        return Ok(None);
    }
    let (first, last) = if values > 0 {
        (rr.ms(0), rr.ms(1))
    } else {
        (cl.ms(0), cl.ms(1))
    };
    Ok(Some(NameSummary {
        rrname: norm,
        first_seen: first,
        last_seen: last,
        answers: rr.num(2),
        distinct_values: values,
        clients,
        lookups: cl.num(2),
    }))
}

pub(super) async fn new_names<R: Rows>(
    r: &R,
    since_ms: i64,
    limit: usize,
) -> Result<Vec<NameSeen>, StoreError> {
    let rows = r
        .rows(
            "new_names",
            // Driven by the candidates: the recent first_seen_insert keys (an index range;
            // first_seen only decreases, so a recent first_seen has a recent
            // first_seen_insert; schema 4), their names materialised once, then all keys of
            // those names through the reversed-name index (rrname itself has no index); HAVING
            // keeps the names whose earliest sighting is recent. Written as a join on a
            // DISTINCT derived table rather than IN (subquery): MariaDB turned the IN form into
            // a scan of the whole table with a probe per row.
            "SELECT p.rrname, MIN(p.first_seen) AS fs, MAX(p.last_seen), SUM(p.count) FROM \
             (SELECT DISTINCT rrname_rev FROM pdns_rr WHERE first_seen_insert >= ?) n \
             JOIN pdns_rr p ON p.rrname_rev = n.rrname_rev \
             GROUP BY p.rrname HAVING MIN(p.first_seen) >= ? ORDER BY fs DESC, p.rrname LIMIT ?"
                .into(),
            vec![since(since_ms), since(since_ms), lim(limit)],
        )
        .await?;
    Ok(rows.iter().map(|c| name_seen(c)).collect())
}

pub(super) async fn fast_flux<R: Rows>(
    r: &R,
    p: &FluxParams,
) -> Result<Vec<FluxCandidate>, StoreError> {
    // Over-fetch: the client filter below can drop candidates.
    let fetch = p.limit.saturating_mul(4).max(p.limit);
    let cands = r
        .rows(
            "fast_flux",
            "SELECT rrname, COUNT(*) AS n, MIN(ttl_min), MAX(ttl_max), MIN(first_seen), \
             MAX(last_seen) FROM pdns_rr WHERE rrtype IN (1, 28) AND last_seen >= ? \
             GROUP BY rrname HAVING COUNT(*) >= ? AND MIN(ttl_min) <= ? \
             ORDER BY n DESC LIMIT ?"
                .into(),
            vec![
                since(p.since_ms),
                Param::UInt(p.min_values),
                Param::UInt(u64::from(p.max_ttl)),
                lim(fetch),
            ],
        )
        .await?;
    let mut out = Vec::new();
    for c in &cands {
        let c = At(c);
        let rrname = c.text(0);
        let norm = prep::normalize_name(&rrname);
        let cl = r
            .rows(
                "fast_flux clients",
                "SELECT COUNT(*) FROM pdns_client WHERE name_hash = ? AND last_seen >= ?".into(),
                vec![name_hash(&norm), since(p.since_ms)],
            )
            .await?;
        let clients = cl.first().map_or(0, |row| At(row).num(0));
        if clients > p.max_clients {
            continue;
        }
        let vals = r
            .rows(
                "fast_flux values",
                "SELECT rrval FROM pdns_rr WHERE rrname_rev = ? AND rrtype IN (1, 28) \
                 AND last_seen >= ?"
                    .into(),
                vec![Param::Text(prep::reverse_name(&rrname)), since(p.since_ms)],
            )
            .await?;
        let strs: Vec<String> = vals.iter().map(|row| At(row).text(0)).collect();
        let values = c.num(1);
        out.push(FluxCandidate {
            prefixes: distinct_prefixes(strs.iter().map(String::as_str)),
            rrname,
            values,
            ttl_min: u32::try_from(c.num(2)).unwrap_or(u32::MAX),
            ttl_max: u32::try_from(c.num(3)).unwrap_or(u32::MAX),
            clients,
            first_seen: c.ms(4),
            last_seen: c.ms(5),
            score: values as f64 / clients.max(1) as f64,
        });
    }
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.values.cmp(&a.values))
            .then(a.rrname.cmp(&b.rrname))
    });
    out.truncate(p.limit);
    Ok(out)
}

pub(super) async fn rare_tlds<R: Rows>(
    r: &R,
    since_ms: i64,
    limit: usize,
) -> Result<Vec<TldSeen>, StoreError> {
    let rows = r
        .rows(
            "rare_tlds",
            format!(
                "SELECT {} AS tld, COUNT(DISTINCT rrname) AS n, SUM(count) AS c, \
                 MIN(first_seen) FROM pdns_rr WHERE last_seen >= ? \
                 GROUP BY tld ORDER BY n ASC, c ASC, tld LIMIT ?",
                R::TLD_EXPR
            ),
            vec![since(since_ms), lim(limit)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|c| {
            let c = At(c);
            TldSeen {
                tld: c.text(0),
                names: c.num(1),
                count: c.num(2),
                first_seen: c.ms(3),
            }
        })
        .collect())
}

pub(super) async fn unapproved_resolvers<R: Rows>(
    r: &R,
    allowed: &[IpAddr],
    since_ms: i64,
    limit: usize,
) -> Result<Vec<ResolverUse>, StoreError> {
    let mut params = vec![since(since_ms)];
    let mut sql = String::from(
        "SELECT client, resolver, port, first_seen, last_seen, count FROM pdns_resolver \
         WHERE last_seen >= ?",
    );
    if !allowed.is_empty() {
        sql.push_str(" AND resolver NOT IN (");
        sql.push_str(&vec!["?"; allowed.len()].join(","));
        sql.push(')');
        params.extend(allowed.iter().map(|ip| Param::Bytes(prep::ip_bytes(*ip))));
    }
    sql.push_str(" ORDER BY count DESC, last_seen DESC LIMIT ?");
    params.push(lim(limit));
    let rows = r.rows("unapproved_resolvers", sql, params).await?;
    Ok(rows
        .iter()
        .filter_map(|c| {
            let c = At(c);
            Some(ResolverUse {
                client: c.ip(0)?,
                resolver: c.ip(1)?,
                port: u16::try_from(c.num(2)).unwrap_or(0),
                first_seen: c.ms(3),
                last_seen: c.ms(4),
                count: c.num(5),
            })
        })
        .collect())
}
