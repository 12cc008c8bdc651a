//! Row model: what the IPFIX side hands to the store.
//!
//! These are plain values with no database types in them, so the IPFIX mapping can be tested
//! without a database and both backends share one validation path (`prep.rs`).

use std::net::IpAddr;

/// One DNS resource record seen in a flow, as YAF exports it (`yaf-ipfix.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRow {
    /// 0 = query, 1 = response (`dnsQueryResponse`).
    pub qr: u8,
    /// RR type (`dnsQRType`); 0 when YAF reports a bare rcode.
    pub rrtype: u16,
    /// Authoritative answer bit (`dnsAuthoritative`).
    pub auth: u8,
    /// Full response code (`dnsResponseCode`); stored in the old `nx` column, which despite its
    /// name always held the whole rcode, not a boolean.
    pub rcode: u8,
    /// 0 question, 1 answer, 2 authority, 3 additional (`dnsSection`).
    pub section: u8,
    pub ttl: u32,
    /// Owner name in presentation form with YAF's trailing dot, e.g. `www.example.com.`.
    pub rrname: String,
    /// Record data in presentation form (`192.0.2.1`, `ns1.example.net.`, TXT text...).
    pub rrval: String,
    /// DNS transaction ID (`dnsId`), stored in the old `tid` column.
    pub dns_id: u16,
}

/// TCP details YAF exports for TCP flows (the old `tcp` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpRow {
    pub seq: u32,
    pub reverse_seq: u32,
    pub initial_flags: u8,
    pub reverse_initial_flags: u8,
    pub union_flags: u8,
    pub reverse_union_flags: u8,
}

/// One (bi)flow and the DNS records YAF's DPI attached to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    /// Exporter identity: a sensor name or the peer address, whatever the source knows.
    pub sensor: String,
    pub observation_domain: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub vlan: u16,
    /// Milliseconds since the Unix epoch (UTC).
    pub start_ms: i64,
    pub end_ms: i64,
    pub octets: u64,
    pub reverse_octets: u64,
    pub packets: u64,
    pub reverse_packets: u64,
    pub silk_app_label: u16,
    pub flow_end_reason: u8,
    pub flow_attributes: u16,
    pub reverse_flow_attributes: u16,
    pub ingress_interface: Option<u32>,
    pub egress_interface: Option<u32>,
    pub tcp: Option<TcpRow>,
    pub dns: Vec<DnsRow>,
}

/// Where a batch came from. `key` is the identity the ledger deduplicates on, so it must be the
/// same every time the same input is offered again (a content hash, or a journal file name plus
/// byte range) and never reused for different input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSource {
    pub key: String,
    /// For humans and logs only (file path, peer address).
    pub label: String,
}

/// The unit of atomic loading: all rows, aggregate updates and the ledger row of one
/// `(source.key, chunk)` commit together or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub source: BatchSource,
    /// Sequence number of this batch within its source (0, 1, 2... for a large file).
    pub chunk: u64,
    pub flows: Vec<FlowRow>,
}

impl Batch {
    pub fn dns_row_count(&self) -> usize {
        self.flows.iter().map(|f| f.dns.len()).sum()
    }
}
