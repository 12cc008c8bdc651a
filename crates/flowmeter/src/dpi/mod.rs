//! DNS deep-packet inspection: per-flow state that turns the DNS messages
//! of a UDP or TCP flow into the records YAF 2.16's dpacketplugin exports
//! (see ../shared/design/yaf-ipfix.md, "Semantics").
//!
//! Beyond YAF (unless [`DpiConfig::yaf_compat`]): every message of a UDP
//! flow in both directions, not only the first packet; DNS over TCP
//! reassembled by sequence number with all messages of the connection;
//! HTTPS/SVCB and CAA decoded; other types kept with their number.
//!
//! Bounds: each message (UDP datagram or TCP message) is decoded from at
//! most `max_payload` octets, a flow keeps at most `max_records_per_flow`
//! records between two `take_records` calls, and a TCP direction buffers at
//! most about `2 * (max_payload + 2)` octets (see [`tcp`]).

pub mod dns;
pub mod name;
pub mod rdata;
mod store;
pub mod tcp;

pub use dns::{parse_message, DnsError, DnsRecord, ErrorKind, Header};
pub use rdata::Rdata;

use store::RecordStore;
use tcp::TcpDirection;

/// Well-known DNS ports: DNS, mDNS (RFC 6762), LLMNR (RFC 4795).
pub const DNS_PORTS: [u16; 3] = [53, 5353, 5355];

#[derive(Clone, Debug)]
pub struct DpiConfig {
    /// Octets of one DNS message that are decoded (UDP datagram or TCP
    /// message); the rest of a longer message is not inspected.
    pub max_payload: usize,
    /// Records kept per flow between two exports; more are counted in
    /// `DnsStats::records_dropped`.
    pub max_records_per_flow: usize,
    /// Extra ports besides 53, 5353 (mDNS) and 5355 (LLMNR).
    pub dns_ports: Vec<u16>,
    /// Behave like YAF: only the first UDP packet with payload per
    /// direction, and only the first message of each TCP direction.
    pub yaf_compat: bool,
}

impl Default for DpiConfig {
    /// `max_payload` 4096: the largest EDNS0 UDP size in common use (the
    /// 2020 DNS flag day default is 1232), so nearly every UDP response is
    /// decoded whole, while a TCP direction's buffers stay under ~8 KiB.
    /// (YAF's own limit is --max-payload, per direction; the corpus run
    /// used 2048.) `max_records_per_flow` 256: a response rarely carries
    /// more than a few dozen RRs; this bounds a flow's DNS memory to tens
    /// of KiB even for a forwarder multiplexing many queries on one port.
    fn default() -> Self {
        DpiConfig {
            max_payload: 4096,
            max_records_per_flow: 256,
            dns_ports: Vec::new(),
            yaf_compat: false,
        }
    }
}

impl DpiConfig {
    pub fn is_dns_port(&self, port: u16) -> bool {
        DNS_PORTS.contains(&port) || self.dns_ports.contains(&port)
    }
}

/// DNS inspection counters, summed over flows by the caller.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct DnsStats {
    /// Messages whose header was decoded.
    pub messages: u64,
    /// Records kept for export.
    pub records: u64,
    /// Decoding errors of any DNS kind below (message framing or one RDATA).
    pub parse_errors: u64,
    pub truncated: u64,
    pub bad_pointer: u64,
    pub pointer_loop: u64,
    pub label_too_long: u64,
    pub name_too_long: u64,
    pub bad_count: u64,
    pub rdlength_overrun: u64,
    pub bad_rdata: u64,
    /// TCP: connection closed with a hole in the stream.
    pub tcp_gap: u64,
    /// TCP: out-of-order data beyond the buffer bound (hole given up).
    pub buffer_overflow: u64,
    /// TCP: a length prefix shorter than a DNS header (lost framing).
    pub tcp_desync: u64,
    /// Messages longer than `max_payload`, decoded from their start only.
    pub messages_capped: u64,
    /// Records decoded but not kept because of `max_records_per_flow`.
    pub records_dropped: u64,
}

impl DnsStats {
    pub fn count_error(&mut self, kind: ErrorKind) {
        let c = match kind {
            ErrorKind::Truncated => &mut self.truncated,
            ErrorKind::BadPointer => &mut self.bad_pointer,
            ErrorKind::PointerLoop => &mut self.pointer_loop,
            ErrorKind::LabelTooLong => &mut self.label_too_long,
            ErrorKind::NameTooLong => &mut self.name_too_long,
            ErrorKind::BadCount => &mut self.bad_count,
            ErrorKind::RdlengthOverrun => &mut self.rdlength_overrun,
            ErrorKind::BadRdata => &mut self.bad_rdata,
            ErrorKind::TcpGap => {
                self.tcp_gap += 1;
                return;
            }
            ErrorKind::BufferOverflow => {
                self.buffer_overflow += 1;
                return;
            }
        };
        *c += 1;
        self.parse_errors += 1;
    }

    /// Adds another set of counters (e.g. per-thread or per-flow).
    pub fn merge(&mut self, o: &DnsStats) {
        self.messages += o.messages;
        self.records += o.records;
        self.parse_errors += o.parse_errors;
        self.truncated += o.truncated;
        self.bad_pointer += o.bad_pointer;
        self.pointer_loop += o.pointer_loop;
        self.label_too_long += o.label_too_long;
        self.name_too_long += o.name_too_long;
        self.bad_count += o.bad_count;
        self.rdlength_overrun += o.rdlength_overrun;
        self.bad_rdata += o.bad_rdata;
        self.tcp_gap += o.tcp_gap;
        self.buffer_overflow += o.buffer_overflow;
        self.tcp_desync += o.tcp_desync;
        self.messages_capped += o.messages_capped;
        self.records_dropped += o.records_dropped;
    }
}

/// What only some DNS flows need, kept out of the common allocation.
#[derive(Debug, Default)]
struct Rare {
    /// TCP stream state per direction: about 80 octets each that a UDP
    /// flow would carry for nothing.
    tcp: [Option<Box<TcpDirection>>; 2],
}

#[derive(Debug, Default)]
struct Inner {
    records: RecordStore,
    rare: Option<Box<Rare>>,
    /// Per direction, saturating: UDP datagrams with payload seen (YAF
    /// mode looks at the first only) and messages decoded (YAF mode stops
    /// after one); only "none", "one" and "more" matter.
    udp_packets: [u8; 2],
    messages: [u8; 2],
    seen_dns: bool,
}

/// DNS state of one biflow. One pointer until the flow carries DNS.
#[derive(Default, Debug)]
pub struct DnsFlowState {
    inner: Option<Box<Inner>>,
}

/// Decodes one message into `dir`'s records, updating counters.
fn decode(
    cfg: &DpiConfig,
    inner: &mut Inner,
    reverse: bool,
    msg: &[u8],
    capped: bool,
    stats: &mut DnsStats,
) {
    if dns::Header::parse(msg).is_none() {
        stats.count_error(ErrorKind::Truncated);
        return;
    }
    stats.messages += 1;
    if capped {
        stats.messages_capped += 1;
    }
    let room = cfg
        .max_records_per_flow
        .saturating_sub(inner.records.total());
    let d = usize::from(reverse);
    inner.messages[d] = inner.messages[d].saturating_add(1);
    // Decoded records go to the flow's compact store, through a vector
    // reused from message to message (at most `max_records_per_flow` long).
    SCRATCH.with_borrow_mut(|recs| {
        recs.clear();
        decode_into(inner, d, msg, room, recs, stats);
    });
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<DnsRecord>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn decode_into(
    inner: &mut Inner,
    d: usize,
    msg: &[u8],
    room: usize,
    recs: &mut Vec<DnsRecord>,
    stats: &mut DnsStats,
) {
    match parse_message(msg, room, recs, stats) {
        Ok(o) => {
            stats.records_dropped += o.dropped as u64;
            inner.seen_dns = true;
        }
        Err(e) => {
            stats.count_error(e.kind);
            if !recs.is_empty() {
                inner.seen_dns = true;
            }
        }
    }
    let n = recs.len();
    if inner.records.extend(d, recs) {
        stats.records += n as u64;
    } else {
        stats.records_dropped += n as u64;
    }
}

impl DnsFlowState {
    /// One UDP datagram's payload, `reverse` = from the flow's responder.
    pub fn on_udp(&mut self, cfg: &DpiConfig, reverse: bool, payload: &[u8], stats: &mut DnsStats) {
        if payload.is_empty() {
            return;
        }
        if self.inner.is_none() && payload.len() < dns::HEADER_LEN {
            stats.count_error(ErrorKind::Truncated);
            return;
        }
        let inner = self.inner.get_or_insert_with(Box::default);
        let seen = &mut inner.udp_packets[usize::from(reverse)];
        *seen = seen.saturating_add(1);
        if cfg.yaf_compat && *seen > 1 {
            return;
        }
        let capped = payload.len() > cfg.max_payload;
        let msg = &payload[..payload.len().min(cfg.max_payload)];
        decode(cfg, inner, reverse, msg, capped, stats);
    }

    /// One TCP segment of the flow. Call it for every segment from the SYN
    /// on where possible; without the SYN, reassembly starts at the first
    /// segment that begins with a plausible length prefix and header.
    #[allow(clippy::too_many_arguments)]
    pub fn on_tcp(
        &mut self,
        cfg: &DpiConfig,
        reverse: bool,
        seq: u32,
        syn: bool,
        fin_or_rst: bool,
        payload: &[u8],
        stats: &mut DnsStats,
    ) {
        if self.inner.is_none() && payload.is_empty() && !syn {
            return;
        }
        let inner = self.inner.get_or_insert_with(Box::default);
        let d = usize::from(reverse);
        if cfg.yaf_compat && inner.messages[d] > 0 {
            return;
        }
        // The stream is moved out while it runs so that the message callback
        // can decode into the flow state without copying each message.
        let mut stream = inner
            .rare
            .as_mut()
            .and_then(|r| r.tcp[d].take())
            .unwrap_or_default();
        let mut tcp_stats = DnsStats::default();
        stream.on_segment(
            cfg.max_payload,
            seq,
            syn,
            fin_or_rst,
            payload,
            &mut tcp_stats,
            &mut |m, capped| {
                if !(cfg.yaf_compat && inner.messages[d] > 0) {
                    decode(cfg, inner, reverse, m, capped, stats);
                }
            },
        );
        stats.merge(&tcp_stats);
        inner.rare.get_or_insert_with(Box::default).tcp[d] = Some(stream);
    }

    /// Whether at least one message of this flow decoded as DNS.
    pub fn is_dns(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.seen_dns)
    }

    /// The records collected since the last call: forward direction first,
    /// then reverse (YAF's order).
    pub fn take_records(&mut self) -> Vec<DnsRecord> {
        match self.inner.as_mut() {
            Some(inner) => inner.records.take(),
            None => Vec::new(),
        }
    }

    /// Everything the flow holds, for a flow that has ended: its records
    /// expand later ([`PendingDns::into_records`]), possibly on another thread.
    pub fn into_pending(self) -> PendingDns {
        PendingDns { inner: self.inner }
    }
}

/// The DNS state of an ended flow, records not yet expanded.
#[derive(Debug, Default)]
pub struct PendingDns {
    inner: Option<Box<Inner>>,
}

impl PendingDns {
    /// The records: forward direction first, then reverse (YAF's order).
    pub fn into_records(self) -> Vec<DnsRecord> {
        match self.inner {
            Some(mut inner) => inner.records.take(),
            None => Vec::new(),
        }
    }
}

/// Cheap check whether a payload looks like DNS, on any port. The header
/// must be sane (opcode, counts that fit the payload, first question name
/// well formed); on a DNS port (53, 5353, 5355, `cfg.dns_ports`) only the
/// header fields are checked, so truncated or odd messages still count.
pub fn dns_candidate(cfg: &DpiConfig, proto: u8, sport: u16, dport: u16, payload: &[u8]) -> bool {
    const TCP: u8 = 6;
    const UDP: u8 = 17;
    if netbios_ns(cfg, proto, sport, dport, payload) {
        return false;
    }
    let known = cfg.is_dns_port(sport) || cfg.is_dns_port(dport);
    // UDP: the datagram is the message. TCP: the prefix declares its length.
    let (msg, declared) = match proto {
        UDP => (payload, payload.len()),
        TCP => {
            if !tcp::plausible_start(payload) {
                return false;
            }
            let Some(rest) = payload.get(2..) else {
                return false;
            };
            if rest.is_empty() {
                // Length prefix alone in the segment.
                return known;
            }
            let declared = match payload {
                [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
                _ => return false,
            };
            (rest, declared)
        }
        _ => return false,
    };
    let Some(h) = Header::parse(msg) else {
        return false;
    };
    if !matches!(h.opcode(), 0 | 1 | 2 | 4 | 5) {
        return false;
    }
    // A query carries no RCODE; RCODE values above 10 are not assigned to
    // the 4-bit header field.
    if (h.qr() == 0 && h.rcode() != 0) || h.rcode() > 10 {
        return false;
    }
    // Minimum sizes: a question is >= 5 octets, an RR >= 11.
    let min_len = dns::HEADER_LEN
        + 5 * usize::from(h.qdcount)
        + 11 * (usize::from(h.ancount) + usize::from(h.nscount) + usize::from(h.arcount));
    if min_len > declared || h.qdcount > 16 {
        return false;
    }
    if known {
        return true;
    }
    // Elsewhere: also the Z bit, a plausible question count, and a
    // well-formed first question name.
    if h.flags & 0x0040 != 0 || h.qdcount > 4 || (h.qdcount == 0 && h.qr() == 0) {
        return false;
    }
    if h.qdcount > 0 {
        // An assigned QTYPE: YAF turns down a DNS-shaped query for type 288
        // or 28960 (nDPI fuzz-2006-06-26-2594, NetBIOS port) but takes 40.
        return name::skip_name(msg, dns::HEADER_LEN, msg.len()).is_ok_and(|end| {
            matches!(msg.get(end..end + 4), Some([a, b, _, _])
                if matches!(u16::from_be_bytes([*a, *b]), 1..=260 | 32768 | 32769))
        });
    }
    true
}

/// NetBIOS name service (RFC 1002) on UDP port 137: the DNS wire format
/// with NetBIOS-encoded names. YAF labels such a flow 137 and its DNS
/// plugin never sees it; so do we unless the operator lists the port in
/// `dns_ports`. As YAF's labels show, a datagram on port 137 is NetBIOS
/// when its first name (the question's, or the first answer's when there
/// is no question) starts with the 32-octet encoded-name label and its type
/// is NB (0x20) or NBSTAT (0x21), whatever the 32 octets are; any other
/// DNS-shaped payload there is DNS to YAF (a fuzzed NB query turned into
/// type 40 is exported with its "...\xF5CABM." name). TCP on 137 is
/// never DNS.
pub fn netbios_ns(cfg: &DpiConfig, proto: u8, sport: u16, dport: u16, payload: &[u8]) -> bool {
    const UDP: u8 = 17;
    const NBNS: u16 = 137;
    if (sport != NBNS && dport != NBNS)
        || cfg.dns_ports.contains(&sport)
        || cfg.dns_ports.contains(&dport)
    {
        return false;
    }
    if proto != UDP {
        return true;
    }
    let Some(h) = Header::parse(payload) else {
        return false;
    };
    if (h.qdcount == 0 && h.ancount == 0) || payload.get(dns::HEADER_LEN) != Some(&0x20) {
        return false;
    }
    name::skip_name(payload, dns::HEADER_LEN, payload.len())
        .is_ok_and(|end| matches!(payload.get(end..end + 2), Some([0, 0x20 | 0x21])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dns_flows_state_fits_the_56_octet_size_class() {
        // Every DNS flow holds one `Inner` while it lasts: 57 octets or more
        // would be rounded up to mimalloc's 64 or 80 octet class.
        assert!(
            std::mem::size_of::<Inner>() <= 56,
            "{}",
            std::mem::size_of::<Inner>()
        );
    }

    const QUERY: [u8; 29] = [
        0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, // header: query, RD, 1 question
        7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, // example.com.
        0, 1, 0, 1, // A IN
    ];

    fn response() -> Vec<u8> {
        let mut m = QUERY.to_vec();
        m[2] = 0x81;
        m[3] = 0x80;
        m[7] = 1; // ancount
        m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 93, 184, 215, 14]);
        m
    }

    #[test]
    fn state_is_one_word() {
        assert_eq!(
            std::mem::size_of::<DnsFlowState>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn udp_both_directions_in_yaf_order() {
        let cfg = DpiConfig::default();
        let mut st = DnsStats::default();
        let mut f = DnsFlowState::default();
        f.on_udp(&cfg, true, &response(), &mut st);
        f.on_udp(&cfg, false, &QUERY, &mut st);
        assert!(f.is_dns());
        let r = f.take_records();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].section, r[0].qr), (0, 0));
        assert_eq!(
            (r[1].section, r[1].rdata.presentation().as_str()),
            (1, "93.184.215.14")
        );
        assert_eq!((st.messages, st.records, st.parse_errors), (2, 2, 0));
        assert!(f.take_records().is_empty());
    }

    #[test]
    fn yaf_compat_first_packet_only() {
        let mut cfg = DpiConfig {
            yaf_compat: true,
            ..DpiConfig::default()
        };
        let mut st = DnsStats::default();
        let mut f = DnsFlowState::default();
        for _ in 0..3 {
            f.on_udp(&cfg, false, &QUERY, &mut st);
        }
        assert_eq!(f.take_records().len(), 1);
        cfg.yaf_compat = false;
        let mut f = DnsFlowState::default();
        for _ in 0..3 {
            f.on_udp(&cfg, false, &QUERY, &mut st);
        }
        assert_eq!(f.take_records().len(), 3);
    }

    #[test]
    fn record_cap_per_flow() {
        let cfg = DpiConfig {
            max_records_per_flow: 2,
            ..DpiConfig::default()
        };
        let mut st = DnsStats::default();
        let mut f = DnsFlowState::default();
        for _ in 0..3 {
            f.on_udp(&cfg, false, &QUERY, &mut st);
        }
        assert_eq!(f.take_records().len(), 2);
        assert_eq!(st.records_dropped, 1);
    }

    #[test]
    fn max_payload_caps_each_message() {
        let cfg = DpiConfig {
            max_payload: 40,
            ..DpiConfig::default()
        };
        let mut st = DnsStats::default();
        let mut f = DnsFlowState::default();
        f.on_udp(&cfg, true, &response(), &mut st);
        assert!(f.take_records().is_empty());
        assert_eq!((st.messages_capped, st.truncated), (1, 1));
    }

    #[test]
    fn tcp_messages_both_directions() {
        let cfg = DpiConfig::default();
        let mut st = DnsStats::default();
        let mut f = DnsFlowState::default();
        let mut q = vec![0, QUERY.len() as u8];
        q.extend_from_slice(&QUERY);
        let r = response();
        let mut rs = vec![0, r.len() as u8];
        rs.extend_from_slice(&r);
        f.on_tcp(&cfg, false, 100, true, false, &[], &mut st);
        f.on_tcp(&cfg, true, 900, true, false, &[], &mut st);
        f.on_tcp(&cfg, false, 101, false, false, &q[..1], &mut st);
        f.on_tcp(&cfg, false, 102, false, false, &q[1..], &mut st);
        f.on_tcp(&cfg, true, 901, false, false, &rs, &mut st);
        let recs = f.take_records();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].section, 0);
        assert_eq!(recs[1].section, 1);
    }

    /// A NetBIOS name query as in nDPI fuzz-2006-06-26-2594.pcap frame 1
    /// (broadcast from 192.168.1.2:137), with its question type.
    fn nbns_query(qtype: u16) -> Vec<u8> {
        let mut m = vec![
            0x84, 0xe7, 0x01, 0x10, // id, flags: query, RD, B(roadcast)
            0, 1, 0, 0, 0, 0, 0, 0,    // qd=1 an=0 ns=0 ar=0
            0x20, // the 32-octet encoded-name label (RFC 1002 4.1)
        ];
        m.extend_from_slice(b"EFEDEJFPEEEPENEBEJEOCACACACACABM");
        m.push(0); // root: no scope
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]); // class IN
        m
    }

    #[test]
    fn netbios_name_service_is_not_dns_unless_yaf_says_so() {
        let cfg = DpiConfig::default();
        // NB (0x20) and NBSTAT (0x21) queries: NetBIOS, on either side
        for q in [nbns_query(0x20), nbns_query(0x21)] {
            assert!(netbios_ns(&cfg, 17, 137, 137, &q));
            assert!(netbios_ns(&cfg, 17, 11, 137, &q));
            assert!(!dns_candidate(&cfg, 17, 137, 137, &q));
        }
        // a positive name query response: no question, the answer's owner
        let mut r = nbns_query(0x20);
        r[2..8].copy_from_slice(&[0x85, 0x00, 0, 0, 0, 1]); // QR AA, qd=0 an=1
        assert!(netbios_ns(&cfg, 17, 137, 137, &r));
        // frame 458: the fuzzer made the type 40 (SINK) and an encoded
        // character 0xF5. YAF labels that flow DNS and exports the
        // question "EFEDEJFPEEEPENEBEJEOCACACAC\xF5CABM." type 40.
        let mut sink = nbns_query(40);
        sink[12 + 1 + 27] = 0xF5;
        assert!(!netbios_ns(&cfg, 17, 137, 137, &sink));
        assert!(dns_candidate(&cfg, 17, 137, 137, &sink));
        let mut st = DnsStats::default();
        let mut f = DnsFlowState::default();
        f.on_udp(&cfg, false, &sink, &mut st);
        let recs = f.take_records();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].qname, "EFEDEJFPEEEPENEBEJEOCACACAC\\xF5CABM.");
        assert_eq!((recs[0].rrtype, recs[0].section), (40, 0));
        // frame 210: type 0x0120 is neither (YAF's label 0)
        let odd = nbns_query(0x0120);
        assert!(!netbios_ns(&cfg, 17, 88, 137, &odd));
        assert!(!dns_candidate(&cfg, 17, 88, 137, &odd));
        // frame 611: a 33-octet first label is not NetBIOS either
        let mut long = nbns_query(0x20);
        long[12] = 0x21;
        assert!(!netbios_ns(&cfg, 17, 29440, 137, &long));
        // the port listed in dns_ports: everything there is DNS
        let cfg137 = DpiConfig {
            dns_ports: vec![137],
            ..DpiConfig::default()
        };
        assert!(!netbios_ns(&cfg137, 17, 137, 137, &nbns_query(0x20)));
        assert!(dns_candidate(&cfg137, 17, 137, 137, &nbns_query(0x20)));
        // elsewhere the same bytes are not NetBIOS (no port)
        assert!(!netbios_ns(&cfg, 17, 40000, 40001, &nbns_query(0x20)));
    }

    #[test]
    fn candidate_checks() {
        let cfg = DpiConfig::default();
        assert!(dns_candidate(&cfg, 17, 40000, 53, &QUERY));
        assert!(dns_candidate(&cfg, 17, 40000, 12345, &QUERY));
        let mut q = vec![0, QUERY.len() as u8];
        q.extend_from_slice(&QUERY);
        assert!(dns_candidate(&cfg, 6, 40000, 8053, &q));
        assert!(!dns_candidate(&cfg, 1, 0, 0, &QUERY));
        // A DNS query on the NetBIOS port is DNS (YAF's labels) ...
        assert!(dns_candidate(&cfg, 17, 137, 137, &QUERY));
        // ... but not over TCP.
        assert!(!dns_candidate(&cfg, 6, 137, 137, &q));
        // HTTP on port 53 is still not DNS.
        assert!(!dns_candidate(
            &cfg,
            6,
            40000,
            53,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        ));
        // Random bytes elsewhere.
        assert!(!dns_candidate(&cfg, 17, 1, 2, &[0xFFu8; 40]));
        // Opcode 3 is unassigned.
        let mut bad = QUERY;
        bad[2] = 0x19;
        assert!(!dns_candidate(&cfg, 17, 40000, 53, &bad));
        // Counts that do not fit the datagram.
        let mut bad = QUERY;
        bad[7] = 9;
        assert!(!dns_candidate(&cfg, 17, 40000, 53, &bad));
        // Extra port makes a truncated-name query acceptable there.
        let cut = &QUERY[..20];
        assert!(!dns_candidate(&cfg, 17, 40000, 9999, cut));
        let cfg2 = DpiConfig {
            dns_ports: vec![9999],
            ..DpiConfig::default()
        };
        assert!(dns_candidate(&cfg2, 17, 40000, 9999, cut));
    }
}
