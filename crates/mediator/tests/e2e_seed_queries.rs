//! The seed's two SQL queries run unchanged on MariaDB after loading YAF files of captures
//! with www.google.com and youtube.com lookups, and return what ipfixDump (libfixbuf, an
//! independent decoder) shows in those files; `mediator query` answers from the aggregates.
//! Needs the shared corpus (those captures are not in tests/data): skipped with a note
//! without it.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;
mod e2e_support;

use std::collections::BTreeSet;
use std::path::Path;

use e2e_support::*;
use mysql_async::prelude::Queryable;

/// (rrname, rrval) of every DNS record (0xCF00) in an ipfixDump text; rrval as the mediator
/// stores it (address, target name, or "" for questions).
fn dump_rrs(dump: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dump).unwrap();
    let mut out = Vec::new();
    let mut cur: Option<String> = None; // rdata seen in the current 0xCF00 record
    let mut in_rr = false;
    for line in text.lines() {
        let t = line.trim_start_matches('\t');
        let depth = line.len() - t.len();
        if t.starts_with("--- data record") && depth == 0 {
            in_rr = false;
        }
        if t.starts_with("count:") && t.contains("(0xcf00)") && !t.contains("semantic") {
            in_rr = true;
            cur = None;
            continue;
        }
        if !in_rr {
            continue;
        }
        let value = |t: &str| t.split_once(" : ").map(|(_, v)| v.to_string());
        let strval = |v: String| match v.split_once(") ") {
            Some((len, s)) if len.starts_with("(len:") => s.to_string(),
            _ => v,
        };
        for key in ["sourceIPv4Address", "sourceIPv6Address"] {
            if t.contains(&format!("{key} : ")) && cur.is_none() {
                cur = value(t);
            }
        }
        for key in [
            "dnsCName",
            "dnsNSDName",
            "dnsPTRDName",
            "dnsMXExchange",
            "dnsSRVTarget",
            "dnsSOAMName",
            "dnsTXTData",
        ] {
            if t.contains(&format!("{key} : ")) && cur.is_none() {
                cur = value(t).map(strval);
            }
        }
        if t.contains("dnsQName : ") {
            let name = value(t).map(strval).unwrap_or_default();
            out.push((name, cur.take().unwrap_or_default()));
        }
    }
    out
}

/// rrname, rrval, srcip4, dstip4, flowStartMilliseconds
type SeedRow1 = (
    String,
    Option<String>,
    Option<u32>,
    Option<u32>,
    mysql_async::Value,
);
/// qr, type, auth, nx, ttl, rrname, rrval
type SeedRow2 = (u8, u16, u8, u8, u32, String, Option<String>);

#[tokio::test(flavor = "multi_thread")]
async fn e2e_seed_queries_google_and_youtube() {
    let Some(c) = corpus() else {
        eprintln!("NOTE: ../shared/corpus not found: seed query test skipped");
        return;
    };
    let google = c.join("yaf/OISF+suricata-verify/tests/dns/dns-tcp-www-google-com/dns.yaf");
    let youtube = c.join("yaf/ntop+nDPI/tests/cfgs/default/pcap/tls_heur__trojan-tcp-tls.yaf");
    let mcfg = common::mariadb::fresh_config("seed");
    let cfg = mysql(mcfg.clone());
    let mut args = vec!["run".to_string()];
    args.extend(db_args(&cfg));
    args.extend([
        "--in-file".into(),
        google.display().to_string(),
        youtube.display().to_string(),
    ]);
    assert!(run_mediator(&args).status.success());

    let mut rrs = dump_rrs(&google.with_extension("dump.txt"));
    rrs.extend(dump_rrs(&youtube.with_extension("dump.txt")));
    let want_google: BTreeSet<String> = rrs
        .iter()
        .filter(|(n, _)| n == "www.google.com.")
        .map(|(_, v)| v.clone())
        .collect();
    let want_youtube: BTreeSet<String> = rrs
        .iter()
        .filter(|(n, _)| n.ends_with(".youtube.com."))
        .map(|(_, v)| v.clone())
        .collect();
    assert!(
        want_google.len() >= 3 && want_youtube.len() >= 2,
        "{want_google:?} {want_youtube:?}"
    );

    let url = format!(
        "mysql://{}@{}:{}/{}",
        mcfg.user, mcfg.host, mcfg.port, mcfg.database
    );
    let mut opts = mysql_async::OptsBuilder::from_opts(mysql_async::Opts::from_url(&url).unwrap());
    if let Ok(p) = std::env::var("MYSQL_PWD") {
        opts = opts.pass(Some(p));
    }
    let pool = mysql_async::Pool::new(opts);
    let mut conn = pool.get_conn().await.unwrap();
    // The seed's queries, verbatim.
    let q1: Vec<SeedRow1> = conn
        .query(r#"SELECT rrname,rrval,srcip4,dstip4,flowStartMilliseconds FROM dns d, flows f WHERE f.id = d.id AND rrname LIKE "www.google.com." GROUP by rrval ORDER BY f.id DESC LIMIT 50;"#)
        .await
        .unwrap();
    let got: BTreeSet<String> = q1.iter().map(|r| r.1.clone().unwrap_or_default()).collect();
    assert_eq!(got, want_google);
    assert!(q1
        .iter()
        .all(|r| r.0 == "www.google.com." && r.2.is_some() && r.3.is_some()));
    assert!(q1.iter().all(|r| r.4 != mysql_async::Value::NULL));
    let q2: Vec<SeedRow2> = conn
        .query(r#"SELECT qr,type,auth,nx,ttl,rrname,rrval from dns WHERE rrname LIKE "%.youtube.com." GROUP BY rrval LIMIT 50;"#)
        .await
        .unwrap();
    let got: BTreeSet<String> = q2.iter().map(|r| r.6.clone().unwrap_or_default()).collect();
    assert_eq!(got, want_youtube);
    drop(conn);
    pool.disconnect().await.unwrap();

    // The analyst CLI over the same database.
    let mut qargs = vec![
        "query".to_string(),
        "ips-of".into(),
        "www.google.com".into(),
    ];
    qargs.extend(db_args(&cfg));
    let out = run_mediator(&qargs);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    for ip in want_google
        .iter()
        .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
    {
        assert!(table.contains(ip.as_str()), "{ip} missing from:\n{table}");
    }
    let mut qargs = vec![
        "query".to_string(),
        "--json".into(),
        "subdomains".into(),
        "youtube.com".into(),
    ];
    qargs.extend(db_args(&cfg));
    let out = run_mediator(&qargs);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: BTreeSet<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["rrname"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains("www.youtube.com."), "{names:?}");
}
