//! DNS deep-packet inspection: per-flow state that turns the DNS messages
//! of a UDP or TCP flow into the records YAF 2.16's dpacketplugin exports
//! (see ../shared/design/yaf-ipfix.md, "Semantics").
//!
//! Beyond YAF (unless [`DpiConfig::yaf_compat`]): every message of a UDP
//! flow in both directions, not only the first packet; DNS over TCP
//! reassembled by sequence number with all messages of the connection;
//! HTTPS/SVCB and CAA decoded; other types kept with their number.
//!
//! A flow keeps its DNS messages as they arrive and decodes them when it
//! ends, usually on the export thread (see `Held`); only the header is read
//! on the packet path. Counters of decoding (records, parse errors) are
//! therefore known when flows end.
//!
//! Bounds: each message (UDP datagram or TCP message) is kept and decoded
//! from at most `max_payload` octets; a flow keeps messages until their
//! header counts reach `max_records_per_flow` records or 64 KiB, and at
//! most `max_records_per_flow` records are decoded from them; a TCP
//! direction buffers at most about `2 * (max_payload + 2)` octets (see
//! [`tcp`]).

pub mod dns;
pub mod name;
pub mod rdata;
pub mod tcp;

pub use dns::{
    parse_message, DnsError, DnsRecord, ErrorKind, Header, Parser, RecordHead, RecordSink,
};
pub use rdata::{RawText, Rdata, RdataOf, RdataRef, RdataView, WireName};

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
    /// The flow's DNS messages as they arrived, decoded when the flow ends
    /// (see [`Held`]).
    held: Held,
    rare: Option<Box<Rare>>,
    /// Records the held messages declare (header counts, saturating): once
    /// they reach `max_records_per_flow`, later messages are not kept.
    declared: u32,
    /// Per direction, saturating: UDP datagrams with payload seen (YAF
    /// mode looks at the first only) and messages kept (YAF mode stops
    /// after one); only "none", "one" and "more" matter.
    udp_packets: [u8; 2],
    messages: [u8; 2],
}

/// Counters known only when a flow's messages are decoded, which may be on
/// another thread than the packets' (the export thread): shared by the
/// table and every DNS flow it ended, and added to the table's own
/// counters when read.
#[derive(Debug)]
pub struct Decoding {
    max_records: usize,
    /// On a cache line of its own: the export thread locks it for every
    /// flow, while the packet thread changes the Arc's counts beside
    /// `max_records` for every flow it ends.
    stats: CacheLine<std::sync::Mutex<DnsStats>>,
}

#[derive(Debug)]
#[repr(align(128))]
struct CacheLine<T>(T);

impl Decoding {
    pub fn new(cfg: &DpiConfig) -> Self {
        Decoding {
            max_records: cfg.max_records_per_flow,
            stats: CacheLine(std::sync::Mutex::new(DnsStats::default())),
        }
    }

    /// What the decoding of ended flows has counted so far.
    pub fn stats(&self) -> DnsStats {
        self.stats.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// DNS state of one biflow. One pointer until the flow carries DNS.
#[derive(Default, Debug)]
pub struct DnsFlowState {
    inner: Option<Box<Inner>>,
}

/// Keeps one message of direction `reverse` for decoding at flow end,
/// updating the counters known now.
fn keep(
    cfg: &DpiConfig,
    inner: &mut Inner,
    reverse: bool,
    msg: &[u8],
    capped: bool,
    stats: &mut DnsStats,
) {
    let Some(h) = dns::Header::parse(msg) else {
        stats.count_error(ErrorKind::Truncated);
        return;
    };
    stats.messages += 1;
    if capped {
        stats.messages_capped += 1;
    }
    let d = usize::from(reverse);
    inner.messages[d] = inner.messages[d].saturating_add(1);
    // Past the per-flow record budget (by the held messages' own counts)
    // a message would only add records that decoding drops: its records
    // are counted as dropped now and its octets are not kept. A message
    // counts as at least one record, so empty ones cannot grow the buffer
    // without bound either.
    let declared = h.declared_records();
    let room = cfg
        .max_records_per_flow
        .saturating_sub(inner.declared as usize);
    if room == 0 || !inner.held.push(d, msg) {
        stats.records_dropped += declared as u64;
        return;
    }
    inner.declared = inner
        .declared
        .saturating_add(u32::try_from(declared.max(1)).unwrap_or(u32::MAX));
}

impl Inner {
    /// Decodes the held messages in arrival order (the record budget is
    /// spent in that order), giving each message's records to the sink of
    /// its direction (`fwd` or `rev`), and returns
    /// whether any message decoded as DNS (the flow's silkAppLabel).
    fn decode_into<F: RecordSink + ?Sized, R: RecordSink + ?Sized>(
        &mut self,
        max_records: usize,
        parser: &mut Parser,
        fwd: &mut F,
        rev: &mut R,
        stats: &mut DnsStats,
    ) -> bool {
        let mut seen_dns = false;
        let mut kept = 0usize;
        for (d, msg) in self.held.iter() {
            let budget = max_records.saturating_sub(kept);
            let (o, r) = if d == 0 {
                parser.parse(msg, budget, fwd, stats)
            } else {
                parser.parse(msg, budget, rev, stats)
            };
            match r {
                Ok(()) => {
                    stats.records_dropped += o.dropped as u64;
                    seen_dns = true;
                }
                Err(e) => {
                    stats.count_error(e.kind);
                    seen_dns |= o.records > 0;
                }
            }
            kept += o.records;
            stats.records += o.records as u64;
        }
        self.held = Held::default();
        self.declared = 0;
        seen_dns
    }

    /// [`Self::decode_into`] as [`DnsRecord`]s, forward direction first,
    /// then reverse (YAF's order).
    fn decode(&mut self, max_records: usize, stats: &mut DnsStats) -> (Vec<DnsRecord>, bool) {
        let mut fwd = Vec::new();
        let mut rev = Vec::new();
        // Room per direction up front, as parse_message reserves it.
        for (d, msg) in self.held.iter() {
            dns::reserve_for(msg, max_records, if d == 0 { &mut fwd } else { &mut rev });
        }
        let seen_dns = self.decode_into(
            max_records,
            &mut Parser::default(),
            &mut fwd,
            &mut rev,
            stats,
        );
        if fwd.is_empty() {
            return (rev, seen_dns);
        }
        fwd.append(&mut rev);
        (fwd, seen_dns)
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
        keep(cfg, inner, reverse, msg, capped, stats);
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
        // can keep messages in the flow state without copying each twice.
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
                    keep(cfg, inner, reverse, m, capped, stats);
                }
            },
        );
        stats.merge(&tcp_stats);
        inner.rare.get_or_insert_with(Box::default).tcp[d] = Some(stream);
    }

    /// Whether inspection has started: a payload long enough for a DNS
    /// header, or a TCP segment, has been fed.
    pub fn is_started(&self) -> bool {
        self.inner.is_some()
    }

    /// Decodes the messages held since the last call: the records, forward
    /// direction first, then reverse (YAF's order), counted in `stats`.
    pub fn take_records(&mut self, cfg: &DpiConfig, stats: &mut DnsStats) -> Vec<DnsRecord> {
        self.take(cfg, stats).0
    }

    /// As [`Self::take_records`], and whether any message decoded as DNS.
    pub fn take(&mut self, cfg: &DpiConfig, stats: &mut DnsStats) -> (Vec<DnsRecord>, bool) {
        match self.inner.as_mut() {
            Some(inner) => inner.decode(cfg.max_records_per_flow, stats),
            None => (Vec::new(), false),
        }
    }

    /// Everything the flow holds, for a flow that has ended: its messages
    /// are decoded later ([`PendingDns::into_records`]), possibly on
    /// another thread, counting into `decoding`.
    pub fn into_pending(self, decoding: &std::sync::Arc<Decoding>) -> PendingDns {
        match self.inner {
            Some(inner) if !inner.held.is_empty() => PendingDns {
                inner: Some((inner, std::sync::Arc::clone(decoding))),
            },
            _ => PendingDns::default(),
        }
    }
}

/// The DNS state of an ended flow, messages not yet decoded.
#[derive(Debug, Default)]
pub struct PendingDns {
    inner: Option<(Box<Inner>, std::sync::Arc<Decoding>)>,
}

impl PendingDns {
    /// The records, forward direction first, then reverse (YAF's order),
    /// and whether any message decoded as DNS.
    pub fn into_records(self) -> (Vec<DnsRecord>, bool) {
        let Some((mut inner, decoding)) = self.inner else {
            return (Vec::new(), false);
        };
        let mut stats = DnsStats::default();
        let out = inner.decode(decoding.max_records, &mut stats);
        decoding.add(&stats);
        out
    }

    /// Reads the held messages without decoding them: by the time a flow
    /// is decoded its messages have usually left the cache, and reading a
    /// batch of flows' messages in one pass lets the processor fetch them
    /// in parallel instead of one miss at a time while decoding. Returns
    /// a value to pass to [`std::hint::black_box`], so the reads stay.
    pub fn warm(&self) -> u8 {
        let Some((inner, _)) = &self.inner else {
            return 0;
        };
        inner.held.buf.iter().step_by(64).fold(0, |a, b| a ^ b)
    }

    /// Whether there is nothing to decode (the flow kept no DNS message).
    pub fn is_empty(&self) -> bool {
        self.inner.is_none()
    }

    /// Decodes the messages in arrival order into `fwd` (the forward
    /// direction's records) and `rev` (the reverse's), with the same
    /// budget, counters and result as [`Self::into_records`], whose
    /// records are `fwd`'s then `rev`'s. `parser` is reused across flows.
    pub fn decode_into<F: RecordSink + ?Sized, R: RecordSink + ?Sized>(
        self,
        parser: &mut Parser,
        fwd: &mut F,
        rev: &mut R,
    ) -> bool {
        let Some((mut inner, decoding)) = self.inner else {
            return false;
        };
        let mut stats = DnsStats::default();
        let seen = inner.decode_into(decoding.max_records, parser, fwd, rev, &mut stats);
        decoding.add(&stats);
        seen
    }
}

impl Decoding {
    fn add(&self, stats: &DnsStats) {
        if let Ok(mut s) = self.stats.0.lock() {
            s.merge(stats);
        }
    }
}

/// A flow's DNS messages between arrival and decoding, back to back in one
/// buffer: a direction octet and a u16 length before each.
///
/// Decoding at flow end rather than on arrival moves the DNS parsing,
/// about a third of the packet thread's work, to the export thread
/// ([`crate::flow::ThreadedSink`]), as YAF also keeps a flow's payload and
/// inspects it when the flow ends. Raw messages are also about as compact
/// as their decoded records (names compressed by the sender).
#[derive(Debug, Default)]
struct Held {
    buf: Vec<u8>,
}

impl Held {
    /// Octets held per flow at most, beside the record budget: the
    /// decoded records that budget allows take about as much.
    const MAX: usize = 64 * 1024;

    /// Octets of the first allocation: a query and a typical answer (with
    /// their 3-octet prefixes) fit, a larger answer grows it once.
    const FIRST: usize = 256;

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Appends `msg` (at most `u16::MAX` octets); false when the flow's
    /// buffer is full.
    fn push(&mut self, dir: usize, msg: &[u8]) -> bool {
        let Ok(len) = u16::try_from(msg.len()) else {
            return false;
        };
        let need = 3 + msg.len();
        if self.buf.len() + need > Self::MAX {
            return false;
        }
        // The first allocation also has room for a typical response (the
        // common flow is a query and its answer), so that flow allocates
        // once instead of growing when the answer arrives (about 5 % of
        // the packet thread's samples). Exact for the next message or two
        // after that, amortised beyond.
        if self.buf.capacity() - self.buf.len() < need {
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(need.max(Self::FIRST));
            } else if self.buf.len() < 512 {
                self.buf.reserve_exact(need);
            } else {
                self.buf.reserve(need.max(self.buf.len() / 2));
            }
        }
        self.buf.push(u8::from(dir != 0));
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(msg);
        true
    }

    /// (direction, message) in arrival order.
    fn iter(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        let mut rest = self.buf.as_slice();
        std::iter::from_fn(move || {
            let (&[dir, lo, hi], tail) = rest.split_first_chunk::<3>()?;
            let len = usize::from(u16::from_le_bytes([lo, hi]));
            let msg = tail.get(..len)?;
            rest = tail.get(len..)?;
            Some((usize::from(dir), msg))
        })
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
    fn a_dns_flows_state_fits_the_48_octet_size_class() {
        // Every DNS flow holds one `Inner` while it lasts: 49 octets or more
        // would be rounded up to mimalloc's 64 octet class.
        assert!(
            std::mem::size_of::<Inner>() <= 48,
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
        let (r, is_dns) = f.take(&cfg, &mut st);
        assert!(is_dns);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].head.section, r[0].head.qr), (0, 0));
        assert_eq!(
            (r[1].head.section, r[1].rdata.presentation().as_str()),
            (1, "93.184.215.14")
        );
        assert_eq!((st.messages, st.records, st.parse_errors), (2, 2, 0));
        assert!(f.take_records(&cfg, &mut st).is_empty());
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
        assert_eq!(f.take_records(&cfg, &mut st).len(), 1);
        cfg.yaf_compat = false;
        let mut f = DnsFlowState::default();
        for _ in 0..3 {
            f.on_udp(&cfg, false, &QUERY, &mut st);
        }
        assert_eq!(f.take_records(&cfg, &mut st).len(), 3);
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
        assert_eq!(f.take_records(&cfg, &mut st).len(), 2);
        assert_eq!(st.records_dropped, 1);
    }

    #[test]
    fn held_messages_are_bounded_in_octets() {
        // Hostile: 4,000-octet datagrams that each declare one question
        // (then junk). The record budget (256) would allow 256 of them,
        // 1 MB; the flow keeps 64 KiB and counts the rest as dropped.
        let cfg = DpiConfig::default();
        let mut big = QUERY.to_vec();
        big.resize(4000, 0xAB);
        let mut st = DnsStats::default();
        let mut f = DnsFlowState::default();
        for _ in 0..40 {
            f.on_udp(&cfg, false, &big, &mut st);
        }
        let kept = Held::MAX / (3 + big.len());
        assert_eq!(st.messages, 40);
        assert_eq!(st.records_dropped, 40 - kept as u64);
        let recs = f.take_records(&cfg, &mut st);
        assert_eq!(recs.len(), kept);
        assert!(recs.iter().all(|r| r.qname == "example.com."));
        assert_eq!(st.records, kept as u64);
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
        assert!(f.take_records(&cfg, &mut st).is_empty());
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
        let recs = f.take_records(&cfg, &mut st);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].head.section, 0);
        assert_eq!(recs[1].head.section, 1);
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
        let recs = f.take_records(&cfg, &mut st);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].qname, "EFEDEJFPEEEPENEBEJEOCACACAC\\xF5CABM.");
        assert_eq!((recs[0].head.rrtype, recs[0].head.section), (40, 0));
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
