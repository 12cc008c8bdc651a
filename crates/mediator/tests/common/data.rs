//! Deterministic rows for store tests and the benchmark: DNS flows shaped like YAF's (a query
//! row, then answer rows), with realistic name and address mixes.

use std::net::{IpAddr, Ipv4Addr};

use mediator::store::{Batch, BatchSource, DnsRow, FlowRow, TcpRow};

pub const A: u16 = 1;
pub const NS: u16 = 2;
pub const CNAME: u16 = 5;
pub const AAAA: u16 = 28;

/// 2024-01-01 00:00:00 UTC.
pub const T0: i64 = 1_704_067_200_000;

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// A DNS flow from `client` to `resolver:53` asking `qname`, answered with `answers`
/// (rrtype, ttl, rrname, rrval); the query row comes first, as YAF exports it.
pub fn dns_flow(
    client: IpAddr,
    resolver: IpAddr,
    start_ms: i64,
    qname: &str,
    answers: &[(u16, u32, &str, &str)],
) -> FlowRow {
    let mut dns = vec![DnsRow {
        qr: 0,
        rrtype: answers.first().map_or(A, |a| a.0),
        auth: 0,
        rcode: 0,
        section: 0,
        ttl: 0,
        rrname: qname.to_string(),
        rrval: String::new(),
        dns_id: 4242,
    }];
    for (t, ttl, name, val) in answers {
        dns.push(DnsRow {
            qr: 1,
            rrtype: *t,
            auth: 0,
            rcode: 0,
            section: 1,
            ttl: *ttl,
            rrname: name.to_string(),
            rrval: val.to_string(),
            dns_id: 4242,
        });
    }
    FlowRow {
        sensor: "test-sensor".into(),
        observation_domain: 7,
        src: client,
        dst: resolver,
        src_port: 40_000,
        dst_port: 53,
        protocol: 17,
        vlan: 0,
        start_ms,
        end_ms: start_ms.saturating_add(20),
        octets: 120,
        reverse_octets: 300,
        packets: 1,
        reverse_packets: 1,
        silk_app_label: 53,
        flow_end_reason: 1,
        flow_attributes: 0,
        reverse_flow_attributes: 0,
        ingress_interface: None,
        egress_interface: None,
        tcp: None,
        dns,
    }
}

/// A plain TCP flow with no DNS (e.g. HTTPS), with TCP details.
pub fn tcp_flow(src: IpAddr, dst: IpAddr, start_ms: i64) -> FlowRow {
    let mut f = dns_flow(src, dst, start_ms, "x.", &[]);
    f.dns.clear();
    f.protocol = 6;
    f.dst_port = 443;
    f.silk_app_label = 443;
    f.ingress_interface = Some(3_000_000_000);
    f.egress_interface = Some(2);
    f.tcp = Some(TcpRow {
        seq: 1,
        reverse_seq: 2,
        initial_flags: 0x02,
        reverse_initial_flags: 0x12,
        union_flags: 0x1b,
        reverse_union_flags: 0x1a,
    });
    f
}

pub fn batch(key: &str, chunk: u64, flows: Vec<FlowRow>) -> Batch {
    Batch {
        source: BatchSource {
            key: key.to_string(),
            label: format!("test:{key}"),
        },
        chunk,
        flows,
    }
}

const TLDS: &[&str] = &[
    "com", "com", "com", "com", "net", "net", "org", "de", "uk", "io", "ru", "cn", "info", "xyz",
];
const WORDS: &[&str] = &[
    "alpha", "bravo", "cdn", "static", "mail", "api", "img", "video", "edge", "login", "shop",
    "news", "cloud", "media", "files", "assets", "data", "auth", "metrics", "push",
];

/// Small deterministic PRNG (xorshift64*), so generated data is the same on every run.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A name from `domains` registered domains, popularity heavily skewed (a few domains get most
/// lookups, as in real traffic), a handful of hosts each; returns (index, name, domain).
pub fn name(rng: &mut Rng, domains: u64) -> (u64, String, String) {
    let u = (rng.below(1 << 30) as f64) / f64::from(1u32 << 30);
    let d = ((domains as f64) * u.powi(4)) as u64;
    let tld = TLDS[(d % TLDS.len() as u64) as usize];
    let sld = format!("{}{}", WORDS[(d / 7 % WORDS.len() as u64) as usize], d);
    let h = (rng.below(1 << 20) as f64) / f64::from(1u32 << 20);
    let host = WORDS[(5.0 * h * h) as usize % WORDS.len()];
    let domain = format!("{sld}.{tld}.");
    (d, format!("{host}.{domain}"), domain)
}

/// `flows` DNS flows with about `rr_per_flow` DNS rows each (query, CNAME to one of 4 edge
/// names, A records from that edge's 4 addresses), from 1,000 clients (skewed) to two
/// resolvers, spread over a day after `T0`. With the benchmark's defaults about a quarter of
/// the answer RRs are new (rrname, rrtype, rrval) keys, close to the 73.5 % dedup
/// super_mediator reports on real traffic.
pub fn synthetic_flows(seed: u64, flows: usize, rr_per_flow: usize, domains: u64) -> Vec<FlowRow> {
    let mut rng = Rng::new(seed);
    let resolvers = [ip("10.0.0.53"), ip("10.0.1.53")];
    (0..flows)
        .map(|i| {
            let c = (rng.below(1 << 20) as f64) / f64::from(1u32 << 20);
            let client = IpAddr::V4(Ipv4Addr::from(0x0a10_0000 + (1000.0 * c * c) as u32));
            let resolver = resolvers[i % 2];
            let (d, qname, domain) = name(&mut rng, domains);
            let start = T0 + rng.below(86_400_000) as i64;
            let edge = rng.below(4);
            let target = format!("edge{edge}.cdn.{domain}");
            let ttl = 60 + (d % 60) as u32 * 60;
            let mut answers: Vec<(u16, u32, String, String)> =
                vec![(CNAME, ttl, qname.clone(), target.clone())];
            for _ in 1..rr_per_flow.saturating_sub(1) {
                let k = (d * 16 + edge * 4 + rng.below(4)) % 0x1_0000;
                let a = Ipv4Addr::from(0xc633_0000 + k as u32);
                answers.push((A, ttl, target.clone(), a.to_string()));
            }
            let refs: Vec<(u16, u32, &str, &str)> = answers
                .iter()
                .map(|(t, ttl, n, v)| (*t, *ttl, n.as_str(), v.as_str()))
                .collect();
            dns_flow(client, resolver, start, &qname, &refs)
        })
        .collect()
}
