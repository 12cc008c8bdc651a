//! Our flowmeter against YAF 2.16.4 on the same captures: for every capture with a YAF file
//! (tests/data/yaf always, ../shared/corpus/yaf when present), run our whole pipeline and file
//! exporter with YAF's settings (idle 300 s, active 1800 s, --max-payload 2048), decode both
//! IPFIX files with ipfix-model, and compare flow by flow: 5-tuple and start, packets and
//! octets both ways, flowEndReason, and the DNS records (qname, type, section, rdata...).
//!
//! Two runs: `--yaf-compat` (DPI as YAF: first UDP packet / TCP message per direction), where
//! DNS records must equal YAF's except for the named differences below; and the default mode,
//! where we export more DNS records (every message), which is counted, not failed.
//! Prints a summary table of every difference class.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod export_support;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use export_support::*;
use flowmeter::capture::file::FileSource;
use flowmeter::capture::PacketSource;
use flowmeter::config::{ExportConfig, ExportTransport, MeterConfig};
use flowmeter::decode::DefragConfig;
use flowmeter::dpi::{DnsRecord, DpiConfig};
use flowmeter::export::file::FileSink;
use flowmeter::export::SinkOptions;
use flowmeter::flow::{FlowConfig, FlowRecord};

/// (capture, YAF file) pairs.
fn pairs() -> Vec<(PathBuf, PathBuf)> {
    let mut roots = vec![repo_root().join("tests/data")];
    match corpus() {
        Some(c) => roots.push(c),
        None => eprintln!("NOTE: ../shared/corpus not found: only tests/data is compared"),
    }
    let mut out = Vec::new();
    for root in roots {
        let mut yafs = Vec::new();
        walk(&root.join("yaf"), &mut yafs);
        for y in yafs {
            let rel = y.strip_prefix(root.join("yaf")).unwrap().with_extension("");
            let cap = ["pcap", "pcapng", "cap", "raw.pcap"]
                .iter()
                .map(|e| root.join("pcap").join(format!("{}.{e}", rel.display())))
                .find(|p| p.is_file());
            match cap {
                Some(c) => out.push((c, y)),
                None => eprintln!("no capture for {}", y.display()),
            }
        }
    }
    out.sort();
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().and_then(|x| x.to_str()) == Some("yaf") {
            out.push(p);
        }
    }
}

fn run_ours(pcap: &Path, out: &Path, yaf_compat: bool) -> Vec<FlowRecord> {
    let cfg = ExportConfig {
        out: out.to_string_lossy().into_owned(),
        transport: ExportTransport::File,
        port: 4739,
        rotate_s: None,
        lock: false,
        observation_domain: 0,
        silk: false,
        stats_interval_s: 0,
        stats: true,
        spool_dir: None,
        spool_max_bytes: 0,
        metrics_listen: None,
    };
    let meter = MeterConfig {
        flow: FlowConfig {
            dpi: Some(DpiConfig {
                max_payload: 2048,
                yaf_compat,
                ..DpiConfig::default()
            }),
            ..FlowConfig::default()
        },
        defrag: Some(DefragConfig::default()),
        stats_interval_s: 0,
    };
    let mut sink = FileSink::open(&cfg, &SinkOptions::default()).unwrap();
    if let Ok(src) = FileSource::open(pcap) {
        let sources: Vec<Box<dyn PacketSource>> = vec![Box::new(src)];
        let _ =
            flowmeter::pipeline::run(&meter, sources, false, &mut sink, &AtomicBool::new(false));
    }
    sink.close().unwrap();
    decode_flows(&std::fs::read(out).unwrap())
}

fn decode_flows(bytes: &[u8]) -> Vec<FlowRecord> {
    data_sets(bytes)
        .into_iter()
        .filter(|s| is_flow_template(s.tid))
        .flat_map(|s| s.records.iter().map(flow_from_yaf).collect::<Vec<_>>())
        .collect()
}

type Key = (u8, IpAddr, u16, IpAddr, u16, u16, u64);

fn key(f: &FlowRecord) -> Key {
    (
        f.proto,
        f.src,
        f.sport,
        f.dst,
        f.dport,
        f.vlan,
        f.start_ns / 1_000_000,
    )
}

type DnsKey = (String, u16, u8, u8, u8, u8, u32, u16, String);

fn dns_key(r: &DnsRecord) -> DnsKey {
    (
        r.qname.clone(),
        r.rrtype,
        r.section,
        r.qr,
        r.aa,
        r.rcode,
        r.ttl,
        r.id,
        format!("{:?}", r.rdata),
    )
}

fn multiset(v: &[DnsRecord]) -> BTreeMap<DnsKey, usize> {
    let mut m = BTreeMap::new();
    for r in v {
        *m.entry(dns_key(r)).or_insert(0) += 1;
    }
    m
}

/// YAF 2.16 misreads pcap times at or after 2038-01-19 (see export_yaf_bytes.rs): its flows
/// there start in the year 2486+. Captures with such flows are compared for nothing but the
/// count of flows.
const YAF_TIME_LIMIT_MS: u64 = (i64::MAX as u64) / 1_000_000;

/// Captures whose packets are stamped in 1970 (relative or synthetic time stamps). YAF's flow
/// table handles them differently (it ends their flows as idle, flowEndReason 1, where we say
/// end of input, 4, and it splits some long-lived ones): a named difference for the flows of
/// such captures.
const EPOCH_1970_MS: u64 = 365 * 86_400_000;

/// Flow-level differences not yet explained (flow table and packet decoder, not export):
/// (capture file name, at most this many differing flows). Pinned so that any new or larger
/// difference fails the test; see the final report of the export work.
const UNEXPLAINED_FLOW_DIFFS: &[(&str, usize)] = &[
    ("input.yaf", 1),                    // suricata-verify bypass-ssh: 40 vs 41 packets
    ("fuzz-2006-06-26-2594.yaf", 6), // tcpdump fuzz capture: corrupt headers decoded differently
    ("anydesk.yaf", 1), // octets differ with equal packets (IP total length vs captured)
    ("tls_heur__trojan-tcp-tls.yaf", 1), // TCP reverse packets after FIN counted by us
    ("tls_heur__vmess-tcp-tls.yaf", 1),
    ("tls_heur__vmess-websocket.yaf", 1),
    ("dns.yaf", 1),    // one reverse packet YAF did not count
    ("gold.yaf", 2),   // (in tests/data and in the corpus: counted twice)
    ("frag-9.yaf", 1), // IPv6 fragmented ICMPv6 echo: YAF dropped the big datagram
    ("nsd-live.raw.yaf", 1),
    ("avast_securedns.yaf", 4), // UDP/443 flows only we export
    ("netease_games.yaf", 1),
    ("dnscrypt-v1-and-resolver-pings.yaf", 2), // initiator chosen differently
    ("dns_fwdptr.yaf", 1),                     // YAF exported no flow at all
    // Appeared with 95eb412 (flow table): a 1-packet UDP broadcast flow YAF ends as idle (1),
    // we at end of input (4). Reported in docs/requests.md.
    ("wireshark_samples-test.yaf", 1),
];

/// DNS records YAF exports and we do not, not yet fixed: (capture file name, qname).
const KNOWN_DNS_DIFFS: &[(&str, &str)] = &[
    // Appeared with 2aaece2 (DPI name fast path): a NetBIOS question whose name has a 0xF5
    // byte is no longer exported (YAF: "...\\xF5CABM."). Reported in docs/requests.md.
    (
        "fuzz-2006-06-26-2594.yaf",
        "EFEDEJFPEEEPENEBEJEOCACACAC\\xF5CABM.",
    ),
];

/// What a difference is, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    YafTimeOverflow,
    Epoch1970Captures,
    FragmentsReassembledByUs,
    Unexplained,
    /// DNS: YAF exported none for the flow (it did not label it DNS: LLMNR 5355, NetBIOS-NS
    /// 137, DNS-like payload on other ports); we did.
    DnsOursOnlyYafNone,
    /// DNS: ours has every record YAF has, plus those of IP-fragmented messages we reassemble.
    DnsSupersetFragments,
    /// DNS: ours has every record YAF has, plus more (in default mode every message of the
    /// flow; in both modes records after a malformed one and messages YAF's parser skipped).
    DnsSuperset,
    /// DNS: YAF exports a zeroed record (empty name, type 0) for a question or RR it failed to
    /// parse; we export nothing for it (and count the parse error).
    DnsYafZeroedRecord,
    /// DNS: YAF exports an RR whose rdata is malformed with an empty or zero value (PTR "",
    /// A 0.0.0.0); we drop that record and count it as bad rdata.
    DnsYafMalformedRdata,
    /// DNS: listed in `KNOWN_DNS_DIFFS`.
    DnsKnownRegression,
    DnsUnexplained,
}

#[derive(Default)]
struct Tally {
    files: usize,
    flows_yaf: usize,
    flows_ours: usize,
    flows_matched: usize,
    flows_equal: usize,
    dns_yaf: usize,
    dns_ours: usize,
    dns_flows_equal: usize,
    classes: BTreeMap<Class, usize>,
    unexplained: BTreeMap<String, usize>,
    unexplained_examples: Vec<String>,
    dns_unexplained: Vec<String>,
}

fn is_zeroed(k: &DnsKey) -> bool {
    k.0.is_empty() && k.1 == 0
}

fn is_malformed_rdata(k: &DnsKey) -> bool {
    k.8 == "A(0.0.0.0)" || k.8.ends_with("(\"\")")
}

fn compare(yaf: &[FlowRecord], ours: &[FlowRecord], t: &mut Tally, name: &str) {
    t.files += 1;
    t.flows_yaf += yaf.len();
    t.flows_ours += ours.len();
    if yaf
        .iter()
        .any(|f| f.start_ns / 1_000_000 > YAF_TIME_LIMIT_MS)
    {
        *t.classes.entry(Class::YafTimeOverflow).or_default() += yaf.len().max(ours.len());
        return;
    }
    let epoch = yaf
        .iter()
        .chain(ours)
        .any(|f| f.start_ns / 1_000_000 < EPOCH_1970_MS);
    let mut index: HashMap<Key, Vec<&FlowRecord>> = HashMap::new();
    for f in ours {
        index.entry(key(f)).or_default().push(f);
    }
    let counters = |f: &FlowRecord| (f.packets, f.rev_packets, f.octets, f.rev_octets);
    let flow_class = |t: &mut Tally, c: Class| {
        *t.classes.entry(c).or_default() += 1;
        if c == Class::Unexplained {
            *t.unexplained.entry(name.to_string()).or_default() += 1;
        }
    };
    for y in yaf {
        t.dns_yaf += y.dns.len();
        // Same key twice (TCP port reuse within a millisecond): take the twin with equal counters.
        let found = index.get_mut(&key(y)).and_then(|v| {
            let i = v
                .iter()
                .position(|o| counters(o) == counters(y))
                .unwrap_or(0);
            (i < v.len()).then(|| v.remove(i))
        });
        let Some(o) = found else {
            flow_class(
                t,
                if epoch {
                    Class::Epoch1970Captures
                } else {
                    Class::Unexplained
                },
            );
            continue;
        };
        t.flows_matched += 1;
        t.dns_ours += o.dns.len();
        let fragmented =
            (o.attributes | o.rev_attributes | y.attributes | y.rev_attributes) & 0x08 != 0;
        if counters(y) != counters(o) || y.end_reason != o.end_reason {
            let named = epoch || (fragmented && y.end_reason == o.end_reason);
            if !named {
                t.unexplained_examples.push(format!(
                    "{name}: {:?}: YAF {}/{} pkts {}/{} B reason {}, ours {}/{} pkts {}/{} B reason {}",
                    key(y),
                    y.packets,
                    y.rev_packets,
                    y.octets,
                    y.rev_octets,
                    y.end_reason,
                    o.packets,
                    o.rev_packets,
                    o.octets,
                    o.rev_octets,
                    o.end_reason
                ));
            }
            flow_class(
                t,
                if epoch {
                    Class::Epoch1970Captures
                } else if fragmented && y.end_reason == o.end_reason {
                    Class::FragmentsReassembledByUs
                } else {
                    Class::Unexplained
                },
            );
        } else {
            t.flows_equal += 1;
        }
        let (my, mo) = (multiset(&y.dns), multiset(&o.dns));
        if my == mo {
            t.dns_flows_equal += 1;
            continue;
        }
        let missing: Vec<&DnsKey> = my
            .iter()
            .filter(|(k, n)| mo.get(*k).is_none_or(|m| m < *n))
            .map(|(k, _)| k)
            .collect();
        let class = if y.dns.is_empty() {
            Class::DnsOursOnlyYafNone
        } else if missing.is_empty() && fragmented {
            Class::DnsSupersetFragments
        } else if missing.is_empty() {
            Class::DnsSuperset
        } else if missing.iter().all(|k| is_zeroed(k)) {
            Class::DnsYafZeroedRecord
        } else if missing
            .iter()
            .all(|k| is_zeroed(k) || is_malformed_rdata(k))
        {
            Class::DnsYafMalformedRdata
        } else if missing
            .iter()
            .all(|k| KNOWN_DNS_DIFFS.iter().any(|(f, q)| *f == name && *q == k.0))
        {
            Class::DnsKnownRegression
        } else {
            let extra: Vec<&DnsKey> = mo
                .iter()
                .filter(|(k, n)| my.get(*k).is_none_or(|m| m < *n))
                .map(|(k, _)| k)
                .collect();
            t.dns_unexplained.push(format!(
                "{name}: {:?}: YAF-only {missing:?}, ours-only {extra:?}",
                key(y)
            ));
            Class::DnsUnexplained
        };
        *t.classes.entry(class).or_default() += 1;
    }
    for _ in 0..index.values().map(Vec::len).sum::<usize>() {
        flow_class(
            t,
            if epoch {
                Class::Epoch1970Captures
            } else {
                Class::Unexplained
            },
        );
    }
}

fn print(mode: &str, t: &Tally) {
    eprintln!("\n== {mode}: {} captures with a YAF file ==", t.files);
    eprintln!("| what | count |\n|---|---|");
    for (k, v) in [
        ("flows in YAF", t.flows_yaf),
        ("flows ours", t.flows_ours),
        (
            "flows matched (proto, addresses, ports, VLAN, start ms)",
            t.flows_matched,
        ),
        (
            "matched with equal packets, octets (both ways) and flowEndReason",
            t.flows_equal,
        ),
        ("DNS records in YAF (matched flows)", t.dns_yaf),
        ("DNS records ours (matched flows)", t.dns_ours),
        (
            "matched flows with identical DNS records",
            t.dns_flows_equal,
        ),
    ] {
        eprintln!("| {k} | {v} |");
    }
    eprintln!("| difference class | flows |\n|---|---|");
    for (c, n) in &t.classes {
        eprintln!("| {c:?} | {n} |");
    }
    for (f, n) in &t.unexplained {
        eprintln!("  unexplained flow differences: {f}: {n}");
    }
    for e in &t.unexplained_examples {
        eprintln!("    {e}");
    }
    for d in &t.dns_unexplained {
        eprintln!("  unexplained DNS difference: {d}");
    }
}

fn check(t: &Tally) {
    assert!(t.files > 0);
    assert!(
        t.dns_unexplained.is_empty(),
        "DNS records YAF has and we do not: {:#?}",
        t.dns_unexplained
    );
    for (f, n) in &t.unexplained {
        let allowed = UNEXPLAINED_FLOW_DIFFS
            .iter()
            .find(|(k, _)| k == f)
            .map_or(0, |(_, m)| *m);
        assert!(
            *n <= allowed,
            "{f}: {n} flow differences (allowed {allowed})"
        );
    }
}

fn run_mode(yaf_compat: bool) -> Tally {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Tally::default();
    for (i, (pcap, yaf)) in pairs().iter().enumerate() {
        let y = decode_flows(&std::fs::read(yaf).unwrap());
        let o = run_ours(pcap, &dir.path().join(format!("{i}.yaf")), yaf_compat);
        let name = yaf.file_name().unwrap().to_string_lossy().into_owned();
        compare(&y, &o, &mut t, &name);
    }
    t
}

#[test]
fn flows_and_dns_records_match_yaf_in_yaf_compat_mode() {
    let t = run_mode(true);
    print("--yaf-compat", &t);
    check(&t);
}

#[test]
fn default_mode_exports_at_least_yafs_dns_records() {
    let t = run_mode(false);
    print("default", &t);
    check(&t);
    // Every message of every flow: strictly more DNS records than YAF's first-packet rule.
    assert!(t.dns_ours > t.dns_yaf);
}
