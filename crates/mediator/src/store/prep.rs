//! Backend-independent preparation of a batch: bounds, derived columns and the per-batch
//! pre-aggregation of the passive-DNS tables.
//!
//! Aggregating in memory first means each aggregate key is upserted once per batch instead of
//! once per DNS row (super_mediator's dedup saw 73 % fewer keys than RRs), which is what keeps
//! "aggregates on ingest" close to the plain load rate. Keys are sorted so that concurrent
//! loaders lock aggregate rows in the same order, which makes deadlocks rare (they are still
//! retried as transient errors).

use std::collections::HashMap;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::model::{Batch, DnsRow, FlowRow};
use super::StoreError;

/// Column limits shared by both schemas (characters). Longer values are cut at a character
/// boundary rather than failing the batch: a 1024-character DNS name is already 4 times the
/// longest legal wire name, so only escaped TXT/binary rdata can reach it.
pub const MAX_TEXT: usize = 1024;
pub const MAX_SENSOR: usize = 255;
/// `dns.seq` is a SMALLINT UNSIGNED in the key (flow id, seq).
pub const MAX_DNS_PER_FLOW: usize = 65_535;

/// Largest millisecond timestamp both DATETIME(3) and our text format can hold
/// (9999-12-31 23:59:59.999).
const MAX_MS: i64 = 253_402_300_799_999;

/// Ports on which a host is taken to be the DNS server side of a flow.
const DNS_SERVER_PORTS: &[u16] = &[53, 853, 5353];

pub type Hash16 = [u8; 16];

/// Calendar form of a millisecond timestamp, used to bind DATETIME(3) values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilMs {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub milli: u16,
}

/// `None` when the timestamp is outside year 1970..=9999 (garbage from an exporter).
pub fn civil_from_ms(ms: i64) -> Option<CivilMs> {
    if !(0..=MAX_MS).contains(&ms) {
        return None;
    }
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    Some(CivilMs {
        year: u16::try_from(t.year()).ok()?,
        month: u8::from(t.month()),
        day: t.day(),
        hour: t.hour(),
        minute: t.minute(),
        second: t.second(),
        milli: t.millisecond(),
    })
}

pub fn ms_from_civil(c: CivilMs) -> Option<i64> {
    let month = time::Month::try_from(c.month).ok()?;
    let date = time::Date::from_calendar_date(i32::from(c.year), month, c.day).ok()?;
    let t = time::Time::from_hms_milli(c.hour, c.minute, c.second, c.milli).ok()?;
    let nanos = time::PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).ok()
}

/// Text form used by the SQLite schema: sorts like the timestamp and reads like MySQL's
/// DATETIME(3) output.
pub fn text_from_ms(ms: i64) -> Option<String> {
    let c = civil_from_ms(ms)?;
    Some(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.milli
    ))
}

/// Parses `YYYY-MM-DD HH:MM:SS[.fff]`.
pub fn ms_from_text(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u16> { s.get(r)?.parse().ok() };
    let milli = match s.get(19..) {
        None | Some("") => 0,
        Some(frac) => {
            let digits = frac.strip_prefix('.')?;
            let mut v: u16 = 0;
            for (i, d) in digits.bytes().take(3).enumerate() {
                if !d.is_ascii_digit() {
                    return None;
                }
                v += u16::from(d - b'0') * [100, 10, 1][i];
            }
            v
        }
    };
    ms_from_civil(CivilMs {
        year: num(0..4)?,
        month: u8::try_from(num(5..7)?).ok()?,
        day: u8::try_from(num(8..10)?).ok()?,
        hour: u8::try_from(num(11..13)?).ok()?,
        minute: u8::try_from(num(14..16)?).ok()?,
        second: u8::try_from(num(17..19)?).ok()?,
        milli,
    })
}

/// Clamps a timestamp into the storable range (for aggregate columns, which are NOT NULL).
pub fn clamp_ms(ms: i64) -> i64 {
    ms.clamp(0, MAX_MS)
}

/// Cuts `s` to at most `max` characters.
pub fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

/// Splits a presentation-form name into labels, honouring `\.` and `\DDD` escapes, so that an
/// escaped dot inside a label does not split it.
fn labels(name: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = name.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'\\') => i += 2,
            Some(b'.') => {
                if let Some(l) = name.get(start..i) {
                    if !l.is_empty() {
                        out.push(l);
                    }
                }
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if let Some(l) = name.get(start..) {
        if !l.is_empty() {
            out.push(l);
        }
    }
    out
}

/// Lower-cases ASCII letters only: DNS names compare case-insensitively for ASCII, and 0x20
/// randomisation would otherwise split one name into many aggregate keys.
pub fn normalize_name(name: &str) -> String {
    let mut n = String::with_capacity(name.len() + 1);
    normalize_into(name, &mut n);
    n
}

/// `normalize_name` into a reused buffer (one allocation per batch instead of one per row).
fn normalize_into(name: &str, out: &mut String) {
    out.clear();
    out.push_str(name);
    out.make_ascii_lowercase();
    // Names from exporters that omit the trailing dot get YAF's form.
    if !out.ends_with('.') {
        out.push('.');
    }
}

/// Label-reversed form with a trailing dot: `www.youtube.com.` -> `com.youtube.www.`; the
/// subdomains of `youtube.com.` are then the keys in the open range (`com.youtube.`,
/// `com.youtube/`), a B-tree prefix range scan.
pub fn reverse_name(name: &str) -> String {
    let ls = labels(name);
    if ls.is_empty() {
        return ".".to_string();
    }
    let mut out = String::with_capacity(name.len() + 1);
    for l in ls.iter().rev() {
        out.push_str(l);
        out.push('.');
    }
    out
}

/// Bounds of the open key range holding the reversed names of all strict subdomains of
/// `domain` ('/' is the byte after '.').
pub fn subdomain_range(domain: &str) -> (String, String) {
    let rev = reverse_name(&normalize_name(domain));
    if rev == "." {
        // Every name is a subdomain of the root.
        return (String::new(), "\u{10FFFF}".to_string());
    }
    let mut hi = rev.clone();
    hi.pop();
    hi.push('/');
    (rev, hi)
}

/// First label of the reversed name (the TLD), `""` for the root.
pub fn tld_of(name: &str) -> String {
    labels(name)
        .last()
        .map(|l| l.to_ascii_lowercase())
        .unwrap_or_default()
}

fn hash_parts(tag: &[u8], parts: &[&[u8]]) -> Hash16 {
    let mut h = Sha256::new();
    h.update(tag);
    for p in parts {
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Key of the pdns_rr aggregate: (normalised rrname, rrtype, rrval).
pub fn rr_hash(norm_name: &str, rrtype: u16, rrval: &str) -> Hash16 {
    hash_parts(
        b"rr\0",
        &[
            norm_name.as_bytes(),
            &rrtype.to_be_bytes(),
            rrval.as_bytes(),
        ],
    )
}

/// Key of a name in pdns_client (combined with the client address in the primary key): the
/// first 16 bytes of SHA-256 of the normalised name, untagged, so that SQL can compute it
/// (`UNHEX(LEFT(SHA2('www.example.com.', 256), 32))`) and hand-written lookups use the key.
pub fn name_hash(norm_name: &str) -> Hash16 {
    let full = Sha256::digest(norm_name.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Hash of a ledger source key (keys may be longer than an index allows).
pub fn key_hash(key: &str) -> Hash16 {
    hash_parts(b"src\0", &[key.as_bytes()])
}

/// 4 bytes for IPv4, 16 for IPv6: the aggregate tables' VARBINARY(16)/BLOB form.
pub fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

pub fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Which side of a DNS flow is the client and which the resolver.
///
/// The DNS server is the side on a DNS port (53, 853 DoT, 5353 mDNS) when only one side is;
/// otherwise (both on 53 between servers, or odd ports) the flow's source, which for YAF biflows
/// is the initiator and so the side that sent the query.
pub fn client_resolver(f: &FlowRow) -> (IpAddr, IpAddr, u16) {
    let src_srv = DNS_SERVER_PORTS.contains(&f.src_port);
    let dst_srv = DNS_SERVER_PORTS.contains(&f.dst_port);
    if src_srv && !dst_srv {
        (f.dst, f.src, f.src_port)
    } else {
        (f.src, f.dst, f.dst_port)
    }
}

/// Multicast and broadcast addresses (mDNS 224.0.0.251 and ff02::fb, LLMNR 224.0.0.252 and
/// ff02::1:3, NetBIOS broadcasts) are link-local name resolution, not a resolver a client
/// chose: they never appear as resolvers, and a host that only answered such a group is not
/// a client that resolved anything.
fn is_group_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_multicast(),
    }
}

/// A flow is a DNS flow for the resolver aggregate if DPI found DNS in it, or if it goes to a
/// DNS port over UDP/TCP (DoT on 853 carries no readable DNS but is still resolver use).
fn is_dns_flow(f: &FlowRow) -> bool {
    !f.dns.is_empty()
        || (matches!(f.protocol, 6 | 17)
            && (DNS_SERVER_PORTS.contains(&f.dst_port) || DNS_SERVER_PORTS.contains(&f.src_port)))
}

/// Serialisable for write-behind payloads (pending.rs), which leave out `rrname_rev` and derive
/// it again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RrAgg {
    pub hash: Hash16,
    pub rrname: String,
    #[serde(skip)]
    pub rrname_rev: String,
    pub rrtype: u16,
    pub rrval: String,
    pub first_ms: i64,
    pub last_ms: i64,
    pub count: u64,
    pub ttl_min: u32,
    pub ttl_max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAgg {
    pub name_hash: Hash16,
    pub client: Vec<u8>,
    pub rrname: String,
    pub first_ms: i64,
    pub last_ms: i64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResolverAgg {
    pub client: Vec<u8>,
    pub resolver: Vec<u8>,
    pub port: u16,
    pub first_ms: i64,
    pub last_ms: i64,
    pub count: u64,
}

/// Derived per-DNS-row columns, parallel to the batch's rows.
#[derive(Debug, Clone)]
pub struct PreparedDns<'a> {
    pub row: &'a DnsRow,
    pub seq: u16,
    pub rrname: &'a str,
    pub rrval: &'a str,
}

#[derive(Debug)]
pub struct Prepared<'a> {
    pub key_hash: Hash16,
    pub flows: usize,
    pub dns_rows: usize,
    /// Per flow, its DNS rows (same order as `batch.flows`).
    pub dns: Vec<Vec<PreparedDns<'a>>>,
    pub rr: Vec<RrAgg>,
    pub clients: Vec<ClientAgg>,
    pub resolvers: Vec<ResolverAgg>,
}

/// Validates and derives everything both backends need. Aggregate rules:
/// - pdns_rr: every response RR (qr = 1) outside the question section, keyed by (lower-cased
///   rrname, rrtype, rrval); count = number of RRs, first/last = flow start/end, TTL range.
/// - pdns_client: per flow, each distinct lower-cased name in the question and answer sections
///   (so CNAME targets count as resolved too), keyed by (client, name); count = flows.
/// - pdns_resolver: per DNS flow (see `is_dns_flow`), (client, resolver, resolver port).
pub fn prepare(batch: &Batch) -> Result<Prepared<'_>, StoreError> {
    let invalid = |reason: String| StoreError::InvalidBatch {
        source_label: batch.source.label.clone(),
        chunk: batch.chunk,
        reason,
    };
    if batch.source.key.is_empty() {
        return Err(invalid("empty source key".into()));
    }
    let mut rr: HashMap<Hash16, RrAgg> = HashMap::new();
    // Keyed by the addresses themselves: their byte form is built once per distinct key, not
    // once per row (allocation was the largest share of this function's time).
    let mut clients: HashMap<(Hash16, IpAddr), ClientAgg> = HashMap::new();
    let mut resolvers: HashMap<(IpAddr, IpAddr, u16), ResolverAgg> = HashMap::new();
    let mut dns_all = Vec::with_capacity(batch.flows.len());
    let mut dns_rows = 0usize;
    let mut norm = String::new();
    for (fi, f) in batch.flows.iter().enumerate() {
        if f.dns.len() > MAX_DNS_PER_FLOW {
            return Err(invalid(format!(
                "flow {fi} has {} DNS rows, more than {MAX_DNS_PER_FLOW}",
                f.dns.len()
            )));
        }
        dns_rows += f.dns.len();
        let first = clamp_ms(f.start_ms);
        let last = clamp_ms(f.end_ms.max(f.start_ms));
        let (client, resolver, port) = client_resolver(f);
        // An mDNS/LLMNR announcement (responses only, sent to the group) names what the sender
        // answers for, not what it looked up.
        let group_announcement =
            is_group_address(resolver) && !f.dns.is_empty() && f.dns.iter().all(|d| d.qr == 1);
        let mut names_seen: Vec<String> = Vec::new();
        let mut prepared = Vec::with_capacity(f.dns.len());
        for (seq, d) in f.dns.iter().enumerate() {
            let rrname = truncate_chars(&d.rrname, MAX_TEXT);
            let rrval = truncate_chars(&d.rrval, MAX_TEXT);
            // Normalising adds a dot: cut again so every derived column fits (in place: one
            // allocation per row, not two).
            normalize_into(rrname, &mut norm);
            let fits = truncate_chars(&norm, MAX_TEXT).len();
            norm.truncate(fits);
            if d.qr == 1 && d.section != 0 {
                let h = rr_hash(&norm, d.rrtype, rrval);
                let e = rr.entry(h).or_insert_with(|| RrAgg {
                    hash: h,
                    rrname: norm.clone(),
                    // Only per distinct key: reversing is the costliest string work here.
                    rrname_rev: {
                        let mut r = reverse_name(&norm);
                        r.truncate(truncate_chars(&r, MAX_TEXT).len());
                        r
                    },
                    rrtype: d.rrtype,
                    rrval: rrval.to_string(),
                    first_ms: first,
                    last_ms: last,
                    count: 0,
                    ttl_min: d.ttl,
                    ttl_max: d.ttl,
                });
                e.first_ms = e.first_ms.min(first);
                e.last_ms = e.last_ms.max(last);
                e.count += 1;
                e.ttl_min = e.ttl_min.min(d.ttl);
                e.ttl_max = e.ttl_max.max(d.ttl);
            }
            if d.section <= 1 && !group_announcement && !names_seen.contains(&norm) {
                let nh = name_hash(&norm);
                let e = clients.entry((nh, client)).or_insert_with(|| ClientAgg {
                    name_hash: nh,
                    client: ip_bytes(client),
                    rrname: norm.clone(),
                    first_ms: first,
                    last_ms: last,
                    count: 0,
                });
                e.first_ms = e.first_ms.min(first);
                e.last_ms = e.last_ms.max(last);
                e.count += 1;
                names_seen.push(norm.clone());
            }
            prepared.push(PreparedDns {
                row: d,
                // Bounded by MAX_DNS_PER_FLOW above.
                seq: u16::try_from(seq).unwrap_or(u16::MAX),
                rrname,
                rrval,
            });
        }
        if is_dns_flow(f) && !is_group_address(resolver) {
            let e = resolvers
                .entry((client, resolver, port))
                .or_insert_with(|| ResolverAgg {
                    client: ip_bytes(client),
                    resolver: ip_bytes(resolver),
                    port,
                    first_ms: first,
                    last_ms: last,
                    count: 0,
                });
            e.first_ms = e.first_ms.min(first);
            e.last_ms = e.last_ms.max(last);
            e.count += 1;
        }
        dns_all.push(prepared);
    }
    let mut rr: Vec<RrAgg> = rr.into_values().collect();
    rr.sort_unstable_by_key(|a| a.hash);
    let mut clients: Vec<ClientAgg> = clients.into_values().collect();
    clients.sort_unstable_by(|a, b| (a.name_hash, &a.client).cmp(&(b.name_hash, &b.client)));
    let mut resolvers: Vec<ResolverAgg> = resolvers.into_values().collect();
    resolvers.sort_unstable_by(|a, b| {
        (&a.client, &a.resolver, a.port).cmp(&(&b.client, &b.resolver, b.port))
    });
    Ok(Prepared {
        key_hash: key_hash(&batch.source.key),
        flows: batch.flows.len(),
        dns_rows,
        dns: dns_all,
        rr,
        clients,
        resolvers,
    })
}

/// YAF's rendering of TCP flags for the old `tcp` table's VARCHAR(10) columns (yfPrintFlags
/// order: CWR ECE URG ACK PSH RST SYN FIN); `0` when no flag is set.
pub fn tcp_flags_text(flags: u8) -> String {
    const NAMES: [(u8, char); 8] = [
        (0x80, 'C'),
        (0x40, 'E'),
        (0x20, 'U'),
        (0x10, 'A'),
        (0x08, 'P'),
        (0x04, 'R'),
        (0x02, 'S'),
        (0x01, 'F'),
    ];
    let s: String = NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, c)| *c)
        .collect();
    if s.is_empty() {
        "0".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversal() {
        assert_eq!(reverse_name("www.youtube.com."), "com.youtube.www.");
        assert_eq!(reverse_name("www.youtube.com"), "com.youtube.www.");
        assert_eq!(reverse_name("."), ".");
        assert_eq!(reverse_name(""), ".");
        // An escaped dot stays inside its label.
        assert_eq!(reverse_name("a\\.b.example."), "example.a\\.b.");
        assert_eq!(tld_of("www.Example.COM."), "com");
    }

    #[test]
    fn normalization() {
        assert_eq!(normalize_name("WwW.GooGle.com."), "www.google.com.");
        assert_eq!(normalize_name("example.org"), "example.org.");
        assert_eq!(normalize_name(""), ".");
    }

    #[test]
    fn subdomain_ranges() {
        let (lo, hi) = subdomain_range("YouTube.com");
        assert_eq!(lo, "com.youtube.");
        assert_eq!(hi, "com.youtube/");
        let inside = reverse_name("a.b.youtube.com.");
        assert!(inside.as_str() > lo.as_str() && inside.as_str() < hi.as_str());
        for outside in [
            "youtube.com.",
            "notyoutube.com.",
            "youtube.community.",
            "com.",
        ] {
            let r = reverse_name(outside);
            assert!(
                !(r.as_str() > lo.as_str() && r.as_str() < hi.as_str()),
                "{outside} must not be a subdomain"
            );
        }
    }

    #[test]
    fn time_round_trip() {
        assert_eq!(
            text_from_ms(1_700_000_000_123).as_deref(),
            Some("2023-11-14 22:13:20.123")
        );
        assert_eq!(
            ms_from_text("2023-11-14 22:13:20.123"),
            Some(1_700_000_000_123)
        );
        assert_eq!(ms_from_text("2023-11-14 22:13:20"), Some(1_700_000_000_000));
        assert_eq!(
            ms_from_text("2023-11-14 22:13:20.5"),
            Some(1_700_000_000_500)
        );
        assert_eq!(ms_from_text("garbage"), None);
        assert_eq!(civil_from_ms(-1), None);
        assert_eq!(civil_from_ms(i64::MAX), None);
        assert!(civil_from_ms(MAX_MS).is_some());
    }

    #[test]
    fn truncation_at_char_boundary() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("abc", 10), "abc");
    }

    #[test]
    fn flags() {
        assert_eq!(tcp_flags_text(0x12), "AS");
        assert_eq!(tcp_flags_text(0), "0");
        assert_eq!(tcp_flags_text(0xff), "CEUAPRSF");
    }

    #[test]
    fn hashes_are_field_separated() {
        assert_ne!(rr_hash("ab", 1, "c"), rr_hash("a", 1, "bc"));
        assert_eq!(name_hash("x."), name_hash("x."));
        // The untagged prefix, the value of SQL's UNHEX(LEFT(SHA2(name, 256), 32)) (store_suite
        // checks the server computes the same).
        let h = Sha256::digest(b"www.example.com.");
        assert_eq!(name_hash("www.example.com.")[..], h[..16]);
    }
}
