//! Synthetic DNS traffic for benchmarks and tests: many clients, a few
//! resolvers, UDP queries and responses (A, AAAA with CNAME chains,
//! NXDOMAIN), some clients reusing a source port, and a share of DNS over
//! TCP with full handshakes. Written as a classic microsecond pcap.
//!
//! Deterministic for a given seed, so benchmark runs are comparable.

use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::net::IpAddr;

/// Changes whenever the same configuration writes different traffic, so that files cached
/// by name (the throughput bench's) are regenerated. 2: many names (1 asked for one name
/// only), and answers that are a property of the name instead of random addresses.
pub const VERSION: u32 = 2;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Packets to write (the last transaction may be cut).
    pub packets: usize,
    /// Distinct client addresses (10% of them IPv6).
    pub clients: u32,
    /// Distinct names asked for.
    pub names: u32,
    /// Percent of transactions over TCP.
    pub tcp_percent: u32,
    /// Mean new transactions per second (packet time).
    pub rate: u32,
    pub seed: u64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            packets: 1_000_000,
            clients: 20_000,
            names: 50_000,
            tcp_percent: 2,
            rate: 60_000,
            seed: 0x5eed,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenStats {
    pub packets: u64,
    pub bytes: u64,
    pub udp_transactions: u64,
    pub tcp_transactions: u64,
}

/// SplitMix64: tiny, fast and good enough for traffic shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn pct(&mut self, p: u32) -> bool {
        self.below(100) < u64::from(p)
    }
}

const RESOLVERS_V4: [[u8; 4]; 3] = [[192, 0, 2, 53], [192, 0, 2, 54], [198, 51, 100, 53]];
const RESOLVERS_V6: [[u8; 16]; 2] = [
    [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53,
    ],
    [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x54,
    ],
];
const TLDS: [&str; 6] = ["com", "net", "org", "de", "io", "example"];
const WORDS: [&str; 12] = [
    "www", "mail", "api", "cdn", "static", "login", "shop", "news", "img", "m", "app", "edge",
];

/// One packet waiting to be written at `ts_us`.
struct Pending {
    ts_us: u64,
    seq: u64,
    frame: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.ts_us, self.seq) == (o.ts_us, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    // Min-heap on time.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.ts_us, o.seq).cmp(&(self.ts_us, self.seq))
    }
}

fn name_for(rng_id: u32) -> String {
    let w = WORDS[(rng_id % WORDS.len() as u32) as usize];
    let t = TLDS[((rng_id / 12) % TLDS.len() as u32) as usize];
    format!("{w}.site{}.{t}", rng_id / 72)
}

fn put_name(m: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        m.push(label.len().min(63) as u8);
        m.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    m.push(0);
}

/// Addresses a name (or its CNAME target) rotates through, as a round-robin or CDN answer
/// does: each response carries a few consecutive ones from a random offset. As many as a
/// response carries at most, so that an answer never repeats an address.
const A_PER_NAME: u64 = 4;
const AAAA_PER_NAME: u64 = 2;

/// A query, and the matching response with a CNAME chain and addresses
/// (or NXDOMAIN). What a name resolves to is a property of the name, as in
/// real DNS (whether it is an alias, its target, its addresses), so passive
/// DNS aggregates see the repetition they see on a real network; NXDOMAIN,
/// the number of addresses and their rotation vary per response.
fn dns_pair(rng: &mut Rng, id: u16, name_id: u32, name: &str, aaaa: bool) -> (Vec<u8>, Vec<u8>) {
    let qtype: u16 = if aaaa { 28 } else { 1 };
    let pool_len = if aaaa { AAAA_PER_NAME } else { A_PER_NAME };
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]); // RD; qd 1, ar 1
    put_name(&mut q, name);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    // EDNS0 OPT: root, type 41, size 1232, ext rcode/flags, rdlen 0
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);

    // The name's own constants, from its number.
    let mut fixed = Rng(u64::from(name_id) ^ 0x6e61_6d65);
    let is_alias = fixed.pct(35);
    let target_id = fixed.below(5000);
    let nx = rng.pct(6);
    let cname = !nx && is_alias;
    // An alias's addresses are its target's, shared by every name behind that target.
    let mut pool = if cname {
        Rng(target_id ^ 0x7461_7267)
    } else {
        fixed
    };
    let base_v4 = pool.next() as u32;
    let base_v6 = pool.next();
    let first = rng.below(pool_len);
    let addrs = if nx {
        0
    } else {
        1 + rng.below(pool_len) as u16
    };
    let mut r = Vec::with_capacity(256);
    r.extend_from_slice(&id.to_be_bytes());
    r.extend_from_slice(&[0x81, if nx { 0x83 } else { 0x80 }, 0, 1]);
    r.extend_from_slice(&(addrs + u16::from(cname)).to_be_bytes());
    r.extend_from_slice(&[0, u8::from(nx), 0, 1]);
    put_name(&mut r, name);
    r.extend_from_slice(&qtype.to_be_bytes());
    r.extend_from_slice(&[0, 1]);
    let mut owner: [u8; 2] = [0xc0, 12];
    if cname {
        let target = format!("{target_id}.cdn-edge.net");
        r.extend_from_slice(&owner);
        r.extend_from_slice(&[0, 5, 0, 1, 0, 0, 0x0e, 0x10]); // CNAME IN TTL 3600
        let mut t = Vec::new();
        put_name(&mut t, &target);
        r.extend_from_slice(&(t.len() as u16).to_be_bytes());
        let at = r.len();
        r.extend_from_slice(&t);
        owner = [0xc0 | (at >> 8) as u8, at as u8];
    }
    for k in 0..u64::from(addrs) {
        let slot = (first + k) % pool_len;
        r.extend_from_slice(&owner);
        r.extend_from_slice(&qtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0x01, 0x2c]); // IN, TTL 300
        if aaaa {
            r.extend_from_slice(&[0, 16, 0x20, 0x01, 0x0d, 0xb8, 0xbe, 0xef]);
            r.extend_from_slice(&base_v6.wrapping_add(slot).to_be_bytes());
            r.extend_from_slice(&(slot as u16).to_be_bytes());
        } else {
            r.extend_from_slice(&[0, 4]);
            r.extend_from_slice(&base_v4.wrapping_add(slot as u32).to_be_bytes());
        }
    }
    if nx {
        // SOA in the authority section
        r.extend_from_slice(&[0xc0, 12, 0, 6, 0, 1, 0, 0, 0x03, 0x84]);
        let mut soa = Vec::new();
        put_name(&mut soa, "ns1.example");
        put_name(&mut soa, "hostmaster.example");
        for v in [2024010101u32, 7200, 3600, 1209600, 900] {
            soa.extend_from_slice(&v.to_be_bytes());
        }
        r.extend_from_slice(&(soa.len() as u16).to_be_bytes());
        r.extend_from_slice(&soa);
    }
    r.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    (q, r)
}

fn ipv4_sum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Ethernet + IP + (UDP | TCP) frame.
fn frame(src: IpAddr, dst: IpAddr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 40 + l4.len());
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00]);
            let start = f.len();
            f.extend_from_slice(&[0x45, 0]);
            f.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
            let sum = ipv4_sum(&f[start..start + 20]);
            f[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
        }
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V6(a) => a.octets(),
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            };
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            f.extend_from_slice(&[proto, 64]);
            f.extend_from_slice(&v6(s));
            f.extend_from_slice(&v6(d));
        }
    }
    f.extend_from_slice(l4);
    f
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

/// Write a pcap of synthetic DNS traffic.
pub fn write_pcap<W: Write>(cfg: &GenConfig, mut w: W) -> io::Result<GenStats> {
    let mut rng = Rng(cfg.seed);
    let mut st = GenStats::default();
    // pcap header: LE, µs, v2.4, snaplen 65535, Ethernet
    w.write_all(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0])?;
    w.write_all(&65535u32.to_le_bytes())?;
    w.write_all(&1u32.to_le_bytes())?;

    let mut heap: BinaryHeap<Pending> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<Pending>, ts_us: u64, frame: Vec<u8>| {
        seq += 1;
        heap.push(Pending { ts_us, seq, frame });
    };
    let mut now_us: u64 = 1_700_000_000_000_000;
    let gap = 1_000_000 / u64::from(cfg.rate.max(1));
    // Ports reused by "sticky" clients (forwarders) so some flows carry
    // several transactions.
    let mut written = 0usize;
    while written < cfg.packets {
        // Start new transactions until the next pending packet is due.
        while heap.peek().is_none_or(|p| p.ts_us > now_us) {
            let client_id = rng.below(u64::from(cfg.clients.max(1))) as u32;
            let v6 = client_id.is_multiple_of(10);
            let client: IpAddr = if v6 {
                let mut a = [
                    0x20, 0x01, 0x0d, 0xb8, 0xc1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                ];
                a[12..16].copy_from_slice(&client_id.to_be_bytes());
                IpAddr::from(a)
            } else {
                IpAddr::from([
                    10,
                    (client_id >> 16) as u8,
                    (client_id >> 8) as u8,
                    client_id as u8,
                ])
            };
            let resolver: IpAddr = if v6 {
                IpAddr::from(RESOLVERS_V6[(client_id % 2) as usize])
            } else {
                IpAddr::from(RESOLVERS_V4[(client_id % 3) as usize])
            };
            // Zipf-ish popularity: square a uniform draw in [0, 1), scaled to the names
            // (name k's share falls as 1/sqrt(k)).
            let u = rng.below(1 << 16);
            let x = (u * u) >> 16;
            let name_id = ((x * u64::from(cfg.names.max(1))) >> 16) as u32;
            let name = name_for(name_id);
            let aaaa = rng.pct(30);
            let id = rng.next() as u16;
            let (q, r) = dns_pair(&mut rng, id, name_id, &name, aaaa);
            let rtt = 200 + rng.below(30_000);
            if rng.pct(cfg.tcp_percent) {
                st.tcp_transactions += 1;
                let sp = 32768 + rng.below(28000) as u16;
                let (ci, si) = (rng.next() as u32, rng.next() as u32);
                let hop = rtt / 2;
                let mut t = now_us;
                let mut qq = (q.len() as u16).to_be_bytes().to_vec();
                qq.extend_from_slice(&q);
                let mut rr = (r.len() as u16).to_be_bytes().to_vec();
                rr.extend_from_slice(&r);
                let c2s =
                    |s, a, fl, p: &[u8]| frame(client, resolver, 6, &tcp(sp, 53, s, a, fl, p));
                let s2c =
                    |s, a, fl, p: &[u8]| frame(resolver, client, 6, &tcp(53, sp, s, a, fl, p));
                push(&mut heap, t, c2s(ci, 0, 0x02, &[]));
                t += hop;
                let (c1, s1) = (ci.wrapping_add(1), si.wrapping_add(1));
                push(&mut heap, t, s2c(si, c1, 0x12, &[]));
                t += hop;
                push(&mut heap, t, c2s(c1, s1, 0x10, &[]));
                push(&mut heap, t + 1, c2s(c1, s1, 0x18, &qq));
                t += hop;
                let (ce, se) = (
                    c1.wrapping_add(qq.len() as u32),
                    s1.wrapping_add(rr.len() as u32),
                );
                push(&mut heap, t, s2c(s1, ce, 0x18, &rr));
                t += hop;
                push(&mut heap, t, c2s(ce, se, 0x11, &[]));
                t += hop;
                push(&mut heap, t, s2c(se, ce.wrapping_add(1), 0x11, &[]));
                t += hop;
                push(
                    &mut heap,
                    t,
                    c2s(ce.wrapping_add(1), se.wrapping_add(1), 0x10, &[]),
                );
            } else {
                st.udp_transactions += 1;
                // A quarter of clients are forwarders that keep one port.
                let sp = if client_id.is_multiple_of(4) {
                    10_000 + (client_id % 1000) as u16
                } else {
                    1024 + rng.below(64_000) as u16
                };
                push(
                    &mut heap,
                    now_us,
                    frame(client, resolver, 17, &udp(sp, 53, &q)),
                );
                push(
                    &mut heap,
                    now_us + rtt,
                    frame(resolver, client, 17, &udp(53, sp, &r)),
                );
            }
            now_us += gap / 2 + rng.below(gap.max(1));
        }
        let Some(p) = heap.pop() else { break };
        let ts_s = (p.ts_us / 1_000_000) as u32;
        let ts_u = (p.ts_us % 1_000_000) as u32;
        let len = p.frame.len() as u32;
        w.write_all(&ts_s.to_le_bytes())?;
        w.write_all(&ts_u.to_le_bytes())?;
        w.write_all(&len.to_le_bytes())?;
        w.write_all(&len.to_le_bytes())?;
        w.write_all(&p.frame)?;
        st.packets += 1;
        st.bytes += u64::from(len) + 16;
        written += 1;
    }
    w.flush()?;
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::file::FileSource;
    use crate::capture::PacketSource;
    use crate::config::MeterConfig;
    use crate::flow::VecSink;

    #[test]
    fn generated_capture_decodes_into_dns_flows() {
        // Fewer names than the default 50,000, so that 2,300 queries ask for most of them
        // more than once.
        let cfg = GenConfig {
            packets: 5000,
            clients: 300,
            names: 400,
            ..GenConfig::default()
        };
        let mut buf = Vec::new();
        let st = write_pcap(&cfg, &mut buf).unwrap();
        assert_eq!(st.packets, 5000);
        assert!(st.tcp_transactions > 0 && st.udp_transactions > 1000);
        let src =
            FileSource::from_reader("gen".into(), Box::new(std::io::Cursor::new(buf))).unwrap();
        let mut sink = VecSink::default();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let stats = crate::pipeline::run(
            &MeterConfig::default(),
            vec![Box::new(src) as Box<dyn PacketSource>],
            false,
            &mut sink,
            &stop,
        )
        .unwrap();
        assert_eq!(stats.packets, 5000);
        assert_eq!(stats.ignored, 0);
        // TCP transactions last longer than this short capture: the ones cut
        // before the query was sent carry no DNS.
        let with_query = |r: &&crate::flow::FlowRecord| r.proto == 17 || r.packets >= 3;
        let dns = sink
            .records
            .iter()
            .filter(with_query)
            .filter(|r| r.app_label == 53)
            .count();
        assert_eq!(
            dns,
            sink.records.iter().filter(with_query).count(),
            "every query flow is DNS"
        );
        assert!(sink
            .records
            .iter()
            .any(|r| r.proto == 6 && r.end_reason == 3 && r.app_label == 53));
        assert!(sink.records.iter().any(|r| r.src.is_ipv6()));
        assert!(sink.records.iter().map(|r| r.dns.len()).sum::<usize>() > 2 * dns);
        // the same seed gives the same bytes
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_pcap(&cfg, &mut a).unwrap();
        write_pcap(&cfg, &mut b).unwrap();
        assert_eq!(a, b);
        // What a passive DNS store sees: many names, popular ones often, and each name's
        // answers from a small stable set (an earlier version asked for one name only and
        // answered random addresses, so every answer was a new key).
        use crate::dpi::Rdata;
        use std::collections::{HashMap, HashSet};
        let mut asked = HashMap::<&str, usize>::new();
        let mut addrs = HashMap::<&str, HashSet<String>>::new();
        let mut rows = 0usize;
        for r in &sink.records {
            for d in &r.dns {
                if d.head.section == 0 && d.head.qr == 0 {
                    *asked.entry(d.qname.as_str()).or_default() += 1;
                }
                if matches!(d.rdata, Rdata::A(_) | Rdata::Aaaa(_)) {
                    rows += 1;
                    addrs
                        .entry(d.qname.as_str())
                        .or_default()
                        .insert(d.rdata.presentation());
                }
            }
        }
        assert!(asked.len() > 200, "{} names asked", asked.len());
        let top = asked.values().max().copied().unwrap_or(0);
        // Name 0's share is about 5 %, some 115 of these 2,300 queries; uniform over 400
        // names, no name would be asked for more than about 15 times.
        assert!(
            top >= 50 && top * 10 < asked.values().sum::<usize>(),
            "top name {top}"
        );
        // A and AAAA of one owner: at most their pools.
        let widest = addrs.values().map(HashSet::len).max().unwrap_or(0);
        assert!(
            widest <= (A_PER_NAME + AAAA_PER_NAME) as usize,
            "{widest} addresses for one name"
        );
        let keys: usize = addrs.values().map(HashSet::len).sum();
        assert!(
            keys * 2 < rows,
            "{keys} distinct addresses in {rows} address answers"
        );
    }
}
