//! DNS inspection speed on realistic messages: messages/s and records/s
//! for the message parser, the per-flow UDP path, and DNS-over-TCP
//! reassembly. Messages are built here so the bench needs no corpus.
//!
//! Run: `cargo bench -p flowmeter --bench dns_parse`
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flowmeter::dpi::{parse_message, Decoding, DnsFlowState, DnsStats, DpiConfig};
use flowmeter::export::yaf::{encode_ended, encode_flow, DnsScratch, EncodeOptions};
use flowmeter::flow::FlowRecord;

fn put_name(m: &mut Vec<u8>, name: &str) {
    for l in name.split('.').filter(|l| !l.is_empty()) {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.push(0);
}

fn header(id: u16, flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    let mut m = Vec::new();
    for v in [id, flags, qd, an, ns, ar] {
        m.extend_from_slice(&v.to_be_bytes());
    }
    m
}

/// RR header with owner as a pointer to `ptr`.
fn rr(m: &mut Vec<u8>, ptr: u16, rtype: u16, ttl: u32, rdata: &[u8]) {
    m.extend_from_slice(&(0xC000 | ptr).to_be_bytes());
    m.extend_from_slice(&rtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&ttl.to_be_bytes());
    m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    m.extend_from_slice(rdata);
}

/// A typical CDN answer: question, CNAME to an edge name, 8 A records
/// for the edge name, OPT.
fn cdn_response() -> Vec<u8> {
    let mut m = header(0x1a2b, 0x8180, 1, 9, 0, 1);
    put_name(&mut m, "www.example-shop.com");
    m.extend_from_slice(&[0, 1, 0, 1]);
    let edge_at = (m.len() + 12) as u16; // where the CNAME rdata starts
    let mut cname = Vec::new();
    put_name(&mut cname, "e1234.dscb.akamaiedge.net");
    rr(&mut m, 12, 5, 300, &cname);
    for i in 0..8u8 {
        rr(&mut m, edge_at, 1, 20, &[23, 45, 67, i]);
    }
    m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
    m
}

/// NXDOMAIN with the zone's SOA in the authority section.
fn nxdomain_response() -> Vec<u8> {
    let mut m = header(0x0bad, 0x8183, 1, 0, 1, 0);
    put_name(&mut m, "nosuchhost.corp.example.org");
    m.extend_from_slice(&[0, 28, 0, 1]);
    let mut soa = Vec::new();
    put_name(&mut soa, "ns1.example.org");
    put_name(&mut soa, "hostmaster.example.org");
    for v in [2024010101u32, 7200, 3600, 1209600, 300] {
        soa.extend_from_slice(&v.to_be_bytes());
    }
    rr(&mut m, 12 + 11 + 5, 6, 300, &soa); // owner "example.org" inside the qname
    m
}

/// A query (RD, one question, OPT).
fn query() -> Vec<u8> {
    let mut m = header(0x7777, 0x0100, 1, 0, 0, 1);
    put_name(&mut m, "mail.google.com");
    m.extend_from_slice(&[0, 1, 0, 1]);
    m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
    m
}

/// A signed referral: NS set plus RRSIG and DS in authority, glue A/AAAA.
fn dnssec_referral() -> Vec<u8> {
    let mut m = header(0x5151, 0x8100, 1, 0, 6, 4);
    put_name(&mut m, "www.example.net");
    m.extend_from_slice(&[0, 1, 0, 1]);
    let zone = 12 + 4; // "example.net" inside the qname
    let mut ns_at = Vec::new();
    for n in [
        "a.iana-servers.net",
        "b.iana-servers.net",
        "c.iana-servers.net",
        "d.iana-servers.net",
    ] {
        ns_at.push((m.len() + 12) as u16);
        let mut rd = Vec::new();
        put_name(&mut rd, n);
        rr(&mut m, zone, 2, 172800, &rd);
    }
    let mut ds = vec![0x7b, 0x2a, 13, 2];
    ds.extend_from_slice(&[0xAB; 32]);
    rr(&mut m, zone, 43, 86400, &ds);
    let mut sig = vec![
        0, 43, 13, 2, 0, 1, 0x51, 0x80, 0x65, 0, 0, 0, 0x64, 0, 0, 0, 0x12, 0x34,
    ];
    put_name(&mut sig, "net");
    sig.extend_from_slice(&[0x5A; 64]);
    rr(&mut m, zone, 46, 86400, &sig);
    for (i, at) in ns_at.iter().enumerate() {
        if i % 2 == 0 {
            rr(&mut m, *at, 1, 172800, &[199, 43, 135, 53 + i as u8]);
        } else {
            let mut a = [0u8; 16];
            a[0] = 0x20;
            a[1] = 0x01;
            a[15] = i as u8;
            rr(&mut m, *at, 28, 172800, &a);
        }
    }
    m
}

fn flow_record() -> FlowRecord {
    FlowRecord {
        start_ns: 1_700_000_000_000_000_000,
        end_ns: 1_700_000_000_020_000_000,
        src: std::net::Ipv4Addr::new(10, 0, 0, 1).into(),
        dst: std::net::Ipv4Addr::new(10, 0, 0, 53).into(),
        sport: 40000,
        dport: 53,
        proto: 17,
        vlan: 0,
        rev_vlan: 0,
        tos: 0,
        rev_tos: 0,
        octets: 60,
        rev_octets: 200,
        packets: 1,
        rev_packets: 1,
        attributes: 0,
        rev_attributes: 0,
        end_reason: 1,
        app_label: 0,
        rev_delta_ns: 20_000_000,
        tcp: None,
        dns: Vec::new(),
    }
}

fn records_in(msgs: &[Vec<u8>]) -> u64 {
    let mut out = Vec::new();
    let mut st = DnsStats::default();
    for m in msgs {
        parse_message(m, usize::MAX, &mut out, &mut st).unwrap();
    }
    assert_eq!(st.parse_errors, 0);
    out.len() as u64
}

fn bench(c: &mut Criterion) {
    // A realistic mix: half queries, half responses of several shapes.
    let mix = vec![
        query(),
        cdn_response(),
        query(),
        nxdomain_response(),
        query(),
        dnssec_referral(),
    ];
    let nrec = records_in(&mix);

    let mut g = c.benchmark_group("parse_message");
    g.throughput(Throughput::Elements(mix.len() as u64));
    g.bench_function("mix/messages", |b| {
        let mut out = Vec::with_capacity(64);
        let mut st = DnsStats::default();
        b.iter(|| {
            for m in &mix {
                out.clear();
                black_box(parse_message(black_box(m), usize::MAX, &mut out, &mut st)).ok();
            }
        })
    });
    g.throughput(Throughput::Elements(nrec));
    g.bench_function("mix/records", |b| {
        let mut out = Vec::with_capacity(64);
        let mut st = DnsStats::default();
        b.iter(|| {
            for m in &mix {
                out.clear();
                black_box(parse_message(black_box(m), usize::MAX, &mut out, &mut st)).ok();
            }
        })
    });
    let cdn = cdn_response();
    g.throughput(Throughput::Elements(1));
    g.bench_function("cdn_9_answers/messages", |b| {
        let mut out = Vec::with_capacity(16);
        let mut st = DnsStats::default();
        b.iter(|| {
            out.clear();
            black_box(parse_message(
                black_box(&cdn),
                usize::MAX,
                &mut out,
                &mut st,
            ))
            .ok();
        })
    });
    g.finish();

    // The flow path: a query/response pair per new flow, messages held and
    // decoded as the flow's consumer does at export.
    let cfg = DpiConfig::default();
    let (q, r) = (query(), cdn_response());
    let mut g = c.benchmark_group("flow_udp");
    g.throughput(Throughput::Elements(2));
    g.bench_function("query_response_pair/messages", |b| {
        let mut st = DnsStats::default();
        b.iter(|| {
            let mut f = DnsFlowState::default();
            f.on_udp(&cfg, false, black_box(&q), &mut st);
            f.on_udp(&cfg, true, black_box(&r), &mut st);
            black_box(f.take_records(&cfg, &mut st))
        })
    });
    // The export thread's work for such a flow: its held messages decoded
    // into YAF's IPFIX record, directly and (as before) via DnsRecords.
    let decoding = std::sync::Arc::new(Decoding::new(&cfg));
    let rec = flow_record();
    let pending = || {
        let mut st = DnsStats::default();
        let mut f = DnsFlowState::default();
        f.on_udp(&cfg, false, &q, &mut st);
        f.on_udp(&cfg, true, &r, &mut st);
        f.into_pending(&decoding)
    };
    let opts = EncodeOptions::default();
    g.bench_function("query_response_pair/to_ipfix", |b| {
        let mut out = Vec::with_capacity(4096);
        let mut scratch = DnsScratch::default();
        b.iter_batched(
            pending,
            |p| {
                out.clear();
                black_box(encode_ended(&rec, p, opts, &mut out, &mut scratch))
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("query_response_pair/to_ipfix_via_records", |b| {
        let mut out = Vec::with_capacity(4096);
        b.iter_batched(
            pending,
            |p| {
                out.clear();
                let mut f = rec.clone();
                f.dns = p.into_records().0;
                black_box(encode_flow(&f, opts, &mut out))
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();

    // DNS over TCP: 20 length-prefixed responses cut into 100-octet segments.
    let mut stream = Vec::new();
    for _ in 0..20 {
        stream.extend_from_slice(&(r.len() as u16).to_be_bytes());
        stream.extend_from_slice(&r);
    }
    let mut g = c.benchmark_group("flow_tcp");
    g.throughput(Throughput::Elements(20));
    g.bench_function("20_responses_100B_segments/messages", |b| {
        let mut st = DnsStats::default();
        b.iter(|| {
            let mut f = DnsFlowState::default();
            f.on_tcp(&cfg, true, 999, true, false, &[], &mut st);
            for (i, seg) in stream.chunks(100).enumerate() {
                f.on_tcp(
                    &cfg,
                    true,
                    1000 + (i * 100) as u32,
                    false,
                    false,
                    seg,
                    &mut st,
                );
            }
            black_box(f.take_records(&cfg, &mut st))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
