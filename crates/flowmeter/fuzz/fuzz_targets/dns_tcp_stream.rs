//! Arbitrary TCP segment sequences for both directions of a DNS flow.
//! Input: repeated [flags u8][seq offset u16][len u8][len bytes]; flags bit0
//! = reverse, bit1 = SYN, bit2 = FIN/RST, bits 3..7 scale the offset so
//! segments land before, on and after the expected sequence number.
#![no_main]

use flowmeter::dpi::tcp::TcpDirection;
use flowmeter::dpi::{DnsFlowState, DnsStats, DpiConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cap_sel, mut rest)) = data.split_first() else {
        return;
    };
    // Small caps reach the "message longer than max_payload" paths.
    let cap = [12usize, 40, 512, 4096][usize::from(cap_sel & 3)];
    let cfg = DpiConfig {
        max_payload: cap,
        yaf_compat: cap_sel & 4 != 0,
        ..DpiConfig::default()
    };
    let mut flow = DnsFlowState::default();
    let mut dirs = [TcpDirection::default(), TcpDirection::default()];
    let mut stats = DnsStats::default();
    let base = [0xFFFF_FF00u32, 1000];
    while rest.len() >= 4 {
        let flags = rest[0];
        let off = u32::from(u16::from_be_bytes([rest[1], rest[2]])) << (flags >> 3 & 7);
        let len = usize::from(rest[3]);
        let payload = &rest[4..(4 + len).min(rest.len())];
        rest = &rest[(4 + len).min(rest.len())..];
        let rev = flags & 1 != 0;
        let seq = base[usize::from(rev)].wrapping_add(off);
        let (syn, fin) = (flags & 2 != 0, flags & 4 != 0);
        flow.on_tcp(&cfg, rev, seq, syn, fin, payload, &mut stats);
        let d = &mut dirs[usize::from(rev)];
        d.on_segment(cap, seq, syn, fin, payload, &mut stats, &mut |m, capped| {
            assert!(m.len() <= cap);
            assert!(capped || m.len() >= 12);
        });
        // The bound the module documents.
        assert!(
            d.buffered() <= 2 * (cap + 2),
            "buffered {} cap {cap}",
            d.buffered()
        );
    }
    let recs = flow.take_records(&cfg, &mut stats);
    assert_eq!(recs.len() as u64, stats.records);
});
