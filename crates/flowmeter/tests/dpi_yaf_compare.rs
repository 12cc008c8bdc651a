//! Our DNS records against YAF 2.16.4's, capture by capture.
//!
//! For every capture of ../shared/corpus with an ipfixDump text dump of
//! YAF's output, the UDP/TCP payloads (extracted by tshark) are grouped into
//! biflows as YAF does (5-tuple, 300 s idle timeout), DNS flows are picked
//! by payload (`dns_candidate`, YAF's applabel), and their messages go
//! through `DnsFlowState` in `yaf_compat` mode with YAF's --max-payload
//! 2048. The multiset of (qname, type, section, qr, aa, rcode, ttl, id,
//! rdata text) must equal YAF's, except for the deliberate differences
//! named in `DELIBERATE`.

mod dpi_support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use dpi_support::{captures, corpus_or_skip, packets, Pkt};
use flowmeter::dpi::{dns_candidate, DnsFlowState, DnsRecord, DnsStats, DpiConfig, Rdata};

const GARBAGE: &str = "YAF exports an empty-name, type-0 question when a name does not decode \
     (forward/bad pointer, truncation); we drop it and count the error in DnsStats";
const DIRECTION: &str = "YAF's DNS applabel scan rejected one direction's message (Z bit set, SSHFP or \
     TSIG query, corrupt or snaplen-cut response, fuzzed names) so its DPI skipped that direction, \
     or exported an RR whose rdata name failed with empty rdata; we decode every message that parses \
     and drop only RRs whose rdata is broken";
const NOTIFY: &str = "YAF exports no records for NOTIFY (opcode 4) messages; we do";
const TCP: &str =
    "DNS over TCP where the first segment is not exactly one length-prefixed message \
     (several messages in it, or the response split after the prefix) or the stream has a gap: YAF \
     misreads it; we reassemble by sequence number";

const CUT: &str = "a response longer than what YAF captured (max-payload, fragments): YAF exports \
     nothing for the cut message; we export the records before the cut (or all of them once IP \
     fragments are reassembled) and count messages_capped";

/// Captures whose records differ from YAF's on purpose, and why.
const DELIBERATE: &[(&str, &str)] = &[
    (
        "OISF+suricata-verify/tests/dns/dns-forward-pointer/input",
        GARBAGE,
    ),
    (
        "dns-stats+compactor/test-scripts/knot-live.ignored",
        GARBAGE,
    ),
    ("dns-stats+compactor/test-scripts/nsd-live.ignored", GARBAGE),
    ("ntop+nDPI/tests/cfgs/default/pcap/malformed_dns", GARBAGE),
    (
        "zeek+zeek/testing/btest/Traces/dns/dns-invalid-names",
        GARBAGE,
    ),
    ("OISF+suricata-verify/tests/dns/dns-z-bit/input", DIRECTION),
    (
        "OISF+suricata-verify/tests/dns/dns-sshfp/dns-sshfp",
        DIRECTION,
    ),
    ("zeek+zeek/testing/btest/Traces/dns-tsig", DIRECTION),
    ("the-tcpdump-group+tcpdump/tests/dns_udp_2", DIRECTION),
    (
        "OISF+suricata-verify/tests/dns/dns-corrupt-additionals/input",
        DIRECTION,
    ),
    (
        "ntop+nDPI/tests/cfgs/default/pcap/fuzz-2006-06-26-2594",
        DIRECTION,
    ),
    ("OISF+suricata-verify/tests/dns-opcode/dns-notify", NOTIFY),
    ("zeek+zeek/testing/btest/Traces/dns/dns_notify2", NOTIFY),
    ("OISF+suricata-verify/tests/dns-tcp-ts-gap/input", TCP),
    (
        "OISF+suricata-verify/tests/dns/dns-tcp-multirequest-buffer/dns-tcp-multirequest-buffer",
        TCP,
    ),
    (
        "OISF+suricata-verify/tests/llmnr/llmnr-tcp-reassembly/input",
        TCP,
    ),
    (
        "ntop+nDPI/tests/cfgs/default/pcap/dnscrypt-v1-and-resolver-pings",
        "DNSCrypt certificate queries padded with an additional RR of type 0: YAF exports nothing \
         for such a query (only the responses); we export its question and the type-0 RR",
    ),
    // Large responses YAF exported nothing for: dnssec's is 3,054 octets, over
    // the --max-payload 2048 the corpus was made with, so YAF saw a cut message
    // (size checked); the other two are IP-fragmented ~1.5 kB responses, presumably
    // cut the same way by YAF (not verified). We keep what precedes our own cut.
    ("the-tcpdump-group+tcpdump/tests/dnssec", CUT),
    ("ntop+nDPI/tests/cfgs/default/pcap/dns_fragmented", CUT),
    ("zeek+zeek/testing/btest/Traces/dns-edns-ecs", CUT),
    (
        "ntop+nDPI/tests/cfgs/default/pcap/gnutella",
        "packets stamped in the first 300 s of 1970: YAF's idle test underflows there, so each \
         flush ends every flow and its mDNS flow 10.0.2.15:5353 > 224.0.0.251:5353 (and the \
         IPv6 twin) is split in three, each piece inspected from its own first packet \
         (googlecast PTR, puppet A); the emulation here, like our flow table, keeps one flow \
         and inspects its first packet (MSEDGEWIN10 ANY), in a piece YAF labelled 0 \
         (yaf_compare: YafEpochIdleUnderflow)",
    ),
];

type Key = String;

/// The record as a comparable line; rdata as YAF exports it (empty for
/// types YAF has no template for, DNSSEC included since the corpus was
/// made without the DNSSEC plugin option).
#[allow(clippy::too_many_arguments)] // one argument per compared column
fn yaf_text(
    qname: &str,
    rrtype: u16,
    section: u8,
    qr: u8,
    aa: u8,
    rcode: u8,
    ttl: u32,
    id: u16,
    rdata: &str,
) -> Key {
    format!("{qname}|t{rrtype}|s{section}|qr{qr}|aa{aa}|rc{rcode}|ttl{ttl}|id{id}|{rdata}")
}

fn ours_key(r: &DnsRecord) -> Key {
    let rdata = match &r.rdata {
        Rdata::A(_)
        | Rdata::Aaaa(_)
        | Rdata::Cname(_)
        | Rdata::Ns(_)
        | Rdata::Ptr(_)
        | Rdata::Mx { .. }
        | Rdata::Txt(_)
        | Rdata::Srv { .. }
        | Rdata::Soa { .. } => r.rdata.presentation(),
        _ => String::new(),
    };
    yaf_text(
        &r.qname,
        r.head.rrtype,
        r.head.section,
        r.head.qr,
        r.head.aa,
        r.head.rcode,
        r.head.ttl,
        r.head.id,
        &rdata,
    )
}

fn field(n: &str) -> &str {
    if n.is_empty() {
        "."
    } else {
        n
    }
}

/// Flow identity shared by both sides: protocol and the two endpoints
/// (innermost IP address, port), in a canonical order.
type FlowKey = (u8, (String, u16), (String, u16));

fn norm_addr(a: &str) -> String {
    a.parse::<std::net::IpAddr>()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| a.to_string())
}

fn flow_key(proto: u8, a: (&str, u16), b: (&str, u16)) -> FlowKey {
    let a = (norm_addr(a.0), a.1);
    let b = (norm_addr(b.0), b.1);
    if a <= b {
        (proto, a, b)
    } else {
        (proto, b, a)
    }
}

/// tshark's "ip,ip|ipv6" address column -> the innermost address.
fn inner_addr(s: &str) -> &str {
    let (v4, v6) = s.split_once('|').unwrap_or((s, ""));
    let pick = if v6.is_empty() { v4 } else { v6 };
    pick.rsplit(',').next().unwrap_or("")
}

/// One YAF flow: its key, silkAppLabel, and DNS records.
struct YafFlow {
    key: FlowKey,
    applabel: u16,
    records: Vec<Key>,
}

/// Parses ipfixDump's text: flows, and every 0xCF00 record (with its rdata
/// fields) attached to the flow record it is nested in.
fn parse_dump(text: &str) -> Vec<YafFlow> {
    let mut flows: Vec<YafFlow> = Vec::new();
    let (mut sport, mut dport, mut proto) = (0u16, 0u16, 0u8);
    let (mut sip, mut dip) = (String::new(), String::new());
    let mut cur: Option<BTreeMap<String, String>> = None;
    for line in text.lines() {
        let t = line.trim();
        let top = |name: &str| -> Option<u64> {
            if cur.is_some() || !t.contains(name) {
                return None;
            }
            t.rsplit(" : ").next()?.trim().parse().ok()
        };
        let addr = |name: &str| -> Option<String> {
            if cur.is_some() || !t.contains(name) {
                return None;
            }
            Some(t.rsplit(" : ").next()?.trim().to_string())
        };
        if t.starts_with("(8) ") || t.starts_with("(27) ") {
            if let Some(a) = addr("source") {
                sip = a;
            }
        } else if t.starts_with("(12) ") || t.starts_with("(28) ") {
            if let Some(a) = addr("destination") {
                dip = a;
            }
        } else if t.starts_with("(7) ") {
            sport = top("sourceTransportPort").unwrap_or(0) as u16;
        } else if t.starts_with("(11) ") {
            dport = top("destinationTransportPort").unwrap_or(0) as u16;
        } else if t.starts_with("(4) ") {
            proto = top("protocolIdentifier").unwrap_or(0) as u8;
        } else if t.starts_with("(6871/33) ") {
            let applabel = top("silkAppLabel").unwrap_or(0) as u16;
            flows.push(YafFlow {
                key: flow_key(proto, (&sip, sport), (&dip, dport)),
                applabel,
                records: Vec::new(),
            });
        }
        if t.starts_with("count:") && t.contains("tid: 52992 (0xcf00)") {
            cur = Some(BTreeMap::new());
            continue;
        }
        let Some(rec) = cur.as_mut() else { continue };
        // "(6871/179)   dnsQName : (len: 5) a.ex."
        let Some(rest) = t.strip_prefix('(') else {
            continue;
        };
        let Some((_, rest)) = rest.split_once(')') else {
            continue;
        };
        let Some((name, val)) = rest.split_once(" : ") else {
            continue;
        };
        let name = name.trim().to_string();
        // Strings: "(len: N) text"; take N octets from the untrimmed line,
        // since a value may end in spaces.
        let val = match line.split_once(" : (len: ") {
            Some((_, v)) => {
                let (n, text) = v.split_once(") ").unwrap_or((v.trim_end_matches(')'), ""));
                let n: usize = n.trim().parse().unwrap_or(0);
                text.get(..n).unwrap_or(text).to_string()
            }
            None => val.trim().to_string(),
        };
        let done = name == "dnsID";
        rec.insert(name, val);
        if done {
            let r = cur.take().unwrap_or_default();
            let g = |k: &str| r.get(k).cloned().unwrap_or_default();
            let n = |k: &str| g(k).parse::<u64>().unwrap_or(0);
            let rdata = if r.contains_key("sourceIPv4Address") {
                g("sourceIPv4Address")
            } else if r.contains_key("sourceIPv6Address") {
                // ipfixDump keeps leading zeros in groups; compare addresses.
                let a = g("sourceIPv6Address");
                a.parse::<std::net::Ipv6Addr>()
                    .map(|a| a.to_string())
                    .unwrap_or(a)
            } else if r.contains_key("dnsCName") {
                g("dnsCName")
            } else if r.contains_key("dnsNSDName") {
                g("dnsNSDName")
            } else if r.contains_key("dnsPTRDName") {
                g("dnsPTRDName")
            } else if r.contains_key("dnsTXTData") {
                g("dnsTXTData")
            } else if r.contains_key("dnsMXExchange") {
                format!("{} {}", n("dnsMXPreference"), field(&g("dnsMXExchange")))
            } else if r.contains_key("dnsSRVTarget") {
                format!(
                    "{} {} {} {}",
                    n("dnsSRVPriority"),
                    n("dnsSRVWeight"),
                    n("dnsSRVPort"),
                    field(&g("dnsSRVTarget"))
                )
            } else if r.contains_key("dnsSOAMName") {
                format!(
                    "{} {} {} {} {} {} {}",
                    field(&g("dnsSOAMName")),
                    field(&g("dnsSOARName")),
                    n("dnsSOASerial"),
                    n("dnsSOARefresh"),
                    n("dnsSOARetry"),
                    n("dnsSOAExpire"),
                    n("dnsSOAMinimum")
                )
            } else {
                String::new()
            };
            let rec = yaf_text(
                &g("dnsQName"),
                n("dnsQRType") as u16,
                n("dnsRRSection") as u8,
                n("dnsQueryResponse") as u8,
                n("dnsAuthoritative") as u8,
                n("dnsNXDomain") as u8,
                n("dnsTTL") as u32,
                n("dnsID") as u16,
                &rdata,
            );
            if let Some(f) = flows.last_mut() {
                f.records.push(rec);
            }
        }
    }
    flows
}

struct Flow {
    init: (String, u16),
    last: f64,
    pkts: Vec<(bool, Pkt)>,
}

/// Our records for a capture, flows emulated as YAF builds them.
fn ours(pkts: Vec<Pkt>, stats: &mut DnsStats) -> Vec<(FlowKey, Vec<Key>)> {
    let cfg = DpiConfig {
        max_payload: 2048,
        yaf_compat: true,
        ..DpiConfig::default()
    };
    let mut open: HashMap<FlowKey, Flow> = HashMap::new();
    let mut done: Vec<Flow> = Vec::new();
    for p in pkts {
        let a = (p.src.clone(), p.sport);
        let b = (p.dst.clone(), p.dport);
        let k = if a <= b {
            (p.proto, a.clone(), b)
        } else {
            (p.proto, b, a.clone())
        };
        if let Some(f) = open.get(&k) {
            if p.ts - f.last > 300.0 {
                if let Some(f) = open.remove(&k) {
                    done.push(f);
                }
            }
        }
        let f = open.entry(k).or_insert_with(|| Flow {
            init: a.clone(),
            last: p.ts,
            pkts: Vec::new(),
        });
        f.last = p.ts;
        let rev = f.init != a;
        f.pkts.push((rev, p));
    }
    done.extend(open.into_values());
    let mut out = Vec::new();
    for f in done {
        let is_dns = [false, true].iter().any(|&dir| {
            f.pkts
                .iter()
                .find(|(r, p)| *r == dir && !p.payload.is_empty())
                .is_some_and(|(_, p)| dns_candidate(&cfg, p.proto, p.sport, p.dport, &p.payload))
        });
        if !is_dns {
            continue;
        }
        let mut st = DnsFlowState::default();
        for (rev, p) in &f.pkts {
            if p.proto == 17 {
                st.on_udp(&cfg, *rev, &p.payload, stats);
            } else {
                st.on_tcp(&cfg, *rev, p.seq, p.syn, p.fin_or_rst, &p.payload, stats);
            }
        }
        let Some((_, p)) = f.pkts.first() else {
            continue;
        };
        let key = flow_key(
            p.proto,
            (inner_addr(&p.src), p.sport),
            (inner_addr(&p.dst), p.dport),
        );
        out.push((
            key,
            st.take_records(&cfg, stats).iter().map(ours_key).collect(),
        ));
    }
    out
}

fn multiset_diff(a: &[Key], b: &[Key]) -> Vec<Key> {
    let mut m: HashMap<&Key, i64> = HashMap::new();
    for k in a {
        *m.entry(k).or_default() += 1;
    }
    for k in b {
        *m.entry(k).or_default() -= 1;
    }
    let mut v: Vec<Key> = m
        .into_iter()
        .filter(|(_, c)| *c > 0)
        .flat_map(|(k, c)| std::iter::repeat_n(k.clone(), c as usize))
        .collect();
    v.sort();
    v
}

#[test]
fn dns_records_match_yaf_2_16_4() {
    let Some(root) = corpus_or_skip("dns_records_match_yaf_2_16_4") else {
        return;
    };
    let caps = captures(&root);
    let mut jobs: Vec<(String, std::path::PathBuf, std::path::PathBuf)> = Vec::new();
    for (stem, path) in caps {
        let dump = root.join("yaf").join(format!("{stem}.dump.txt"));
        // DPI_COMPARE_ONLY=substring narrows the run when investigating.
        let only = std::env::var("DPI_COMPARE_ONLY").unwrap_or_default();
        if dump.is_file() && stem.contains(&only) {
            jobs.push((stem, path, dump));
        }
    }
    let narrowed = std::env::var_os("DPI_COMPARE_ONLY").is_some();
    assert!(
        narrowed || jobs.len() > 200,
        "expected the corpus's ~291 YAF dumps, found {}",
        jobs.len()
    );
    // DPI_COMPARE_VERBOSE=1 lists every differing record, not the first six.
    let shown = if std::env::var_os("DPI_COMPARE_VERBOSE").is_some() {
        usize::MAX
    } else {
        6
    };
    let results = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((stem, path, dump)) = jobs.get(i) else {
                    break;
                };
                let text = std::fs::read_to_string(dump).unwrap_or_default();
                let yaf_flows = parse_dump(&text);
                let mut st = DnsStats::default();
                let our_flows = ours(packets(Path::new(path)), &mut st);
                let yaf: Vec<Key> = yaf_flows
                    .iter()
                    .flat_map(|f| f.records.iter().cloned())
                    .collect();
                // Flows YAF saw but labelled as another protocol (so its DNS
                // plugin never ran), and flows YAF did not decode at all
                // (tunnels it does not open): deliberate, counted apart.
                let (mut other_label, mut no_flow) = (0usize, 0usize);
                let mut us = Vec::new();
                for (k, recs) in our_flows {
                    let labels: Vec<u16> = yaf_flows
                        .iter()
                        .filter(|f| f.key == k)
                        .map(|f| f.applabel)
                        .collect();
                    if labels.is_empty() {
                        no_flow += recs.len();
                    } else if !labels.contains(&53) {
                        other_label += recs.len();
                    } else {
                        us.extend(recs);
                    }
                }
                let missing = multiset_diff(&yaf, &us);
                let extra = multiset_diff(&us, &yaf);
                results.lock().unwrap().push((
                    stem.clone(),
                    yaf.len(),
                    us.len(),
                    missing,
                    extra,
                    other_label,
                    no_flow,
                ));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort();
    let (mut total_yaf, mut total_match, mut bad) = (0, 0, Vec::new());
    let (mut total_other, mut total_noflow) = (0, 0);
    for (stem, ny, nu, missing, extra, other_label, no_flow) in &results {
        total_yaf += ny;
        total_other += other_label;
        total_noflow += no_flow;
        total_match += ny - missing.len();
        if missing.is_empty() && extra.is_empty() {
            continue;
        }
        let why = DELIBERATE.iter().find(|(s, _)| s == stem).map(|(_, w)| *w);
        eprintln!(
            "== {stem}: yaf {ny} ours {nu} missing {} extra {} [{}]",
            missing.len(),
            extra.len(),
            why.unwrap_or("UNEXPLAINED")
        );
        for m in missing.iter().take(shown) {
            eprintln!("   - yaf only: {m}");
        }
        for m in extra.iter().take(shown) {
            eprintln!("   + ours only: {m}");
        }
        if why.is_none() {
            bad.push(stem.clone());
        }
    }
    eprintln!(
        "{} captures compared, YAF records {total_yaf}, identical in ours {total_match}",
        results.len()
    );
    eprintln!(
        "ours only, deliberate: {total_other} records in flows YAF labelled as another protocol, \
         {total_noflow} in flows YAF did not decode (tunnels)"
    );
    assert!(
        bad.is_empty(),
        "unexplained differences from YAF in: {bad:?}"
    );
}
