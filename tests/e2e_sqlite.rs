//! The zero-setup pipeline: flowmeter -> IPFIX over TCP -> `mediator run --sqlite` -> the
//! analysts' `mediator query` subcommands. Expected answers come from YAF 2.16.4's export of
//! the same fixture captures (ipfixDump text) and tshark's decode of the captures, never from
//! our own output; row counts from the flowmeter's file export decoded by ipfix-model.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const WIKIPEDIA: &str = "zeek+zeek/testing/btest/Traces/wikipedia.pcap";
const TUNNEL: &str = "OISF+suricata-verify/tests/dns/bug-1158/input.pcap";

struct Loaded {
    _dir: tempfile::TempDir,
    db: PathBuf,
    yaf: Vec<YafFlow>,
}

/// Both captures through the TCP pipeline into one SQLite file, shared by the tests here.
fn loaded() -> &'static Loaded {
    static L: OnceLock<Loaded> = OnceLock::new();
    L.get_or_init(|| {
        let dir = tempdir("e2e-sqlite.");
        let db = dir.path().join("pdns.sqlite3");
        let spool = dir.path().join("spool");
        let pcaps = [fixture_pcap(WIKIPEDIA), fixture_pcap(TUNNEL)];
        let mut input = vec!["--in".to_string()];
        input.extend(pcaps.iter().map(s));

        let file = dir.path().join("parallel.yaf");
        let summary = flowmeter(&[input.clone(), vec!["--out".into(), s(&file)]].concat());
        let exported = ipfix_counts(std::slice::from_ref(&file));
        assert_eq!(
            (exported.flows, exported.dns),
            (summary.flows, summary.dns_records)
        );

        let daemon = mediator_daemon(
            &[
                "--sqlite".into(),
                s(&db),
                "--spool-dir".into(),
                s(&spool),
                "--rotate-seconds".into(),
                "1".into(),
                "--poll-interval".into(),
                "0.2".into(),
                "--metrics-addr".into(),
                "127.0.0.1:0".into(),
            ],
            &dir.path().join("mediator.log"),
        );
        let tcp = flowmeter(
            &[
                input,
                vec![
                    "--ipfix".into(),
                    "tcp".into(),
                    "--out".into(),
                    "127.0.0.1".into(),
                    "--ipfix-port".into(),
                    daemon.port.to_string(),
                ],
            ]
            .concat(),
        );
        assert_eq!(tcp, summary);
        // Wait until everything is loaded (the metrics say so), then stop it cleanly.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = scrape(daemon.metrics.unwrap());
            let get = |k: &str| m.get(k).copied().unwrap_or(-1.0);
            if get("mediator_flows_loaded_total") >= exported.flows as f64
                && get("mediator_dns_rows_loaded_total") >= exported.dns as f64
            {
                break;
            }
            assert!(Instant::now() < deadline, "not loaded within 30 s: {m:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let st = daemon.terminate();
        assert!(st.success(), "mediator after SIGTERM: {st}");

        let conn = rusqlite::Connection::open(&db).unwrap();
        let count = |t: &str| -> u64 {
            let n: i64 = conn
                .query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
                .unwrap();
            n as u64
        };
        assert_eq!(
            count("flows"),
            exported.flows,
            "flows rows vs flows exported"
        );
        assert_eq!(
            count("dns"),
            exported.dns,
            "dns rows vs DNS records exported"
        );

        let yaf = [WIKIPEDIA, TUNNEL]
            .iter()
            .flat_map(|p| yaf_dump(&fixture_dump(p)))
            .collect();
        Loaded { _dir: dir, db, yaf }
    })
}

/// `mediator query --json --limit 10000 ARGS` on the loaded store.
fn query(db: &Path, args: &[&str]) -> Vec<BTreeMap<String, String>> {
    let mut a = vec![
        "query".to_string(),
        "--sqlite".into(),
        s(db),
        "--json".into(),
        "--limit".into(),
        "10000".into(),
    ];
    a.extend(args.iter().map(|x| x.to_string()));
    let out = mediator(&a);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            o.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(x) => x.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .collect()
}

fn col(rows: &[BTreeMap<String, String>], k: &str) -> BTreeSet<String> {
    rows.iter().map(|r| r[k].clone()).collect()
}

/// tshark's decode of a fixture: one line per packet with the given fields.
fn tshark(rel: &str, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut c = Command::new("tshark");
    c.arg("-r")
        .arg(fixture_pcap(rel))
        .args(["-Y", filter, "-T", "fields"]);
    for f in fields {
        c.args(["-e", f]);
    }
    let out = c.output().expect("tshark is needed for these expectations");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(String::from).collect())
        .collect()
}

#[test]
fn who_resolved_and_first_seen_match_yaf_and_tshark() {
    let l = loaded();
    let name = "upload.wikimedia.org.";
    // tshark: the clients that asked, and how often.
    let asked = tshark(
        WIKIPEDIA,
        r#"dns.flags.response == 0 && dns.qry.name == "upload.wikimedia.org""#,
        &["ip.src"],
    );
    assert_eq!(asked.len(), 8);
    let rows = query(&l.db, &["who-resolved", "upload.wikimedia.org"]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["client"], asked[0][0]);
    assert_eq!(rows[0]["client"], "141.142.220.118");
    assert_eq!(rows[0]["rrname"], name);
    assert_eq!(rows[0]["count"], asked.len().to_string());

    // YAF: the flows that carry the name; IPFIX has flow times, not packet times.
    let with_name: Vec<&YafFlow> = l
        .yaf
        .iter()
        .filter(|f| f.rrs.iter().any(|r| r.rrname == name))
        .collect();
    let first_flow = with_name.iter().map(|f| f.start.clone()).min().unwrap();
    assert_eq!(rows[0]["first_seen"], first_flow);

    let rrs: Vec<&YafRr> = with_name
        .iter()
        .flat_map(|f| f.rrs.iter().filter(|r| r.rrname == name))
        .collect();
    let lookups = rrs.iter().filter(|r| r.section == 0).count();
    let answers: Vec<&&YafRr> = rrs.iter().filter(|r| r.section == 1).collect();
    let fs = query(&l.db, &["first-seen", "upload.wikimedia.org"]);
    assert_eq!(fs.len(), 1, "{fs:?}");
    assert_eq!(fs[0]["rrname"], name);
    assert_eq!(fs[0]["lookups"], lookups.to_string());
    assert_eq!(fs[0]["answers"], answers.len().to_string());
    assert_eq!(fs[0]["clients"], "1");
    let values: BTreeSet<&String> = answers.iter().map(|r| &r.rrval).collect();
    assert_eq!(fs[0]["distinct_values"], values.len().to_string());
    let answered_first = with_name
        .iter()
        .filter(|f| f.rrs.iter().any(|r| r.rrname == name && r.section == 1))
        .map(|f| f.start.clone())
        .min()
        .unwrap();
    assert_eq!(fs[0]["first_seen"], answered_first);
}

#[test]
fn ips_of_matches_yaf_for_every_name_with_addresses() {
    let l = loaded();
    let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &l.yaf {
        for r in &f.rrs {
            if (r.rtype == 1 || r.rtype == 28) && r.section > 0 && !r.rrval.is_empty() {
                want.entry(r.rrname.clone())
                    .or_default()
                    .insert(r.rrval.clone());
            }
        }
    }
    assert!(want.len() >= 4, "{want:?}");
    for (name, ips) in &want {
        let rows = query(&l.db, &["ips-of", name.trim_end_matches('.')]);
        let got = col(&rows, "rrval");
        // ipfixDump prints IPv6 with zero-padded groups; compare as addresses.
        let norm = |s: &BTreeSet<String>| -> BTreeSet<std::net::IpAddr> {
            s.iter().map(|x| x.parse().unwrap()).collect()
        };
        assert_eq!(norm(&got), norm(ips), "ips-of {name}");
        assert!(rows.iter().all(|r| &r["rrname"] == name));
    }
    // A name that only has a CNAME maps to its target's addresses (YAF's export:
    // upload.wikimedia.org. CNAME upload.pmtpa.wikimedia.org., A 208.80.152.3); the CNAME link
    // is listed first so the chain is visible.
    let rows = query(&l.db, &["ips-of", "upload.wikimedia.org"]);
    assert_eq!(rows[0]["rrname"], "upload.wikimedia.org.", "{rows:?}");
    assert_eq!(rows[0]["type"], "5", "{rows:?}");
    assert_eq!(rows[0]["rrval"], "upload.pmtpa.wikimedia.org.", "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r["rrname"] == "upload.pmtpa.wikimedia.org." && r["rrval"] == "208.80.152.3"),
        "{rows:?}"
    );
}

#[test]
fn subdomains_lists_the_tunnel_names() {
    let l = loaded();
    let rows = query(&l.db, &["subdomains", "tunnel.com"]);
    let got = col(&rows, "rrname");
    // tshark: every name under tunnel.com in the capture (questions and answers).
    let mut seen = BTreeSet::new();
    for line in tshark(TUNNEL, "dns", &["dns.qry.name", "dns.resp.name"]) {
        for n in line.iter().flat_map(|f| f.split(',')) {
            if n.to_ascii_lowercase().ends_with(".tunnel.com") {
                seen.insert(format!("{}.", n.to_ascii_lowercase()));
            }
        }
    }
    // YAF inspects only the first message per direction: a subset of what we inspect.
    let yaf: BTreeSet<String> = l
        .yaf
        .iter()
        .flat_map(|f| &f.rrs)
        .filter(|r| r.rrname.ends_with(".tunnel.com.") && r.section > 0)
        .map(|r| r.rrname.to_ascii_lowercase())
        .collect();
    assert!(!yaf.is_empty());
    assert!(got.len() >= 20, "{got:?}");
    assert!(
        got.iter()
            .filter(|n| n.ends_with(".srv.tunnel.com."))
            .count()
            >= 20
    );
    assert!(
        yaf.is_subset(&got),
        "YAF's answered names {yaf:?} missing from {got:?}"
    );
    for n in &got {
        assert!(n.ends_with(".tunnel.com."), "{n}");
        assert!(
            seen.contains(&n.to_ascii_lowercase()),
            "{n} is not in the capture"
        );
    }
    assert!(query(&l.db, &["subdomains", "wikimedia.org"])
        .iter()
        .all(|r| r["rrname"].ends_with(".wikimedia.org.")));
}

#[test]
fn rare_tlds_are_the_captures_tlds_rarest_first() {
    let l = loaded();
    let rows = query(&l.db, &["rare-tlds"]);
    // Rarest = fewest distinct names.
    let names: Vec<u64> = rows.iter().map(|r| r["names"].parse().unwrap()).collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{rows:?}");
    // tshark: the TLDs of every name in both captures (single-label names, such as the
    // LLMNR lookup of a printer's host name, have no TLD).
    let mut want = BTreeSet::new();
    for p in [WIKIPEDIA, TUNNEL] {
        for line in tshark(
            p,
            "dns || mdns || llmnr",
            &["dns.qry.name", "dns.resp.name"],
        ) {
            for n in line.iter().flat_map(|f| f.split(',')) {
                if let Some((_, t)) = n.rsplit_once('.').filter(|(_, t)| !t.is_empty()) {
                    want.insert(t.to_ascii_lowercase());
                }
            }
        }
    }
    assert_eq!(col(&rows, "tld"), want);
    // The only .edu name is the search-suffixed upload.wikimedia.org.ncsa.uiuc.edu.
    let edu = rows.iter().find(|r| r["tld"] == "edu").unwrap();
    assert_eq!(edu["names"], "1");
}

#[test]
fn resolvers_lists_clients_of_non_approved_resolvers() {
    let l = loaded();
    let rows = query(&l.db, &["resolvers", "--allow", "141.142.2.2"]);
    let got: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r["client"].clone(), r["resolver"].clone()))
        .collect();
    // tshark: the (client, server) pairs of DNS queries not sent to the allowed resolver.
    let mut want = BTreeSet::new();
    for p in [WIKIPEDIA, TUNNEL] {
        let q = tshark(
            p,
            "(dns || mdns || llmnr) && dns.flags.response == 0",
            &["ip.src", "ipv6.src", "ip.dst", "ipv6.dst"],
        );
        for f in q {
            let src = if f[0].is_empty() { &f[1] } else { &f[0] };
            let dst = if f[2].is_empty() { &f[3] } else { &f[2] };
            // Multicast queries (mDNS, LLMNR) ask the link, not a resolver: not listed.
            let group = dst
                .parse::<std::net::IpAddr>()
                .map(|a| a.is_multicast())
                .unwrap_or(false);
            if dst != "141.142.2.2" && !group {
                want.insert((src.clone(), dst.clone()));
            }
        }
    }
    assert!(want.contains(&("10.30.28.90".into(), "10.30.28.94".into())));
    assert!(
        want.is_subset(&got),
        "query senders missing: {:?}",
        want.difference(&got).collect::<Vec<_>>()
    );
    assert!(!got.iter().any(|(_, r)| r == "141.142.2.2"));
    assert!(
        !got.iter().any(|(_, r)| r
            .parse::<std::net::IpAddr>()
            .map(|a| a.is_multicast())
            .unwrap_or(false)),
        "multicast groups are not resolvers: {got:?}"
    );
}

#[test]
fn resolvers_does_not_list_mdns_responders_as_clients() {
    let l = loaded();
    let rows = query(&l.db, &["resolvers", "--allow", "141.142.2.2"]);
    let got: BTreeSet<String> = col(&rows, "client");
    // 141.142.220.50 and fe80::217:f2ff:fed7:cf65 only sent mDNS responses (QR=1, frames 2
    // and 3 of wikipedia.pcap): they answered, they did not resolve anything.
    let responders = tshark(
        WIKIPEDIA,
        "mdns && dns.flags.response == 1",
        &["ip.src", "ipv6.src"],
    );
    let queriers = tshark(
        WIKIPEDIA,
        "dns.flags.response == 0",
        &["ip.src", "ipv6.src"],
    );
    for r in responders {
        let host = if r[0].is_empty() { &r[1] } else { &r[0] };
        if queriers.iter().any(|q| q.contains(host)) {
            continue;
        }
        assert!(
            !got.contains(host),
            "{host} sent no query but is listed: {rows:?}"
        );
    }
}
