//! Read-side answers to the analysts' questions (`passive-dns.md`), as plain structs.
//!
//! All of them read the aggregate tables, never the raw `flows`/`dns` rows, so they stay fast
//! whatever the raw retention is, and are unaffected by `prune`. Names given by the caller are
//! normalised like stored names (ASCII lower case, trailing dot added). Times are milliseconds
//! since the Unix epoch, UTC.

use std::net::IpAddr;

/// One (rrname, rrtype, rrval) aggregate: the COF record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrRecord {
    pub rrname: String,
    pub rrtype: u16,
    pub rrval: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub count: u64,
    pub ttl_min: u32,
    pub ttl_max: u32,
}

/// A client that resolved a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSeen {
    pub client: IpAddr,
    pub rrname: String,
    pub first_seen: i64,
    pub last_seen: i64,
    /// DNS flows of this client naming the name.
    pub count: u64,
}

/// One name with its totals over all its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameSeen {
    pub rrname: String,
    pub first_seen: i64,
    pub last_seen: i64,
    /// Sum of RR counts.
    pub count: u64,
}

/// Everything known about one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameSummary {
    pub rrname: String,
    /// Over answers (pdns_rr), or over lookups when the name was never answered.
    pub first_seen: i64,
    pub last_seen: i64,
    /// Sum of RR counts (answers seen).
    pub answers: u64,
    /// Distinct (rrtype, rrval) pairs.
    pub distinct_values: u64,
    /// Distinct clients that looked it up.
    pub clients: u64,
    /// DNS flows naming it, over all clients.
    pub lookups: u64,
}

/// Thresholds for `fast_flux`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FluxParams {
    /// Only records last seen at or after this time.
    pub since_ms: i64,
    /// At least this many distinct A/AAAA values.
    pub min_values: u64,
    /// Smallest TTL seen must be at most this.
    pub max_ttl: u32,
    /// At most this many distinct clients ("many IPs, few clients").
    pub max_clients: u64,
    pub limit: usize,
}

impl Default for FluxParams {
    fn default() -> Self {
        FluxParams {
            since_ms: 0,
            min_values: 10,
            max_ttl: 300,
            max_clients: u64::MAX,
            limit: 50,
        }
    }
}

/// A fast-flux candidate, ranked by `values / max(1, clients)`.
#[derive(Debug, Clone, PartialEq)]
pub struct FluxCandidate {
    pub rrname: String,
    /// Distinct A/AAAA values.
    pub values: u64,
    /// Distinct IPv4 /16 and IPv6 /32 prefixes among them (an ASN proxy).
    pub prefixes: u64,
    pub ttl_min: u32,
    pub ttl_max: u32,
    pub clients: u64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub score: f64,
}

/// A TLD with how much it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TldSeen {
    pub tld: String,
    pub names: u64,
    pub count: u64,
    pub first_seen: i64,
}

/// A (client, resolver) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverUse {
    pub client: IpAddr,
    pub resolver: IpAddr,
    pub port: u16,
    pub first_seen: i64,
    pub last_seen: i64,
    /// DNS flows.
    pub count: u64,
}

/// Row counts of every table, for tests, metrics and `mediator status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableCounts {
    pub flows: u64,
    pub dns: u64,
    pub tcp: u64,
    pub pdns_rr: u64,
    pub pdns_client: u64,
    pub pdns_resolver: u64,
    pub ledger: u64,
}

/// Distinct "network" prefixes of a set of addresses given as text: /16 for IPv4, /32 for
/// IPv6; values that are not addresses count as their own prefix.
pub(crate) fn distinct_prefixes<'a>(values: impl Iterator<Item = &'a str>) -> u64 {
    let mut set = std::collections::HashSet::new();
    for v in values {
        let key = match v.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => {
                let o = a.octets();
                format!("4:{}.{}", o[0], o[1])
            }
            Ok(IpAddr::V6(a)) => {
                let s = a.segments();
                format!("6:{:x}:{:x}", s[0], s[1])
            }
            Err(_) => format!("?:{v}"),
        };
        set.insert(key);
    }
    set.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let v = [
            "10.1.2.3",
            "10.1.9.9",
            "10.2.0.1",
            "2001:db8::1",
            "2001:db8:1::1",
            "x",
        ];
        assert_eq!(distinct_prefixes(v.iter().copied()), 4);
    }
}
