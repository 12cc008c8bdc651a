//! The body of the `packet` fuzz target, shared with the crate's proptest
//! (`tests/fuzz_packet.rs` includes this file), so the fuzzer and the test run the same checks.
//!
//! Input: byte 0 picks the link type (low 4 bits index [`LINK_TYPES`]) and the configuration
//! (bit 4: reassembly off, bit 5: YAF-compatible DNS inspection, bit 6: a tiny flow table);
//! then frames, each `[len: u16 BE][dt: u8][len bytes]` (the last one takes what is left),
//! `dt` advancing packet time by dt * 50 ms so idle (2 s), active (5 s) and fragment (1 s)
//! timeouts all fire. Every frame goes through the decoder (link layer, VLAN, IP with
//! extension headers, fragment reassembly, transport) and, when it decodes, through the flow
//! table with DNS inspection; every finished flow is encoded as YAF's IPFIX record.
//!
//! Checks, besides "no panic": every decoded packet is counted in exactly one exported flow;
//! fragment memory stays within its cap; every record fits one IPFIX message.

use flowmeter::decode::{Decoded, Decoder, DefragConfig};
use flowmeter::dpi::DpiConfig;
use flowmeter::export::yaf::{encode_flow, EncodeOptions, MAX_RECORD_LEN};
use flowmeter::flow::{end_reason, FlowConfig, FlowRecord, FlowTable};

/// Every link type the decoder knows, and one it does not (105, 802.11).
pub const LINK_TYPES: [u32; 12] = [1, 113, 276, 12, 14, 101, 228, 229, 0, 108, 239, 105];

const STEP_NS: u64 = 50_000_000;

/// What one input produced (for tests that want to know the checks had something to check).
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub decoded: u64,
    pub flows: usize,
    pub dns_records: usize,
}

/// Runs one input; panics (the fuzzer's and the test's failure) when a check fails.
pub fn run(data: &[u8]) -> Summary {
    let Some((&sel, mut rest)) = data.split_first() else {
        return Summary::default();
    };
    let linktype = LINK_TYPES[usize::from(sel & 0x0F) % LINK_TYPES.len()];
    let defrag = (sel & 0x10 == 0).then_some(DefragConfig {
        timeout_ns: 1_000_000_000,
        max_bytes: 64 * 1024,
        max_datagrams: 8,
    });
    let mut decoder = Decoder::new(defrag);
    let mut table = FlowTable::new(FlowConfig {
        idle_timeout_ns: 2_000_000_000,
        active_timeout_ns: 5_000_000_000,
        max_flows: if sel & 0x40 != 0 { 2 } else { 1024 },
        vlan_in_key: true,
        mark_continuation: sel & 0x80 != 0,
        dpi: Some(DpiConfig {
            max_payload: 512,
            max_records_per_flow: 64,
            dns_ports: vec![5300],
            yaf_compat: sel & 0x20 != 0,
        }),
    });
    let mut out: Vec<FlowRecord> = Vec::new();
    let mut ts: u64 = 1_700_000_000_000_000_000;
    let mut decoded = 0u64;
    while !rest.is_empty() {
        let (frame, dt) = match rest {
            [hi, lo, dt, tail @ ..] => {
                let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
                let (f, r) = tail.split_at(len);
                rest = r;
                (f, *dt)
            }
            _ => {
                let f = rest;
                rest = &[];
                (f, 0)
            }
        };
        ts += u64::from(dt) * STEP_NS;
        if let Decoded::Packet(meta) = decoder.decode(ts, linktype, frame) {
            decoded += 1;
            assert!(meta.payload.len() <= frame.len().max(64 * 1024));
            table.observe(ts, &meta, &mut out);
        }
        decoder.sweep(ts);
        table.expire(ts, &mut out);
        assert!(table.len() <= 1024);
    }
    decoder.flush();
    table.flush_all(end_reason::FORCED, &mut out);
    assert!(table.is_empty());

    let counted: u64 = out.iter().map(|f| f.packets + f.rev_packets).sum();
    assert_eq!(
        counted, decoded,
        "decoded packets != packets in exported flows"
    );
    let mut buf = Vec::new();
    for f in &out {
        assert!(f.end_ns >= f.start_ns);
        assert!(f.packets > 0, "a flow without a forward packet");
        buf.clear();
        let e = encode_flow(f, EncodeOptions::default(), &mut buf);
        assert!(buf.len() <= MAX_RECORD_LEN);
        assert!(e.dns_truncated <= f.dns.len());
        buf.clear();
        let silk = EncodeOptions {
            silk: true,
            ..EncodeOptions::default()
        };
        encode_flow(f, silk, &mut buf);
        assert!(buf.len() <= MAX_RECORD_LEN);
    }
    Summary {
        decoded,
        flows: out.len(),
        dns_records: out.iter().map(|f| f.dns.len()).sum(),
    }
}
