//! Shared helpers of the dpi_* integration tests: locating the corpus and
//! extracting UDP/TCP payloads from captures with tshark (which handles
//! every link type, tunnel and IP fragment reassembly in the corpus).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// ../shared/corpus relative to the repository root (or $PDNS_CORPUS_DIR),
/// when present.
pub fn corpus_root() -> Option<PathBuf> {
    let p = match std::env::var_os("PDNS_CORPUS_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    };
    p.join("pcap").is_dir().then_some(p)
}

pub fn have_tshark() -> bool {
    Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Prints why a corpus test did nothing; returns the corpus root otherwise.
pub fn corpus_or_skip(test: &str) -> Option<PathBuf> {
    let Some(root) = corpus_root() else {
        eprintln!("{test}: SKIPPED: ../shared/corpus not present");
        return None;
    };
    if !have_tshark() {
        eprintln!("{test}: SKIPPED: tshark not installed");
        return None;
    }
    Some(root)
}

#[derive(Clone, Debug)]
pub struct Pkt {
    pub ts: f64,
    /// Addresses as tshark prints them (all IP layers, tunnels included).
    pub src: String,
    pub dst: String,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub syn: bool,
    pub fin_or_rst: bool,
    pub payload: Vec<u8>,
}

fn unhex(s: &str) -> Vec<u8> {
    let s = s.as_bytes();
    let v = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    };
    s.chunks_exact(2).map(|p| v(p[0]) << 4 | v(p[1])).collect()
}

fn last(field: &str) -> &str {
    field.rsplit(',').next().unwrap_or("")
}

fn flag(field: &str) -> bool {
    matches!(last(field), "1" | "True" | "true")
}

/// Every UDP/TCP packet of `capture` (ICMP-quoted headers excluded), with
/// per-segment TCP payloads (no TCP desegmentation) and reassembled UDP.
pub fn packets(capture: &Path) -> Vec<Pkt> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(capture)
        .args([
            "-o",
            "tcp.desegment_tcp_streams:FALSE",
            "-o",
            "tcp.analyze_sequence_numbers:FALSE",
        ])
        .args([
            "-Y",
            "(udp or tcp) and not icmp and not icmpv6",
            "-T",
            "fields",
            "-E",
            "separator=/t",
        ])
        .args([
            "-e",
            "frame.time_epoch",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "ipv6.src",
            "-e",
            "ipv6.dst",
        ])
        .args([
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.dstport",
        ])
        .args([
            "-e",
            "tcp.seq_raw",
            "-e",
            "tcp.flags.syn",
            "-e",
            "tcp.flags.fin",
            "-e",
            "tcp.flags.reset",
        ])
        .args(["-e", "udp.payload", "-e", "tcp.payload"])
        .output()
        .expect("run tshark");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 15 {
            continue;
        }
        let udp = !f[5].is_empty();
        let (sp, dp, pay) = if udp {
            (f[5], f[6], f[13])
        } else {
            (f[7], f[8], f[14])
        };
        if sp.is_empty() {
            continue;
        }
        v.push(Pkt {
            ts: f[0].parse().unwrap_or(0.0),
            src: format!("{}|{}", f[1], f[3]),
            dst: format!("{}|{}", f[2], f[4]),
            proto: if udp { 17 } else { 6 },
            sport: last(sp).parse().unwrap_or(0),
            dport: last(dp).parse().unwrap_or(0),
            seq: last(f[9]).parse().unwrap_or(0),
            syn: flag(f[10]),
            fin_or_rst: flag(f[11]) || flag(f[12]),
            payload: unhex(last(pay)),
        });
    }
    v
}

/// All captures under pcap/, keyed by path relative to pcap/ without extension.
pub fn captures(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("pcap")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(ext) = p.extension().and_then(|e| e.to_str()) {
                if ["pcap", "pcapng", "cap", "dmp", "trace"].contains(&ext)
                    || p.to_string_lossy().contains(".pcap")
                {
                    let rel = p
                        .strip_prefix(root.join("pcap"))
                        .unwrap_or(&p)
                        .to_string_lossy()
                        .to_string();
                    let stem = rel
                        .rsplit_once('.')
                        .map(|(a, _)| a.to_string())
                        .unwrap_or(rel);
                    out.push((stem, p));
                }
            }
        }
    }
    out.sort();
    out
}
