//! Inputs found by the `packet` fuzz target (fuzz/fuzz_targets/packet.rs). Each runs through
//! the same checks as the fuzzer.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[allow(dead_code)] // not every test uses every field of the summary
#[path = "../fuzz/packet_body.rs"]
mod packet_body;

use flowmeter::decode::{Decoder, DefragConfig};

/// IPv6 with a hop-by-hop header whose next header is hop-by-hop again (only allowed first).
/// etherparse 0.21.0's lax slicing stops at the second one, but the extension iterator
/// (`LaxIpv6Slice::extensions().into_iter()`, which decode/ used to find the fragment offset)
/// walks on into it with `from_slice_unchecked` past the validated bytes: an out-of-bounds
/// read (release) or an abort on the `get_unchecked` precondition check (debug builds,
/// fuzzing). decode/ now walks the chain itself (`v6_fragment`).
fn hbh_after_hbh() -> Vec<u8> {
    let mut ip6 = vec![0x60, 0, 0, 0, 0, 16, 0, 64];
    ip6.extend_from_slice(&[0; 15]);
    ip6.push(1); // source ::1
    ip6.extend_from_slice(&[0; 15]);
    ip6.push(2); // destination ::2
    ip6.extend_from_slice(&[0, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop, next header: hop-by-hop
    ip6.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop again, then UDP
    ip6
}

#[test]
fn ipv6_hop_by_hop_after_hop_by_hop_is_ignored_not_a_crash() {
    let frame = hbh_after_hbh();
    let mut d = Decoder::new(Some(DefragConfig::default()));
    for linktype in [101, 229] {
        let _ = d.decode(1, linktype, &frame);
    }
    // The fuzz target's input for the same frame (DLT 228 = index 6).
    let mut input = vec![6u8];
    input.extend_from_slice(&(frame.len() as u16).to_be_bytes());
    input.push(0);
    input.extend_from_slice(&frame);
    packet_body::run(&input);
}
