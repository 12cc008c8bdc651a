//! The `packet` fuzz target's body (fuzz/packet_body.rs) as a proptest, so every `cargo test`
//! runs it: random inputs for every link type, and real frames from the fixture captures
//! (tests/data/pcap) with random byte changes, cuts and timing. The body checks that nothing
//! panics, that every decoded packet lands in exactly one exported flow, and that every
//! record encodes within one IPFIX message.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[allow(dead_code)] // not every test uses every field of the summary
#[path = "../fuzz/packet_body.rs"]
mod packet_body;

use std::path::PathBuf;
use std::sync::LazyLock;

use flowmeter::capture::file::FileSource;
use flowmeter::capture::{PacketSource, Poll};
use packet_body::{run, LINK_TYPES};
use proptest::prelude::*;

/// (link type, frames) of every fixture capture whose link type the target covers.
static FIXTURES: LazyLock<Vec<(u32, Vec<Vec<u8>>)>> = LazyLock::new(|| {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/pcap");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let mut src = FileSource::open(&f).unwrap();
        let mut by_type: Vec<(u32, Vec<Vec<u8>>)> = Vec::new();
        let mut keep = |p: &flowmeter::capture::Packet<'_>| match by_type
            .iter_mut()
            .find(|(t, _)| *t == p.linktype)
        {
            Some((_, v)) => v.push(p.data.to_vec()),
            None => by_type.push((p.linktype, vec![p.data.to_vec()])),
        };
        while let Ok(Poll::Packets(_) | Poll::Idle) = src.poll(256, &mut keep) {}
        out.extend(by_type.into_iter().filter(|(t, _)| LINK_TYPES.contains(t)));
    }
    assert!(out.len() >= 20, "fixture captures not found");
    out
});

/// The target's input for `frames` of link type `linktype`, `dt` steps apart.
fn encode(linktype: u32, config: u8, frames: &[Vec<u8>], dt: &[u8]) -> Vec<u8> {
    let idx = LINK_TYPES.iter().position(|t| *t == linktype).unwrap() as u8;
    let mut v = vec![idx | (config & 0xF0)];
    for (i, f) in frames.iter().enumerate() {
        let len = f.len().min(usize::from(u16::MAX));
        v.extend_from_slice(&(len as u16).to_be_bytes());
        v.push(dt.get(i % dt.len().max(1)).copied().unwrap_or(0));
        v.extend_from_slice(&f[..len]);
    }
    v
}

#[test]
fn every_fixture_capture_passes_the_checks_unchanged() {
    let (mut frames, mut decoded, mut dns) = (0, 0, 0);
    for (t, fs) in FIXTURES.iter() {
        for config in [0x00, 0x10, 0x20, 0x40, 0x80] {
            let s = run(&encode(*t, config, fs, &[1]));
            if config == 0 {
                decoded += s.decoded;
                dns += s.dns_records;
            }
        }
        frames += fs.len();
    }
    // The checks had real traffic to check: nearly every frame decodes, DNS is found.
    assert!(decoded * 10 >= frames as u64 * 9, "{decoded} of {frames}");
    assert!(dns > 1000, "{dns}");
    // Several link types are covered by real frames, not only Ethernet.
    let types: std::collections::BTreeSet<u32> = FIXTURES.iter().map(|(t, _)| *t).collect();
    assert!(types.len() >= 5, "{types:?}");
    assert!(frames > 1000);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_on_every_link_type(data in proptest::collection::vec(any::<u8>(), 0..1500)) {
        run(&data);
    }

    #[test]
    fn mutated_real_frames(
        pick in any::<prop::sample::Index>(),
        start in any::<prop::sample::Index>(),
        count in 1usize..48,
        config in any::<u8>(),
        dt in proptest::collection::vec(0u8..120, 1..8),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()), 0..24),
        cuts in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..4),
    ) {
        let (t, all) = &FIXTURES[pick.index(FIXTURES.len())];
        let from = start.index(all.len());
        let mut frames: Vec<Vec<u8>> = all[from..(from + count).min(all.len())].to_vec();
        let n = frames.len();
        for (f, at, x) in flips {
            let fr = &mut frames[f.index(n)];
            if !fr.is_empty() {
                let i = at.index(fr.len());
                fr[i] ^= x;
            }
        }
        for (f, at) in cuts {
            let fr = &mut frames[f.index(n)];
            let keep = at.index(fr.len() + 1);
            fr.truncate(keep);
        }
        run(&encode(*t, config, &frames, &dt));
    }
}
