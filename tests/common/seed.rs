//! The seed's two queries (yaf_silk_mysql_mediator's users') and what they must return,
//! computed from YAF's export of the same captures (ipfixDump text), never from our output.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use mysql_async::prelude::Queryable;
use mysql_async::Value;

use super::{block_on, yaf_dump, IpfixCounts, YafFlow, YafRr};

/// The seed's queries, verbatim.
pub const SEED_GOOGLE: &str = r#"SELECT rrname,rrval,srcip4,dstip4,flowStartMilliseconds FROM dns d, flows f WHERE f.id = d.id AND rrname LIKE "www.google.com." GROUP by rrval ORDER BY f.id DESC LIMIT 50;"#;
pub const SEED_YOUTUBE: &str = r#"SELECT qr,type,auth,nx,ttl,rrname,rrval from dns WHERE rrname LIKE "%.youtube.com." GROUP BY rrval LIMIT 50;"#;

/// rrname, rrval, srcip4, dstip4, flowStartMilliseconds
type Row1 = (String, Option<String>, Option<u32>, Option<u32>, Value);
/// qr, type, auth, nx, ttl, rrname, rrval
type Row2 = (u8, u16, u8, u8, u32, String, Option<String>);

/// Two queries of the seed's shape and the YAF dumps of the captures they run on.
pub struct Case<'a> {
    pub pcaps: Vec<PathBuf>,
    pub dumps: Vec<PathBuf>,
    /// Exact name of query 1 (with trailing dot) and the query text.
    pub name: &'a str,
    pub q1: String,
    /// Suffix of query 2 (".youtube.com.") and the query text.
    pub suffix: &'a str,
    pub q2: String,
}

/// The seed's queries verbatim, on the corpus captures that answer them (www.google.com over
/// TCP from suricata-verify, www.youtube.com from an nDPI capture).
pub fn corpus_case(corpus: &std::path::Path) -> Case<'static> {
    let google = "OISF+suricata-verify/tests/dns/dns-tcp-www-google-com/dns";
    let youtube = "ntop+nDPI/tests/cfgs/default/pcap/tls_heur__trojan-tcp-tls";
    Case {
        pcaps: vec![
            corpus.join(format!("pcap/{google}.pcap")),
            corpus.join(format!("pcap/{youtube}.pcapng")),
        ],
        dumps: vec![
            corpus.join(format!("yaf/{google}.dump.txt")),
            corpus.join(format!("yaf/{youtube}.dump.txt")),
        ],
        name: "www.google.com.",
        q1: SEED_GOOGLE.into(),
        suffix: ".youtube.com.",
        q2: SEED_YOUTUBE.into(),
    }
}

/// The same two query shapes about wikimedia.org names in a BSD-licensed Zeek fixture.
pub fn fixture_case() -> Case<'static> {
    let rel = "zeek+zeek/testing/btest/Traces/wikipedia.pcap";
    Case {
        pcaps: vec![super::fixture_pcap(rel)],
        dumps: vec![super::fixture_dump(rel)],
        name: "upload.wikimedia.org.",
        q1: SEED_GOOGLE.replace("www.google.com.", "upload.wikimedia.org."),
        suffix: ".wikimedia.org.",
        q2: SEED_YOUTUBE.replace("%.youtube.com.", "%.wikimedia.org."),
    }
}

fn datetime_text(v: &Value) -> String {
    match v {
        Value::Date(y, mo, d, h, mi, s, us) => {
            format!(
                "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{:03}",
                us / 1000
            )
        }
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("flowStartMilliseconds is {other:?}"),
    }
}

impl Case<'_> {
    /// YAF's flow records for the captures.
    pub fn yaf(&self) -> Vec<YafFlow> {
        self.dumps.iter().flat_map(|d| yaf_dump(d)).collect()
    }

    /// Checks row counts against `exported` and both queries against YAF's export, on the
    /// MariaDB database at `url` (password from MYSQL_PWD).
    pub fn check_mysql(&self, url: &str, exported: IpfixCounts) {
        let case = self;
        let yaf = self.yaf();
        let rr_flows = |pred: &dyn Fn(&YafRr) -> bool| -> Vec<(YafRr, YafFlow)> {
            yaf.iter()
                .flat_map(|f| {
                    f.rrs
                        .iter()
                        .filter(|r| pred(r))
                        .map(move |r| (r.clone(), f.clone()))
                })
                .collect()
        };
        let want1 = rr_flows(&|r| r.rrname.eq_ignore_ascii_case(case.name));
        let want2 = rr_flows(&|r| {
            r.rrname.len() > case.suffix.len()
                && r.rrname.to_ascii_lowercase().ends_with(case.suffix)
        });
        let vals = |w: &[(YafRr, YafFlow)]| -> BTreeSet<String> {
            w.iter()
                .map(|(r, _)| r.rrval.to_ascii_lowercase())
                .collect()
        };
        assert!(
            vals(&want1).len() >= 2 && vals(&want2).len() >= 2,
            "the captures should answer both queries: {want1:?} {want2:?}"
        );
        block_on(async {
            let mut opts =
                mysql_async::OptsBuilder::from_opts(mysql_async::Opts::from_url(url).unwrap());
            if let Ok(p) = std::env::var("MYSQL_PWD") {
                opts = opts.pass(Some(p));
            }
            let pool = mysql_async::Pool::new(opts);
            let mut conn = pool.get_conn().await.unwrap();

            let flows: u64 = conn
                .query_first("SELECT COUNT(*) FROM flows")
                .await
                .unwrap()
                .unwrap();
            let dns: u64 = conn
                .query_first("SELECT COUNT(*) FROM dns")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(flows, exported.flows, "flows rows vs flows exported");
            assert_eq!(dns, exported.dns, "dns rows vs DNS records exported");

            let q1: Vec<Row1> = conn.query(&case.q1).await.unwrap();
            let got: BTreeSet<String> = q1
                .iter()
                .map(|r| r.1.clone().unwrap_or_default().to_ascii_lowercase())
                .collect();
            assert_eq!(got, vals(&want1), "query 1 rrval groups:\n{}", case.q1);
            assert_eq!(q1.len(), got.len(), "GROUP BY rrval: one row per value");
            for (rrname, rrval, src, dst, start) in &q1 {
                assert!(rrname.eq_ignore_ascii_case(case.name), "{rrname}");
                let rrval = rrval.clone().unwrap_or_default().to_ascii_lowercase();
                let src = Ipv4Addr::from(src.expect("srcip4")).to_string();
                let dst = Ipv4Addr::from(dst.expect("dstip4")).to_string();
                let start = datetime_text(start);
                // GROUP BY picks any row of the group: it must be one YAF exported.
                assert!(
                    want1
                        .iter()
                        .any(|(r, f)| r.rrval.eq_ignore_ascii_case(&rrval)
                            && f.src == src
                            && f.dst == dst
                            && f.start == start),
                    "query 1 row ({rrval}, {src}, {dst}, {start}) is not in YAF's export"
                );
            }
            // ORDER BY f.id DESC over flows numbered in arrival order.
            let ids: Vec<u64> = conn
                .query(case.q1.replace(
                    "SELECT rrname,rrval,srcip4,dstip4,flowStartMilliseconds",
                    "SELECT f.id",
                ))
                .await
                .unwrap();
            assert!(ids.windows(2).all(|w| w[0] >= w[1]), "{ids:?}");

            let q2: Vec<Row2> = conn.query(&case.q2).await.unwrap();
            let got: BTreeSet<String> = q2
                .iter()
                .map(|r| r.6.clone().unwrap_or_default().to_ascii_lowercase())
                .collect();
            assert_eq!(got, vals(&want2), "query 2 rrval groups:\n{}", case.q2);
            assert_eq!(q2.len(), got.len());
            for (qr, rtype, auth, nx, ttl, rrname, rrval) in &q2 {
                let rrval = rrval.clone().unwrap_or_default();
                assert!(
                    want2.iter().any(|(r, _)| r.qr == *qr
                        && r.rtype == *rtype
                        && r.auth == *auth
                        && r.nx == *nx
                        && r.ttl == *ttl
                        && r.rrname.eq_ignore_ascii_case(rrname)
                        && r.rrval.eq_ignore_ascii_case(&rrval)),
                    "query 2 row {:?} is not in YAF's export",
                    (qr, rtype, auth, nx, ttl, rrname, rrval)
                );
            }
            drop(conn);
            pool.disconnect().await.unwrap();
        });
    }
}
