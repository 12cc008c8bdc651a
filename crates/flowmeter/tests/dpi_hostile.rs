//! Hostile and malformed DNS from the corpus (crafted compression cases,
//! corrupt sections) and a sweep over every capture: nothing panics, what
//! parsed before an error is kept, and the error lands in the right counter.

mod dpi_support;

use dpi_support::{captures, corpus_or_skip, packets};
use flowmeter::dpi::{dns_candidate, DnsFlowState, DnsRecord, DnsStats, DpiConfig};

/// Every DNS-looking payload of a capture through one flow state per
/// 5-tuple, in default (non-YAF) mode.
fn run(path: &std::path::Path, cfg: &DpiConfig) -> (Vec<DnsRecord>, DnsStats) {
    run_packets(packets(path), cfg)
}

/// Flow key (protocol, endpoint, endpoint) -> (initiator address, port, state).
type Flows = std::collections::HashMap<(u8, String, u16, String, u16), (String, u16, DnsFlowState)>;

fn run_packets(pkts: Vec<dpi_support::Pkt>, cfg: &DpiConfig) -> (Vec<DnsRecord>, DnsStats) {
    let mut flows = Flows::new();
    let mut stats = DnsStats::default();
    for p in pkts {
        let a = (p.src.clone(), p.sport);
        let b = (p.dst.clone(), p.dport);
        let key = if a <= b {
            (p.proto, a.0.clone(), a.1, b.0, b.1)
        } else {
            (p.proto, b.0, b.1, a.0.clone(), a.1)
        };
        let (isrc, iport, st) = flows
            .entry(key)
            .or_insert_with(|| (a.0.clone(), a.1, DnsFlowState::default()));
        let rev = !(*isrc == a.0 && *iport == a.1);
        if p.proto == 17 {
            if p.payload.is_empty()
                || !dns_candidate(cfg, 17, p.sport, p.dport, &p.payload) && !st.is_started()
            {
                continue;
            }
            st.on_udp(cfg, rev, &p.payload, &mut stats);
        } else {
            st.on_tcp(cfg, rev, p.seq, p.syn, p.fin_or_rst, &p.payload, &mut stats);
        }
    }
    let mut recs = Vec::new();
    for (_, _, mut st) in flows.into_values() {
        recs.extend(st.take_records(cfg, &mut stats));
    }
    (recs, stats)
}

fn crafted(name: &str) -> Option<(Vec<DnsRecord>, DnsStats)> {
    let root = corpus_or_skip(name)?;
    let path = root.join("pcap").join(name);
    assert!(path.is_file(), "{} missing from corpus", path.display());
    let r = run(&path, &DpiConfig::default());
    eprintln!("{name}: {} records, {:?}", r.0.len(), r.1);
    Some(r)
}

/// UDP payloads of a classic Ethernet/IPv4 pcap taken from the IP total
/// length rather than the UDP length: the tcpdump zlip captures declare a
/// UDP length of 8 and carry the hostile message after it, which tshark
/// (rightly) does not show as payload.
fn raw_udp_payloads(path: &std::path::Path) -> Vec<Vec<u8>> {
    let b = std::fs::read(path).unwrap_or_default();
    if b.len() < 24 {
        return Vec::new();
    }
    let le = b[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let u32at = |i: usize| {
        let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= b.len() {
        let caplen = u32at(i + 8) as usize;
        let frame = &b[i + 16..(i + 16 + caplen).min(b.len())];
        i += 16 + caplen;
        if frame.len() < 34 || frame[12..14] != [8, 0] || frame[23] != 17 {
            continue;
        }
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
        let end = (14 + total).min(frame.len());
        if let Some(p) = frame.get(14 + ihl + 8..end) {
            out.push(p.to_vec());
        }
    }
    out
}

#[test]
fn max_compression_depth_chain_decodes() {
    // Each owner name points at the previous one (depth 7); every pointer
    // goes strictly backwards, so all seven A records are legitimate.
    let Some((recs, st)) = crafted("zeek+zeek/testing/btest/Traces/dns/max-compression-depth.pcap")
    else {
        return;
    };
    let a: Vec<_> = recs
        .iter()
        .filter(|r| r.head.rrtype == 1 && r.qname == "a.")
        .collect();
    assert_eq!(a.len(), 7);
    assert_eq!(st.parse_errors, 0);
}

#[test]
fn suricata_forward_pointer_rejected_rest_kept() {
    let Some((recs, st)) = crafted("OISF+suricata-verify/tests/dns/dns-forward-pointer/input.pcap")
    else {
        return;
    };
    assert_eq!(st.bad_pointer, 1);
    assert!(recs
        .iter()
        .any(|r| r.qname == "codemonkey.net." && r.rdata.presentation() == "152.53.82.239"));
}

#[test]
fn suricata_corrupt_additionals_keep_answers() {
    let Some((recs, st)) =
        crafted("OISF+suricata-verify/tests/dns/dns-corrupt-additionals/input.pcap")
    else {
        return;
    };
    let srv: Vec<String> = recs
        .iter()
        .filter(|r| r.head.section == 1)
        .map(|r| r.rdata.presentation())
        .collect();
    assert_eq!(srv.len(), 2, "{srv:?}");
    assert!(srv.contains(&"10 1 5060 sip-anycast-1.voice.google.com.".to_string()));
    assert_eq!(st.rdlength_overrun, 1);
}

#[test]
fn suricata_truncated_rname_counted() {
    let Some((recs, st)) = crafted("OISF+suricata-verify/tests/dns/dns-truncated-rname/poc2.pcap")
    else {
        return;
    };
    assert!(recs.is_empty());
    assert_eq!(st.name_too_long, 1);
}

#[test]
fn tcpdump_fwdptr_and_zlip_loops() {
    let Some(root) = corpus_or_skip("tcpdump_fwdptr_and_zlip_loops") else {
        return;
    };
    let cfg = DpiConfig::default();
    let dir = root.join("pcap/the-tcpdump-group+tcpdump/tests");
    for (file, want_loop_or_ptr) in [
        ("dns_fwdptr.pcap", true),
        ("dns-zlip-1.pcap", true),
        ("dns-zlip-2.pcap", true),
        ("dns-zlip-3.pcap", true),
    ] {
        let payloads = raw_udp_payloads(&dir.join(file));
        assert!(!payloads.is_empty(), "{file}: no payload");
        let mut st = DnsStats::default();
        let mut f = DnsFlowState::default();
        for p in &payloads {
            // Fed directly: these are not plausible DNS (dns_candidate says
            // no to some), the parser itself must still be safe on them.
            f.on_udp(&cfg, false, p, &mut st);
        }
        let n = f.take_records(&cfg, &mut st).len();
        eprintln!("{file}: {n} records {st:?}");
        assert!(st.parse_errors >= 1, "{file}: error not counted");
        if want_loop_or_ptr {
            assert!(
                st.bad_pointer + st.pointer_loop + st.label_too_long >= 1,
                "{file}: {st:?}"
            );
        }
    }
}

#[test]
fn tcp_multirequest_every_message_kept() {
    let Some((recs, st)) =
        crafted("OISF+suricata-verify/tests/dns/dns-tcp-multirequest-buffer/dns-tcp-multirequest-buffer.pcap")
    else {
        return;
    };
    // 20 queries in one segment ("0.google.com." .. ) and their answers.
    let qs = recs
        .iter()
        .filter(|r| r.head.section == 0 && r.head.qr == 0)
        .count();
    assert!(qs >= 20, "{qs} questions");
    assert_eq!(st.tcp_desync + st.tcp_gap + st.buffer_overflow, 0);
}

/// Every capture of the corpus, both modes: no panic, and plausible totals.
#[test]
fn every_capture_survives() {
    let Some(root) = corpus_or_skip("every_capture_survives") else {
        return;
    };
    let caps = captures(&root);
    assert!(caps.len() > 300, "{} captures", caps.len());
    let totals = std::sync::Mutex::new((DnsStats::default(), DnsStats::default(), 0usize));
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((_, path)) = caps.get(i) else { break };
                let pkts = packets(path);
                let (r1, s1) = run_packets(pkts.clone(), &DpiConfig::default());
                let (_, s2) = run_packets(
                    pkts,
                    &DpiConfig {
                        yaf_compat: true,
                        max_payload: 2048,
                        ..DpiConfig::default()
                    },
                );
                let mut t = totals.lock().unwrap();
                t.0.merge(&s1);
                t.1.merge(&s2);
                t.2 += r1.len();
            });
        }
    });
    let (full, yaf, nrec) = totals.into_inner().unwrap();
    eprintln!("default mode: {full:?}");
    eprintln!("yaf_compat:   {yaf:?}");
    assert_eq!(full.records as usize, nrec);
    // nsd-live alone has 20,888 DNS messages.
    assert!(full.messages > 40_000, "{}", full.messages);
    assert!(full.messages > yaf.messages);
    assert!(full.parse_errors > 0 && full.parse_errors * 50 < full.messages);
}
