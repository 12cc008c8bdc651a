//! Arbitrary bytes as a UDP DNS payload: must never panic, must keep
//! counters consistent with what it returns, and the text forms of every
//! record must be computable.
#![no_main]

use flowmeter::dpi::{dns_candidate, parse_message, DnsFlowState, DnsStats, DpiConfig};
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
        assert!(r.section <= 3 && r.qr <= 1 && r.aa <= 1 && r.rcode <= 15);
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
});
