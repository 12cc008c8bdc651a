//! The README's first command, `scripts/demo.sh`, run as a new user would: it must exit 0 and
//! print every analyst question's section with rows, and the cells must be what the captures
//! hold (from YAF's exports of the same captures and tshark's decode, not from our output).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::OnceLock;

use common::*;

/// A section's table: header cells -> values, one map per row.
type Table = Vec<BTreeMap<String, String>>;

/// Runs the demo once per test process; (exit success, sections by question, full output).
fn demo() -> &'static (bool, BTreeMap<String, Table>, String) {
    static D: OnceLock<(bool, BTreeMap<String, Table>, String)> = OnceLock::new();
    D.get_or_init(|| {
        // The demo builds the binaries itself (cargo build --locked); make sure they exist so
        // a build failure shows up here with cargo's message rather than inside the script.
        let _ = flowmeter_bin();
        let out = Command::new("bash")
            .arg(repo().join("scripts/demo.sh"))
            .current_dir(repo())
            .output()
            .expect("run scripts/demo.sh");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let all = format!(
            "{stdout}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), parse_sections(&stdout), all)
    })
}

/// Splits the demo's stdout into "## question" sections and parses each fixed-width table
/// (column spans taken from the dashes line under the header).
fn parse_sections(text: &str) -> BTreeMap<String, Table> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(q) = line.strip_prefix("## ") else {
            continue;
        };
        let mut body = Vec::new();
        while let Some(l) = lines.peek() {
            if l.starts_with("## ") {
                break;
            }
            body.push(lines.next().unwrap());
        }
        let Some(dash_at) = body.iter().position(|l| l.starts_with("---")) else {
            out.insert(q.to_string(), Vec::new());
            continue;
        };
        let header = body[dash_at - 1];
        let dashes = body[dash_at];
        let mut spans = Vec::new();
        let mut start = None;
        for (i, ch) in dashes.char_indices().chain([(dashes.len(), ' ')]) {
            match (ch, start) {
                ('-', None) => start = Some(i),
                (' ', Some(st)) => {
                    spans.push((st, i));
                    start = None;
                }
                _ => {}
            }
        }
        let cell = |l: &str, (a, b): (usize, usize), last: bool| -> String {
            let end = if last { l.len() } else { b.min(l.len()) };
            l.get(a.min(l.len())..end).unwrap_or("").trim().to_string()
        };
        let names: Vec<String> = spans
            .iter()
            .enumerate()
            .map(|(i, &sp)| cell(header, sp, i + 1 == spans.len()))
            .collect();
        let mut rows = Vec::new();
        for l in &body[dash_at + 1..] {
            if l.starts_with('(') && l.ends_with("rows)") || l.trim().is_empty() {
                continue;
            }
            rows.push(
                spans
                    .iter()
                    .enumerate()
                    .map(|(i, &sp)| (names[i].clone(), cell(l, sp, i + 1 == spans.len())))
                    .collect(),
            );
        }
        out.insert(q.to_string(), rows);
    }
    out
}

fn section<'a>(prefix: &str) -> &'a Table {
    let (_, sections, all) = demo();
    let (_, t) = sections
        .iter()
        .find(|(q, _)| q.starts_with(prefix))
        .unwrap_or_else(|| panic!("no section {prefix:?} in the demo's output:\n{all}"));
    t
}

#[test]
fn demo_exits_zero_and_prints_every_section() {
    let (ok, sections, all) = demo();
    assert!(*ok, "scripts/demo.sh failed:\n{all}");
    for q in [
        "Who resolved upload.wikimedia.org",
        "Which addresses did upload.wikimedia.org map to",
        "Subdomains of tunnel.com",
        "When was weberdns.de first seen",
        "Rarest top-level domains",
        "Clients using a resolver other than 141.142.2.2",
    ] {
        assert!(
            sections.keys().any(|k| k.starts_with(q)),
            "section {q:?} missing:\n{all}"
        );
    }
}

#[test]
fn demo_who_resolved() {
    let t = section("Who resolved upload.wikimedia.org");
    assert_eq!(t.len(), 1, "{t:?}");
    // tshark: all 8 queries for the name come from 141.142.220.118.
    assert_eq!(t[0]["client"], "141.142.220.118");
    assert_eq!(t[0]["rrname"], "upload.wikimedia.org.");
    assert_eq!(t[0]["count"], "8");
}

#[test]
fn demo_addresses_of_upload_wikimedia() {
    // YAF's export of wikipedia.pcap: upload.wikimedia.org. CNAME upload.pmtpa.wikimedia.org.,
    // which has A 208.80.152.3. The question "which addresses did it map to" has that answer.
    let t = section("Which addresses did upload.wikimedia.org map to");
    assert!(
        t.iter().any(|r| r.values().any(|v| v == "208.80.152.3")),
        "{t:?}"
    );
}

#[test]
fn demo_subdomains_of_tunnel_com() {
    let t = section("Subdomains of tunnel.com");
    assert!(t.len() >= 5, "{t:?}");
    for r in t {
        assert!(r["rrname"].ends_with(".tunnel.com."), "{r:?}");
    }
    assert!(t.iter().any(|r| r["rrname"].ends_with(".srv.tunnel.com.")));
}

#[test]
fn demo_first_seen_weberdns() {
    let t = section("When was weberdns.de first seen");
    assert_eq!(t.len(), 1, "{t:?}");
    let r = &t[0];
    assert_eq!(r["rrname"], "weberdns.de.");
    // YAF's export of dns-edns-ecs.pcap: the flows carrying answers for weberdns.de.
    let rel = "zeek+zeek/testing/btest/Traces/dns-edns-ecs.pcap";
    let yaf = yaf_dump(&fixture_dump(rel));
    let answered: Vec<&YafFlow> = yaf
        .iter()
        .filter(|f| {
            f.rrs
                .iter()
                .any(|x| x.rrname == "weberdns.de." && x.section > 0)
        })
        .collect();
    assert!(!answered.is_empty());
    let first = answered.iter().map(|f| f.start.clone()).min().unwrap();
    assert_eq!(r["first_seen"], first);
    let values: BTreeSet<&String> = answered
        .iter()
        .flat_map(|f| &f.rrs)
        .filter(|x| x.rrname == "weberdns.de." && x.section > 0)
        .map(|x| &x.rrval)
        .collect();
    assert!(
        r["distinct_values"].parse::<usize>().unwrap() >= values.len(),
        "{r:?} vs YAF's {values:?}"
    );
}

#[test]
fn demo_rare_tlds() {
    let t = section("Rarest top-level domains");
    assert!(!t.is_empty());
    let names: Vec<u64> = t.iter().map(|r| r["names"].parse().unwrap()).collect();
    assert!(
        names.windows(2).all(|w| w[0] <= w[1]),
        "rarest first: {t:?}"
    );
    // wikipedia.pcap's only .edu name is upload.wikimedia.org.ncsa.uiuc.edu (a search suffix).
    let edu = t.iter().find(|r| r["tld"] == "edu").expect("edu row");
    assert_eq!(edu["names"], "1");
}

#[test]
fn demo_resolvers() {
    let t = section("Clients using a resolver other than 141.142.2.2");
    assert!(!t.is_empty());
    // tshark: (client, server) of every DNS query in the demo's four captures, and of every
    // unicast response (a sensor may see only the answers: gold.pcap has 8 responses from
    // 37.209.192.2 to 192.168.120.22 and no query).
    let mut pairs = BTreeSet::new();
    for rel in [
        "zeek+zeek/testing/btest/Traces/wikipedia.pcap",
        "zeek+zeek/testing/btest/Traces/dns-edns-ecs.pcap",
        "OISF+suricata-verify/tests/dns/bug-1158/input.pcap",
        "dns-stats+compactor/test-scripts/gold.pcap",
    ] {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(fixture_pcap(rel))
            .args(["-Y", "dns || mdns || llmnr", "-T", "fields"])
            .args([
                "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
            ])
            .args(["-e", "dns.flags.response"])
            .output()
            .expect("tshark");
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = l.split('\t').collect();
            let norm = |x: &str| x.parse::<std::net::IpAddr>().unwrap().to_string();
            let src = if f[0].is_empty() { f[1] } else { f[0] };
            let dst = if f[2].is_empty() { f[3] } else { f[2] };
            if f[4] == "0" {
                pairs.insert((norm(src), norm(dst)));
            } else if !dst.parse::<std::net::IpAddr>().unwrap().is_multicast() {
                pairs.insert((norm(dst), norm(src)));
            }
        }
    }
    for r in t {
        assert_ne!(r["resolver"], "141.142.2.2", "{r:?}");
        let norm = |x: &str| x.parse::<std::net::IpAddr>().unwrap().to_string();
        let pair = (norm(&r["client"]), norm(&r["resolver"]));
        assert!(
            pairs.contains(&pair),
            "{pair:?} sent no DNS query in the captures"
        );
    }
}
