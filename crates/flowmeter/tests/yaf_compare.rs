//! Our flowmeter against YAF 2.16.4 on the same captures: for every capture with a YAF file
//! (tests/data/yaf always, ../shared/corpus/yaf when present), run our whole pipeline and file
//! exporter with YAF's settings (idle 300 s, active 1800 s, --max-payload 2048), decode both
//! IPFIX files with ipfix-model, and compare flow by flow: 5-tuple and start, packets and
//! octets both ways, flowEndReason, and the DNS records (qname, type, section, rdata...).
//!
//! Two runs: `--yaf-compat` (DPI as YAF: first UDP packet / TCP message per direction), where
//! DNS records must equal YAF's except for the named differences below; and the default mode,
//! where we export more DNS records (every message), which is counted, not failed.
//! Every flow difference must belong to a deliberate class (`DELIBERATE_FLOW_DIFFS`: named
//! captures, and the class's property); prints a summary table of every difference class
//! with the captures it was granted in and why.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod export_support;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use export_support::*;
use flowmeter::capture::file::FileSource;
use flowmeter::capture::PacketSource;
use flowmeter::config::{ExportConfig, MeterConfig};
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
        stats_interval_s: 0,
        ..ExportConfig::file(out.to_string_lossy().into_owned())
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
        r.head.rrtype,
        r.head.section,
        r.head.qr,
        r.head.aa,
        r.head.rcode,
        r.head.ttl,
        r.head.id,
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

/// The idle timeout of the corpus run (YAF's default), in ms.
const IDLE_MS: u64 = 300_000;

/// flowAttributes bits (yaf-ipfix.md).
const OUT_OF_SEQUENCE: u16 = 0x02;
const FRAGMENTED: u16 = 0x08;

/// What a difference is, by name. Flow classes other than `Unexplained` are deliberate; each
/// is granted only in the captures listed for it in `DELIBERATE_FLOW_DIFFS`, and only to a
/// difference with the class's property (`has_property`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    YafTimeOverflow,
    YafEpochIdleUnderflow,
    FragmentsReassembledByUs,
    OutOfSequenceKept,
    TsoZeroTotalLength,
    Ipv6AtomicFragment,
    CorruptIpv4Header,
    YafZeroTimestamp,
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
    DnsUnexplained,
}

impl Class {
    /// Why the difference is deliberate (printed with the summary).
    fn reason(self) -> &'static str {
        match self {
            Class::YafTimeOverflow => "YAF overflows pcap times after 2038-01-19",
            Class::YafEpochIdleUnderflow => {
                "YAF's idle test underflows while packet time is within the idle timeout of \
                 1970-01-01: every flush (~5 s) ends every flow as idle (1), so its flows split \
                 and even end-of-input says idle; ours follow the capture"
            }
            Class::FragmentsReassembledByUs => {
                "IP-fragmented datagrams: we count the reassembled datagram where YAF does not"
            }
            Class::OutOfSequenceKept => {
                "a packet stamped before the newest one seen: YAF drops it (unless \
                 --force-read-all); we keep it and set flowAttributes 0x02"
            }
            Class::TsoZeroTotalLength => {
                "a TSO-offloaded IPv4 packet with total length 0: YAF adds 0 octets, we add \
                 its captured IP length"
            }
            Class::Ipv6AtomicFragment => {
                "an IPv6 atomic fragment (fragment header, offset 0, M=0; RFC 6946): YAF drops \
                 the packet, we count it as the whole datagram it is"
            }
            Class::CorruptIpv4Header => {
                "fuzzed IPv4 headers (version != 4, IHL < 5): YAF decodes them behind \
                 EtherType 0x0800 anyway (ports read from inside the IP header); we drop them \
                 as malformed"
            }
            Class::YafZeroTimestamp => {
                "every packet of the capture is stamped 0.000000: YAF's statistics record \
                 counts no packet at all and it exports nothing; we export the flows"
            }
            Class::DnsOursOnlyYafNone => {
                "YAF did not label the flow DNS (LLMNR, NetBIOS-NS, mDNS, DNS on other ports); \
                 we did and export its records"
            }
            Class::DnsSupersetFragments => {
                "all of YAF's records, plus those of IP-fragmented messages we reassemble"
            }
            Class::DnsSuperset => {
                "all of YAF's records, plus more (every message in default mode; records after \
                 a malformed one)"
            }
            Class::DnsYafZeroedRecord => {
                "YAF exports an empty-name, type-0 record for what it failed to parse; we count \
                 the error instead"
            }
            Class::DnsYafMalformedRdata => {
                "YAF exports a malformed RR with an empty or zero rdata; we drop it and count it"
            }
            Class::Unexplained | Class::DnsUnexplained => "",
        }
    }
}

/// Deliberate flow differences: (capture, as the end of its YAF file's path; class).
const DELIBERATE_FLOW_DIFFS: &[(&str, Class)] = &[
    (
        "ntop+nDPI/tests/cfgs/default/pcap/gnutella.yaf",
        Class::YafEpochIdleUnderflow,
    ),
    ("dns/dns-invalid-names.yaf", Class::YafEpochIdleUnderflow),
    ("dns/loc-invalid-length.yaf", Class::YafEpochIdleUnderflow),
    ("dns/dns-edns-bad-length.yaf", Class::YafEpochIdleUnderflow),
    (
        "Traces/dns-svcb-rdlength-mismatch.yaf",
        Class::YafEpochIdleUnderflow,
    ),
    (
        "ntop+nDPI/tests/cfgs/default/pcap/bt-dns.yaf",
        Class::YafEpochIdleUnderflow,
    ),
    ("bypass-ssh-enabled/input.yaf", Class::OutOfSequenceKept),
    ("test-scripts/dns.yaf", Class::OutOfSequenceKept),
    ("test-scripts/gold.yaf", Class::OutOfSequenceKept),
    ("test-scripts/nsd-live.raw.yaf", Class::OutOfSequenceKept),
    ("pcap/avast_securedns.yaf", Class::OutOfSequenceKept),
    ("pcap/netease_games.yaf", Class::OutOfSequenceKept),
    (
        "pcap/dnscrypt-v1-and-resolver-pings.yaf",
        Class::OutOfSequenceKept,
    ),
    (
        "pcap/tls_heur__trojan-tcp-tls.yaf",
        Class::OutOfSequenceKept,
    ),
    ("pcap/tls_heur__vmess-tcp-tls.yaf", Class::OutOfSequenceKept),
    (
        "pcap/tls_heur__vmess-websocket.yaf",
        Class::OutOfSequenceKept,
    ),
    ("pcap/anydesk.yaf", Class::TsoZeroTotalLength),
    (
        "ipv6-malformed-fragments-9/frag-9.yaf",
        Class::Ipv6AtomicFragment,
    ),
    ("pcap/fuzz-2006-06-26-2594.yaf", Class::CorruptIpv4Header),
    ("tcpdump/tests/dns_fwdptr.yaf", Class::YafZeroTimestamp),
    (
        "dns-query/dns-detect-query-01/input.yaf",
        Class::YafZeroTimestamp,
    ),
    (
        "dns-query/dns-detect-query-02/input.yaf",
        Class::YafZeroTimestamp,
    ),
    (
        "dns-query/dns-detect-query-03/input.yaf",
        Class::YafZeroTimestamp,
    ),
    (
        "dns-query/dns-detect-query-05/input.yaf",
        Class::YafZeroTimestamp,
    ),
    (
        "Traces/ipv6-fragmented-dns.yaf",
        Class::FragmentsReassembledByUs,
    ),
    ("pcap/dns_fragmented.yaf", Class::FragmentsReassembledByUs),
];

/// The flow's endpoints, direction-neutral (for pairing a YAF-only flow with ours).
fn endpoints(f: &FlowRecord) -> (u8, u16, (IpAddr, u16), (IpAddr, u16)) {
    let (a, b) = ((f.src, f.sport), (f.dst, f.dport));
    (f.proto, f.vlan, a.min(b), a.max(b))
}

fn start_ms(f: &FlowRecord) -> u64 {
    f.start_ns / 1_000_000
}

/// A differing flow: matched in both (`y` and `o`), YAF only, or ours only. A YAF-only flow
/// comes with all our flows on the same endpoints (a flow split differently).
#[derive(Clone, Copy)]
enum Diff<'a> {
    Both(&'a FlowRecord, &'a FlowRecord),
    YafOnly(&'a FlowRecord, &'a [&'a FlowRecord]),
    /// With whether YAF exported no flow at all for the capture.
    OursOnly(&'a FlowRecord, bool),
}

/// Whether a difference has the property that defines `c`.
fn has_property(c: Class, d: Diff<'_>) -> bool {
    let oos = |f: &FlowRecord| (f.attributes | f.rev_attributes) & OUT_OF_SEQUENCE != 0;
    let pkts = |f: &FlowRecord| f.packets + f.rev_packets;
    match (c, d) {
        // YAF's bug is active while its clock is under the idle timeout: flows starting then,
        // and the pieces YAF split off them (our flow on the same endpoints started then).
        (Class::YafEpochIdleUnderflow, Diff::Both(y, _)) => start_ms(y) < IDLE_MS,
        (Class::YafEpochIdleUnderflow, Diff::YafOnly(y, others)) => {
            start_ms(y) < IDLE_MS || others.iter().any(|o| start_ms(o) < IDLE_MS)
        }
        (Class::YafEpochIdleUnderflow, Diff::OursOnly(o, _)) => start_ms(o) < IDLE_MS,
        (Class::FragmentsReassembledByUs, Diff::Both(y, o)) => {
            (o.attributes | o.rev_attributes | y.attributes | y.rev_attributes) & FRAGMENTED != 0
                && y.end_reason == o.end_reason
        }
        (Class::OutOfSequenceKept, Diff::Both(y, o)) => {
            oos(o)
                && !oos(y)
                && o.packets >= y.packets
                && o.rev_packets >= y.rev_packets
                && y.end_reason == o.end_reason
        }
        (Class::OutOfSequenceKept, Diff::OursOnly(o, _)) => oos(o),
        // YAF's flow is what is left of ours without the late packets.
        (Class::OutOfSequenceKept, Diff::YafOnly(y, others)) => {
            others.iter().any(|o| oos(o) && pkts(o) > pkts(y))
        }
        (Class::TsoZeroTotalLength, Diff::Both(y, o)) => {
            (y.packets, y.rev_packets, y.end_reason) == (o.packets, o.rev_packets, o.end_reason)
                && o.octets >= y.octets
                && o.rev_octets >= y.rev_octets
        }
        (Class::Ipv6AtomicFragment, Diff::Both(y, o)) => {
            y.src.is_ipv6()
                && y.end_reason == o.end_reason
                && o.packets >= y.packets
                && o.rev_packets >= y.rev_packets
        }
        (Class::CorruptIpv4Header, Diff::Both(y, o)) => {
            y.src.is_ipv4()
                && y.end_reason == o.end_reason
                && y.packets >= o.packets
                && y.rev_packets >= o.rev_packets
        }
        (Class::CorruptIpv4Header, Diff::YafOnly(y, _)) => y.src.is_ipv4(),
        (Class::YafZeroTimestamp, Diff::OursOnly(o, yaf_none)) => yaf_none && o.start_ns == 0,
        _ => false,
    }
}

fn flow_diff_class(name: &str, d: Diff<'_>) -> Class {
    DELIBERATE_FLOW_DIFFS
        .iter()
        .filter(|(cap, _)| name.ends_with(cap))
        .map(|(_, c)| *c)
        .find(|c| has_property(*c, d))
        .unwrap_or(Class::Unexplained)
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
    /// Class -> capture -> differing flows.
    classes: BTreeMap<Class, BTreeMap<String, usize>>,
    unexplained_examples: Vec<String>,
    dns_unexplained: Vec<String>,
}

impl Tally {
    fn count(&mut self, c: Class, name: &str) {
        *self
            .classes
            .entry(c)
            .or_default()
            .entry(name.to_string())
            .or_default() += 1;
    }
}

fn is_zeroed(k: &DnsKey) -> bool {
    k.0.is_empty() && k.1 == 0
}

fn is_malformed_rdata(k: &DnsKey) -> bool {
    k.8 == "A(0.0.0.0)" || k.8.ends_with("(\"\")")
}

fn describe(f: &FlowRecord) -> String {
    format!(
        "{:?} {}/{} pkts {}/{} B reason {} attrs {:#x}/{:#x}",
        key(f),
        f.packets,
        f.rev_packets,
        f.octets,
        f.rev_octets,
        f.end_reason,
        f.attributes,
        f.rev_attributes
    )
}

fn compare(yaf: &[FlowRecord], ours: &[FlowRecord], t: &mut Tally, name: &str) {
    t.files += 1;
    t.flows_yaf += yaf.len();
    t.flows_ours += ours.len();
    if yaf
        .iter()
        .any(|f| f.start_ns / 1_000_000 > YAF_TIME_LIMIT_MS)
    {
        for _ in 0..yaf.len().max(ours.len()) {
            t.count(Class::YafTimeOverflow, name);
        }
        return;
    }
    let mut index: HashMap<Key, Vec<&FlowRecord>> = HashMap::new();
    for f in ours {
        index.entry(key(f)).or_default().push(f);
    }
    let counters = |f: &FlowRecord| (f.packets, f.rev_packets, f.octets, f.rev_octets);
    let mut yaf_only = Vec::new();
    let mut diffs = Vec::new();
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
            yaf_only.push(y);
            continue;
        };
        t.flows_matched += 1;
        t.dns_ours += o.dns.len();
        if counters(y) != counters(o) || y.end_reason != o.end_reason {
            diffs.push(Diff::Both(y, o));
        } else {
            t.flows_equal += 1;
        }
        compare_dns(y, o, t, name);
    }
    let ours_only: Vec<&FlowRecord> = index.into_values().flatten().collect();
    let mut by_endpoints: HashMap<_, Vec<&FlowRecord>> = HashMap::new();
    for o in ours {
        by_endpoints.entry(endpoints(o)).or_default().push(o);
    }
    let others: Vec<Vec<&FlowRecord>> = yaf_only
        .iter()
        .map(|y| by_endpoints.get(&endpoints(y)).cloned().unwrap_or_default())
        .collect();
    diffs.extend(
        yaf_only
            .iter()
            .zip(&others)
            .map(|(y, v)| Diff::YafOnly(y, v.as_slice())),
    );
    diffs.extend(ours_only.iter().map(|o| Diff::OursOnly(o, yaf.is_empty())));
    for d in diffs {
        let c = flow_diff_class(name, d);
        if c == Class::Unexplained {
            t.unexplained_examples.push(match d {
                Diff::Both(y, o) => format!("{name}: YAF {} / ours {}", describe(y), describe(o)),
                Diff::YafOnly(y, _) => format!("{name}: YAF only {}", describe(y)),
                Diff::OursOnly(o, _) => format!("{name}: ours only {}", describe(o)),
            });
        }
        t.count(c, name);
    }
}

fn compare_dns(y: &FlowRecord, o: &FlowRecord, t: &mut Tally, name: &str) {
    let fragmented =
        (o.attributes | o.rev_attributes | y.attributes | y.rev_attributes) & FRAGMENTED != 0;
    let (my, mo) = (multiset(&y.dns), multiset(&o.dns));
    if my == mo {
        t.dns_flows_equal += 1;
        return;
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
    t.count(class, name);
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
    eprintln!("| difference class | flows | captures | why |\n|---|---|---|---|");
    for (c, caps) in &t.classes {
        let n: usize = caps.values().sum();
        // The capture's directory too: suricata-verify's are all called input.
        let names: Vec<String> = caps
            .keys()
            .map(|k| k.rsplit('/').take(2).collect::<Vec<_>>())
            .map(|v| v.into_iter().rev().collect::<Vec<_>>().join("/"))
            .collect();
        let shown = if names.len() > 6 {
            format!("{} captures", names.len())
        } else {
            names.join(", ")
        };
        eprintln!("| {c:?} | {n} | {shown} | {} |", c.reason());
    }
    for e in &t.unexplained_examples {
        eprintln!("  unexplained flow difference: {e}");
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
    assert!(
        t.unexplained_examples.is_empty(),
        "flow differences from YAF that no deliberate class explains: {:#?}",
        t.unexplained_examples
    );
    // A listed difference that is gone (fixed, or the corpus changed) must leave the list.
    if corpus().is_some() {
        for (cap, c) in DELIBERATE_FLOW_DIFFS {
            assert!(
                t.classes
                    .get(c)
                    .is_some_and(|m| m.keys().any(|k| k.ends_with(cap))),
                "{cap}: no {c:?} difference any more; remove it from DELIBERATE_FLOW_DIFFS"
            );
        }
    }
}

fn run_mode(yaf_compat: bool) -> Tally {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Tally::default();
    for (i, (pcap, yaf)) in pairs().iter().enumerate() {
        let y = decode_flows(&std::fs::read(yaf).unwrap());
        let o = run_ours(pcap, &dir.path().join(format!("{i}.yaf")), yaf_compat);
        let name = yaf.to_string_lossy().into_owned();
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
