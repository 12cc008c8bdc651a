//! IPFIX -> rows mapping over real files, without a database: counts checked against
//! libfixbuf's ipfixDump text (independent decoder) where a dump exists, and against a plain
//! walk of ipfix-model's records otherwise; plus specific values from known captures.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::path::Path;

use mediator::ingest;
use support::{
    all_inputs, corpus, data_set, dump_counts, expected_counts as walk_counts, message, repo,
    template_set,
};

#[test]
fn ingest_counts_match_independent_decoders() {
    let inputs = all_inputs();
    assert!(
        inputs.len() >= 30,
        "expected tests/data fixtures, found {}",
        inputs.len()
    );
    let (mut checked_dump, mut total_flows, mut total_dns) = (0, 0, 0);
    for p in &inputs {
        let mut dec = ingest::open_file(p, "t").unwrap();
        let (mut flows, mut dns) = (0u64, 0u64);
        while let Some(c) = dec.next_chunk() {
            flows += c.flows.len() as u64;
            dns += c.flows.iter().map(|f| f.dns.len() as u64).sum::<u64>();
        }
        assert!(dec.error().is_none(), "{}: {:?}", p.display(), dec.error());
        assert_eq!((flows, dns), walk_counts(p), "{}", p.display());
        assert_eq!(dec.stats().flows, flows);
        assert_eq!(dec.stats().dns_rows, dns);
        let dump = p.with_extension("dump.txt");
        if dump.exists() {
            assert_eq!(
                (flows, dns),
                dump_counts(&dump),
                "{} vs ipfixDump",
                p.display()
            );
            checked_dump += 1;
        }
        total_flows += flows;
        total_dns += dns;
    }
    eprintln!(
        "{} files, {} with ipfixDump oracle, {total_flows} flows, {total_dns} DNS rows",
        inputs.len(),
        checked_dump
    );
    assert!(checked_dump >= 20);
    assert!(total_dns > 100);
}

fn load_rows(p: &Path) -> Vec<mediator::store::FlowRow> {
    let mut dec = ingest::open_file(p, "sensor-a").unwrap();
    let mut v = Vec::new();
    while let Some(c) = dec.next_chunk() {
        v.extend(c.flows);
    }
    assert!(dec.error().is_none());
    v
}

#[test]
fn ingest_yaf_nxdomain_soa_values() {
    let p = repo().join("tests/data/yaf/OISF+suricata-verify/tests/dns-eve-v2-udp-nxdomain-soa/dns-udp-nxdomain-soa.yaf");
    let rows = load_rows(&p);
    assert_eq!(rows.len(), 1);
    let f = &rows[0];
    assert_eq!(f.sensor, "sensor-a");
    assert_eq!(f.src.to_string(), "10.16.1.11");
    assert_eq!(f.protocol, 17);
    assert_eq!(f.silk_app_label, 53);
    assert!(f.start_ms > 1_000_000_000_000, "start {}", f.start_ms);
    let d: Vec<_> = f
        .dns
        .iter()
        .map(|d| {
            (
                d.qr,
                d.rrtype,
                d.rcode,
                d.section,
                d.rrname.as_str(),
                d.rrval.as_str(),
            )
        })
        .collect();
    assert_eq!(
        d,
        vec![
            (0, 1, 0, 0, "dne.oisf.net.", ""),
            (1, 1, 3, 0, "dne.oisf.net.", ""),
            (1, 6, 3, 2, "oisf.net.", "ns-110.awsdns-13.com."),
        ]
    );
}

#[test]
fn ingest_python_ipfix_flattened_dns() {
    let p = repo().join("tests/data/ipfix/python-ipfix_cert-dns-biflow.ipfix");
    let rows = load_rows(&p);
    assert_eq!(rows.len(), 3);
    let f = &rows[0];
    assert_eq!(f.src.to_string(), "172.17.0.10");
    assert_eq!(f.dst.to_string(), "8.8.8.8");
    assert_eq!((f.src_port, f.dst_port), (53199, 53));
    assert_eq!(
        (f.packets, f.octets, f.reverse_packets, f.reverse_octets),
        (1, 56, 1, 208)
    );
    // 2016-10-20 15:23:01.075 UTC
    assert_eq!(f.start_ms, 1_476_976_981_075);
    assert_eq!(f.dns.len(), 1);
    assert_eq!(f.dns[0].rrname.len(), 11);
    // The flow's own source address is not rdata.
    assert_eq!(f.dns[0].rrval, "");
}

#[test]
fn ingest_router_sysuptime_and_delta_counters() {
    // Huawei: flowStartSysUpTime + systemInitTimeMilliseconds in the record.
    let rows =
        load_rows(&repo().join("tests/data/ipfix/106-IPFIXv10-HUAWEI-vrf_name_traffic-00.ipfix"));
    assert!(!rows.is_empty());
    for f in &rows {
        // After 2000-01-01 and not before the start.
        assert!(f.start_ms > 946_684_800_000, "{f:?}");
        assert!(f.end_ms >= f.start_ms);
        assert!(f.octets > 0 && f.packets > 0);
    }
    // softflowd biflow: 4-byte delta counters both ways.
    let rows = load_rows(&repo().join("tests/data/ipfix/softflowd_ipfix_biflow_udp_absms.ipfix"));
    assert!(rows.iter().any(|f| f.reverse_packets > 0));
    assert!(rows.iter().all(|f| f.dns.is_empty()));
}

#[test]
fn ingest_seed_google_values_from_corpus() {
    let Some(c) = corpus() else {
        eprintln!("NOTE: ../shared/corpus not found: skipped");
        return;
    };
    let p = c.join("yaf/DNS-OARC+dsc/src/test/1458044657.yaf");
    let rows = load_rows(&p);
    let answers: Vec<_> = rows
        .iter()
        .flat_map(|f| &f.dns)
        .filter(|d| d.rrname == "www.google.com." && d.section == 1)
        .map(|d| (d.rrtype, d.rrval.as_str(), d.ttl))
        .collect();
    assert!(answers.contains(&(1, "216.58.209.100", 214)), "{answers:?}");
}

/// Mutated real files (bit flips, truncations, spliced lengths) never panic the decoder or the
/// mapping; every run ends with rows for a prefix of messages and at most one error.
#[test]
fn ingest_mutated_files_never_panic() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let inputs: Vec<_> = all_inputs().into_iter().take(40).collect();
    let mut runs = 0;
    for p in &inputs {
        let orig = std::fs::read(p).unwrap();
        if orig.is_empty() {
            continue;
        }
        for _ in 0..25 {
            let mut b = orig.clone();
            for _ in 0..(1 + rnd() % 8) {
                let i = (rnd() as usize) % b.len();
                b[i] ^= 1 << (rnd() % 8);
            }
            if rnd() % 4 == 0 {
                let cut = (rnd() as usize) % b.len();
                b.truncate(cut);
            }
            let mut dec = ingest::Decoder::new(&b[..], "fuzz");
            let mut last_end = 0;
            while let Some(c) = dec.next_chunk() {
                assert_eq!(c.start_offset, last_end, "chunks are contiguous");
                assert!(c.end_offset <= b.len() as u64);
                last_end = c.end_offset;
            }
            assert_eq!(dec.offset(), last_end);
            // A clean end means every byte was consumed.
            if dec.error().is_none() {
                assert_eq!(last_end, b.len() as u64);
            }
            runs += 1;
        }
    }
    assert!(runs >= 500, "{runs}");
}

/// Elements without a column are counted by name (unknown ones as `pen/id`), records without
/// an address are counted as non-flow records, and neither stops the flows around them.
#[test]
fn ingest_unmapped_elements_and_non_flow_records_are_counted_not_fatal() {
    // sourceIPv4Address, destinationIPv4Address, ipClassOfService (no column), an unassigned
    // IANA number (no column, unknown), flowStartMilliseconds.
    let flow = [(8, 4), (12, 4), (5, 1), (32001, 2), (152, 8)];
    let rec = |last: u8| -> Vec<u8> {
        let mut r = vec![192, 0, 2, last, 198, 51, 100, 1, 0x2e, 0xab, 0xcd];
        r.extend(1_700_000_000_000u64.to_be_bytes());
        r
    };
    // A record with no address: octetDeltaCount only.
    let counter = [(1u16, 8u16)];
    let mut bytes = message(
        1,
        0,
        &[template_set(256, &flow), template_set(257, &counter)],
    );
    bytes.extend(message(
        1,
        0,
        &[
            data_set(256, &[rec(1), rec(2)]),
            data_set(257, &[42u64.to_be_bytes().to_vec()]),
            data_set(256, &[rec(3)]),
        ],
    ));
    let mut dec = ingest::Decoder::new(&bytes[..], "t");
    let mut rows = Vec::new();
    while let Some(c) = dec.next_chunk() {
        rows.extend(c.flows);
    }
    assert!(dec.error().is_none(), "{:?}", dec.error());
    let srcs: Vec<String> = rows.iter().map(|f| f.src.to_string()).collect();
    assert_eq!(srcs, ["192.0.2.1", "192.0.2.2", "192.0.2.3"]);
    let st = dec.stats();
    assert_eq!((st.flows, st.non_flow_records), (3, 1));
    assert_eq!(st.unmapped_elements.get("ipClassOfService"), Some(&3));
    assert_eq!(st.unmapped_elements.get("0/32001"), Some(&3));
}
