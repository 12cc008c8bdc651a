//! Arbitrary bytes as a UDP DNS payload: must never panic, must keep
//! counters consistent with what it returns, and the text forms of every
//! record must be computable. Decoded straight into YAF's IPFIX record
//! (the export path), it must give the bytes and counters of the
//! DnsRecords encoded.
#![no_main]

use std::sync::Arc;

use flowmeter::dpi::{dns_candidate, parse_message, Decoding, DnsFlowState, DnsStats, DpiConfig};
use flowmeter::export::yaf::{encode_ended, encode_flow, DnsScratch, EncodeOptions};
use flowmeter::flow::FlowRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = DpiConfig::default();
    let _ = dns_candidate(&cfg, 17, 40000, 53, data);
    let _ = dns_candidate(&cfg, 17, 40000, 40001, data);
    let _ = dns_candidate(&cfg, 6, 40000, 53, data);

    let mut stats = DnsStats::default();
    let mut flow = DnsFlowState::default();
    flow.on_udp(&cfg, false, data, &mut stats);
    flow.on_udp(&cfg, true, data, &mut stats);
    let recs = flow.take_records(&cfg, &mut stats);
    assert_eq!(recs.len() as u64, stats.records);
    assert!(recs.len() <= cfg.max_records_per_flow);
    for r in &recs {
        let _ = r.rdata.presentation();
        let h = &r.head;
        assert!(h.section <= 3 && h.qr <= 1 && h.aa <= 1 && h.rcode <= 15);
        // YAF escaping leaves only printable ASCII.
        assert!(
            r.qname.bytes().all(|b| (32..=126).contains(&b)),
            "{:?}",
            r.qname
        );
    }

    let mut out = Vec::new();
    let _ = parse_message(data, 8, &mut out, &mut stats);
    assert!(out.len() <= 8);

    // The export path against the DnsRecord path, DNSSEC export on (every
    // RDATA template used) and a small budget (cut inside a message).
    let cfg = DpiConfig {
        max_records_per_flow: 16,
        ..DpiConfig::default()
    };
    let opts = EncodeOptions {
        dnssec: true,
        silk: false,
    };
    let pending = |decoding: &Arc<Decoding>| {
        let mut st = DnsStats::default();
        let mut f = DnsFlowState::default();
        f.on_udp(&cfg, false, data, &mut st);
        f.on_udp(&cfg, true, data, &mut st);
        f.on_udp(
            &cfg,
            false,
            data.get(data.len() / 2..).unwrap_or_default(),
            &mut st,
        );
        f.into_pending(decoding)
    };
    let rec = FlowRecord {
        start_ns: 0,
        end_ns: 0,
        src: std::net::Ipv4Addr::LOCALHOST.into(),
        dst: std::net::Ipv4Addr::LOCALHOST.into(),
        sport: 1,
        dport: 53,
        proto: 17,
        vlan: 0,
        rev_vlan: 0,
        tos: 0,
        rev_tos: 0,
        octets: 1,
        rev_octets: 1,
        packets: 1,
        rev_packets: 1,
        attributes: 0,
        rev_attributes: 0,
        end_reason: 1,
        app_label: 0,
        rev_delta_ns: 0,
        tcp: None,
        dns: Vec::new(),
    };
    let (d1, d2) = (Arc::new(Decoding::new(&cfg)), Arc::new(Decoding::new(&cfg)));
    let (dns, is_dns) = pending(&d1).into_records();
    let mut want_rec = rec.clone();
    want_rec.dns = dns;
    if is_dns {
        want_rec.app_label = 53;
    }
    let mut want = Vec::new();
    let e1 = encode_flow(&want_rec, opts, &mut want);
    let mut got = Vec::new();
    let e2 = encode_ended(
        &rec,
        pending(&d2),
        opts,
        &mut got,
        &mut DnsScratch::default(),
    );
    assert_eq!(got, want);
    assert_eq!(e1, e2);
    assert_eq!(d1.stats(), d2.stats());
});
