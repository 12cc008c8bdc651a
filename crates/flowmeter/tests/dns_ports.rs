//! `--dns-ports` end to end: the binary on a capture with DNS on a port that is not a DNS
//! port. Off the DNS ports a payload must pass the strict checks to count as DNS (no Z bit,
//! few questions, a well-formed first question with an assigned type); on a port listed in
//! `--dns-ports` the header checks alone decide, as on port 53. The capture's messages set
//! the Z bit, so only the listed port makes their flow DNS; the same messages on port 53
//! show that the payload itself is parseable either way.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod export_support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};

use export_support::*;
use flowmeter::dpi::Rdata;
use flowmeter::flow::FlowRecord;

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];
const ODD_PORT: u16 = 5300;

/// A query for www.example.com. A, with the Z bit (0x0040) set beside RD.
fn query(id: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[
        0x01, 0x40, // flags: RD, Z
        0, 1, 0, 0, 0, 0, 0, 0, // 1 question
        3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
        0, 1, 0, 1, // A IN
    ]);
    m
}

/// Its answer: the question and 192.0.2.7, TTL 300, Z bit still set.
fn response(id: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[
        0x81, 0xc0, // flags: QR, RD, RA, Z
        0, 1, 0, 1, 0, 0, 0, 0, // 1 question, 1 answer
        3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
        0, 1, 0, 1, // A IN
        0xc0, 12, // owner: pointer to the question's name
        0, 1, 0, 1, // A IN
        0, 0, 1, 44, // TTL 300
        0, 4, 192, 0, 2, 7,
    ]);
    m
}

/// One pcap record: Ethernet, IPv4, UDP.
fn udp_frame(ts_s: u32, src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let ip_len = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&ip_len.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src.0);
    ip.extend_from_slice(&dst.0);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&src.1.to_be_bytes());
    f.extend_from_slice(&dst.1.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]); // no UDP checksum
    f.extend_from_slice(payload);
    let mut rec = Vec::new();
    rec.extend_from_slice(&ts_s.to_le_bytes());
    rec.extend_from_slice(&0u32.to_le_bytes());
    rec.extend_from_slice(&(f.len() as u32).to_le_bytes());
    rec.extend_from_slice(&(f.len() as u32).to_le_bytes());
    rec.extend_from_slice(&f);
    rec
}

/// A query and its answer on `port`, and the same on port 53 (client port 40053).
fn write_capture(path: &Path, port: u16) {
    // pcap header: little endian, µs, v2.4, snaplen 65535, Ethernet.
    let mut b = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    let t = 1_700_000_000;
    for (i, (cport, sport)) in [(40_000, port), (40_053, 53)].into_iter().enumerate() {
        let id = 0x4242 + i as u16;
        b.extend(udp_frame(t, (CLIENT, cport), (SERVER, sport), &query(id)));
        b.extend(udp_frame(
            t + 1,
            (SERVER, sport),
            (CLIENT, cport),
            &response(id),
        ));
    }
    std::fs::write(path, b).unwrap();
}

/// The binary's flows for `pcap` with `extra` arguments.
fn run(pcap: &Path, out: &Path, extra: &[&str]) -> Vec<FlowRecord> {
    let o = Command::new(exe())
        .arg("--in")
        .arg(pcap)
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "flowmeter failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    flows(out)
}

fn on_port(flows: &[FlowRecord], port: u16) -> &FlowRecord {
    let client = IpAddr::V4(Ipv4Addr::from(CLIENT));
    let matching: Vec<&FlowRecord> = flows
        .iter()
        .filter(|f| f.src == client && f.dport == port && f.proto == 17)
        .collect();
    assert_eq!(matching.len(), 1, "one flow to port {port} in {flows:?}");
    matching[0]
}

#[test]
fn dns_on_a_listed_port_is_labelled_and_parsed_and_not_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("odd-port.pcap");
    write_capture(&pcap, ODD_PORT);

    let without = run(&pcap, &dir.path().join("without.yaf"), &[]);
    let f = on_port(&without, ODD_PORT);
    assert_eq!((f.packets, f.rev_packets), (1, 1), "{f:?}");
    assert_eq!(f.app_label, 0, "Z-bit messages off the DNS ports: {f:?}");
    assert!(f.dns.is_empty(), "{:?}", f.dns);
    // The same messages on port 53 are DNS: the payload is not the reason.
    assert_eq!(on_port(&without, 53).app_label, 53);
    assert_eq!(
        on_port(&without, 53).dns.len(),
        2,
        "{:?}",
        on_port(&without, 53).dns
    );

    // A list, as operators write it; the odd port is the second entry.
    let ports = format!("8053,{ODD_PORT}");
    let with = run(
        &pcap,
        &dir.path().join("with.yaf"),
        &["--dns-ports", &ports],
    );
    let f = on_port(&with, ODD_PORT);
    assert_eq!(f.app_label, 53, "{f:?}");
    // The query's question and the response's answer (a response's question is not
    // exported, as in YAF).
    let got: Vec<(u8, u8, &str, u16, u16)> = f
        .dns
        .iter()
        .map(|r| {
            (
                r.head.qr,
                r.head.section,
                r.qname.as_str(),
                r.head.rrtype,
                r.head.id,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (0, 0, "www.example.com.", 1, 0x4242),
            (1, 1, "www.example.com.", 1, 0x4242),
        ]
    );
    assert_eq!(f.dns[1].head.ttl, 300);
    assert_eq!(f.dns[1].rdata, Rdata::A(Ipv4Addr::new(192, 0, 2, 7)));
    // Listing a port changes nothing for port 53.
    assert_eq!(on_port(&with, 53).dns, on_port(&without, 53).dns);
}
