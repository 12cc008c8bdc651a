//! Flow table semantics, driven with synthetic packet metadata.

use super::*;
use crate::decode::TcpMeta;

const S: u64 = 1_000_000_000;

fn a() -> IpAddr {
    IpAddr::from([192, 168, 1, 10])
}
fn b() -> IpAddr {
    IpAddr::from([10, 0, 0, 53])
}

fn udp_pkt<'p>(
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    len: u32,
    payload: &'p [u8],
) -> PacketMeta<'p> {
    PacketMeta {
        src,
        dst,
        proto: proto::UDP,
        sport,
        dport,
        vlan: 0,
        tos: 0,
        ip_len: len,
        fragmented: false,
        app_len: len.saturating_sub(28),
        tcp: None,
        payload,
    }
}

fn tcp_pkt(
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    flags: u8,
) -> PacketMeta<'static> {
    PacketMeta {
        proto: proto::TCP,
        tcp: Some(TcpMeta {
            seq,
            flags,
            mp_capable: false,
        }),
        app_len: 0,
        ..udp_pkt(src, dst, sport, dport, 40, b"")
    }
}

fn table(cfg: FlowConfig) -> (FlowTable, Vec<FlowRecord>) {
    (FlowTable::new(cfg), Vec::new())
}

fn no_dpi() -> FlowConfig {
    FlowConfig {
        dpi: None,
        ..FlowConfig::default()
    }
}

#[test]
fn biflow_initiator_is_source_even_when_it_sorts_last() {
    let (mut t, mut out) = table(no_dpi());
    // a (192.168..) > b (10...) so the key stores b first; a still initiates
    let mut p = udp_pkt(a(), b(), 40000, 53, 60, b"");
    p.tos = 0x10;
    t.observe(5 * S, &p, &mut out);
    let mut r = udp_pkt(b(), a(), 53, 40000, 120, b"");
    r.tos = 0x20;
    t.observe(5 * S + 1500, &r, &mut out);
    t.observe(6 * S, &udp_pkt(a(), b(), 40000, 53, 60, b""), &mut out);
    assert!(out.is_empty());
    assert_eq!(t.len(), 1);
    t.flush_all(end_reason::FORCED, &mut out);
    assert_eq!(out.len(), 1);
    let f = &out[0];
    assert_eq!(
        (f.src, f.dst, f.sport, f.dport, f.proto),
        (a(), b(), 40000, 53, 17)
    );
    assert_eq!(
        (f.packets, f.octets, f.rev_packets, f.rev_octets),
        (2, 120, 1, 120)
    );
    assert_eq!((f.start_ns, f.end_ns, f.rev_delta_ns), (5 * S, 6 * S, 1500));
    assert_eq!((f.tos, f.rev_tos), (0x10, 0x20));
    assert_eq!(f.end_reason, end_reason::FORCED);
    assert!(f.is_biflow());
    assert_eq!(f.attributes, attributes::SAME_SIZE);
    assert_eq!(f.rev_attributes, 0, "one packet is not 'all the same size'");
    assert!(f.tcp.is_none());
    assert_eq!(f.app_label, 0);
}

#[test]
fn uniflow_has_zero_reverse_fields() {
    let (mut t, mut out) = table(no_dpi());
    t.observe(S, &udp_pkt(b(), a(), 53, 40000, 100, b""), &mut out);
    t.observe(2 * S, &udp_pkt(b(), a(), 53, 40000, 101, b""), &mut out);
    t.flush_all(end_reason::FORCED, &mut out);
    let f = &out[0];
    assert_eq!((f.src, f.sport), (b(), 53));
    assert!(!f.is_biflow());
    assert_eq!(
        (f.rev_packets, f.rev_octets, f.rev_delta_ns, f.rev_vlan),
        (0, 0, 0, 0)
    );
    assert_eq!(f.attributes, 0, "sizes differ");
}

#[test]
fn idle_timeout_in_packet_time() {
    let (mut t, mut out) = table(FlowConfig {
        idle_timeout_ns: 300 * S,
        ..no_dpi()
    });
    assert_eq!(t.grace_ns(), S);
    t.observe(0, &udp_pkt(a(), b(), 1, 53, 60, b""), &mut out);
    t.observe(10 * S, &udp_pkt(a(), b(), 2, 53, 60, b""), &mut out);
    // on arrival the rule is exact: 300 s after its last packet the flow
    // is still the same flow ...
    t.observe(300 * S, &udp_pkt(a(), b(), 1, 53, 60, b""), &mut out);
    assert!(out.is_empty());
    // ... and a packet more than 300 s after the last one starts a new flow
    t.observe(600 * S + 1, &udp_pkt(a(), b(), 1, 53, 60, b""), &mut out);
    let f1: Vec<_> = out.iter().filter(|f| f.sport == 1).collect();
    assert_eq!(f1.len(), 1);
    assert_eq!(
        (f1[0].end_reason, f1[0].packets, f1[0].end_ns),
        (end_reason::IDLE, 2, 300 * S)
    );
    // flow 2 (last packet at 10 s) was swept by then too
    assert!(out
        .iter()
        .any(|f| f.sport == 2 && f.end_reason == end_reason::IDLE));
    t.flush_all(end_reason::FORCED, &mut out);
    assert_eq!(out.last().unwrap().end_reason, end_reason::FORCED);
    assert!(out.last().unwrap().end_reason & end_reason::CONTINUATION == 0);
    assert_eq!(t.stats().idle_expired, 2);

    // the sweep (no packet for the flow) ends it within one grace period
    let (mut t, mut out) = table(FlowConfig {
        idle_timeout_ns: 300 * S,
        ..no_dpi()
    });
    t.observe(0, &udp_pkt(a(), b(), 1, 53, 60, b""), &mut out);
    t.observe(S / 2, &udp_pkt(b(), a(), 53, 1, 60, b""), &mut out); // not re-queued
    t.expire(300 * S + S / 2, &mut out);
    assert!(out.is_empty(), "idle for exactly 300 s is not idle yet");
    t.expire(301 * S + 1, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].end_ns, S / 2);
    assert!(t.is_empty());

    // a flow kept busy is re-queued and not swept while active
    let (mut t, mut out) = table(FlowConfig {
        idle_timeout_ns: 10 * S,
        ..no_dpi()
    });
    for i in 0..100 {
        t.observe(i * S, &udp_pkt(a(), b(), 9, 53, 60, b""), &mut out);
        t.observe(
            i * S,
            &udp_pkt(a(), b(), 10 + i as u16, 53, 60, b""),
            &mut out,
        );
    }
    assert!(out.iter().all(|f| f.sport != 9), "busy flow swept");
    assert!(out.len() > 80, "one-packet flows swept: {}", out.len());
}

#[test]
fn active_timeout_splits_with_continuation() {
    let cfg = FlowConfig {
        active_timeout_ns: 1800 * S,
        idle_timeout_ns: 300 * S,
        mark_continuation: true,
        ..no_dpi()
    };
    let (mut t, mut out) = table(cfg.clone());
    let mut ts = 0;
    while ts <= 2000 * S {
        t.observe(ts, &udp_pkt(a(), b(), 5000, 53, 60, b""), &mut out);
        t.observe(ts + 1, &udp_pkt(b(), a(), 53, 5000, 80, b""), &mut out);
        ts += 100 * S;
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].end_reason, end_reason::ACTIVE);
    assert_eq!(out[0].packets, 18, "0..=1700 s");
    assert_eq!(out[0].start_ns, 0);
    t.flush_all(end_reason::FORCED, &mut out);
    assert_eq!(out.len(), 2);
    let c = &out[1];
    assert_eq!(c.end_reason, end_reason::FORCED | end_reason::CONTINUATION);
    assert_eq!((c.start_ns, c.packets, c.rev_packets), (1800 * S, 3, 3));
    assert_eq!((c.src, c.sport), (a(), 5000), "direction kept");
    // without --silk, YAF does not flag continuations
    let (mut t, mut out) = table(FlowConfig {
        mark_continuation: false,
        ..cfg
    });
    for i in 0..=18 {
        t.observe(i * 100 * S, &udp_pkt(a(), b(), 5000, 53, 60, b""), &mut out);
    }
    t.flush_all(end_reason::FORCED, &mut out);
    assert_eq!(out.iter().map(|f| f.end_reason).collect::<Vec<_>>(), [2, 4]);
}

#[test]
fn silk_ends_a_flow_before_a_direction_passes_32_bit_octets() {
    let big = |t: &mut FlowTable, out: &mut Vec<FlowRecord>, i: u64| {
        t.observe(i, &udp_pkt(a(), b(), 5000, 53, 65_535, b""), out);
    };
    // 65,537 packets of 65,535 octets are exactly 2^32 - 1; the next one would not fit.
    let silk = FlowConfig {
        mark_continuation: true,
        ..no_dpi()
    };
    let (mut t, mut out) = table(silk);
    t.observe(0, &udp_pkt(b(), a(), 53, 5000, 100, b""), &mut out);
    for i in 1..=65_538 {
        big(&mut t, &mut out, i);
    }
    assert_eq!(out.len(), 1, "one flow ended by the overflow rule");
    assert_eq!(out[0].end_reason, end_reason::ACTIVE);
    assert_eq!((out[0].src, out[0].packets), (b(), 1));
    assert_eq!(
        (out[0].rev_packets, out[0].rev_octets),
        (65_537, u64::from(u32::MAX))
    );
    t.flush_all(end_reason::FORCED, &mut out);
    let c = &out[1];
    assert_eq!(c.end_reason, end_reason::FORCED | end_reason::CONTINUATION);
    assert_eq!(
        (c.src, c.packets),
        (a(), 1),
        "the overflowing packet starts it"
    );
    // Without --silk the counters are 64-bit: one flow.
    let (mut t, mut out) = table(no_dpi());
    for i in 1..=65_538 {
        big(&mut t, &mut out, i);
    }
    t.flush_all(end_reason::FORCED, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].octets, 65_538 * 65_535);
}

#[test]
fn tcp_fin_handshake_ends_flow_and_records_tcp_fields() {
    use crate::decode::tcp_flags::*;
    let (mut t, mut out) = table(no_dpi());
    let c = |seq, fl| tcp_pkt(a(), b(), 40001, 53, seq, fl);
    let s = |seq, fl| tcp_pkt(b(), a(), 53, 40001, seq, fl);
    t.observe(S, &c(1000, SYN), &mut out);
    t.observe(S + 1, &s(5000, SYN | ACK), &mut out);
    t.observe(S + 2, &c(1001, ACK), &mut out);
    t.observe(S + 3, &c(1001, PSH | ACK), &mut out);
    t.observe(S + 4, &s(5001, PSH | ACK), &mut out);
    t.observe(S + 5, &c(1030, FIN | ACK), &mut out);
    t.observe(S + 6, &s(5100, FIN | ACK), &mut out);
    assert!(out.is_empty(), "waits for the last ACK");
    t.observe(S + 7, &c(1031, ACK), &mut out);
    assert_eq!(out.len(), 1);
    let f = &out[0];
    assert_eq!(f.end_reason, end_reason::END);
    assert_eq!((f.packets, f.rev_packets), (5, 3));
    let tcp = f.tcp.unwrap();
    assert_eq!((tcp.isn, tcp.rev_isn), (1000, 5000));
    assert_eq!((tcp.initial_flags, tcp.union_flags), (SYN, ACK | PSH | FIN));
    assert_eq!(
        (tcp.rev_initial_flags, tcp.rev_union_flags),
        (SYN | ACK, ACK | PSH | FIN)
    );
    assert_eq!(
        f.attributes, 0,
        "one payload packet is not 'all the same size'"
    );
    assert!(t.is_empty());
    assert_eq!(t.stats().tcp_closed, 1);
}

#[test]
fn tcp_rst_ends_flow_at_once_and_unacknowledged_fins_do_not() {
    use crate::decode::tcp_flags::*;
    let (mut t, mut out) = table(no_dpi());
    t.observe(S, &tcp_pkt(a(), b(), 1, 53, 10, SYN), &mut out);
    t.observe(S + 1, &tcp_pkt(b(), a(), 53, 1, 0, RST | ACK), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].end_reason, end_reason::END);
    // FINs both ways but the initiator never acknowledges the responder's
    // FIN: still open (YAF), so end of input ends it as "forced"
    t.observe(2 * S, &tcp_pkt(a(), b(), 2, 53, 10, FIN | ACK), &mut out);
    t.observe(2 * S, &tcp_pkt(b(), a(), 53, 2, 10, FIN | ACK), &mut out);
    assert_eq!(out.len(), 1);
    t.flush_all(end_reason::FORCED, &mut out);
    assert_eq!(out[1].end_reason, end_reason::FORCED);
}

/// The close sequence of a real capture (nDPI alexa-app.pcapng, port
/// 37113): the responder's ACK after its own FIN does not close the flow;
/// the initiator's ACK of that FIN does.
#[test]
fn tcp_close_waits_for_both_fins_to_be_acknowledged() {
    use crate::decode::tcp_flags::*;
    let (mut t, mut out) = table(no_dpi());
    let c = |seq, fl| tcp_pkt(a(), b(), 37113, 443, seq, fl);
    let s = |seq, fl| tcp_pkt(b(), a(), 443, 37113, seq, fl);
    t.observe(S, &c(100, SYN), &mut out);
    t.observe(S, &s(900, SYN | ACK), &mut out);
    t.observe(2 * S, &c(101, FIN | ACK), &mut out);
    t.observe(2 * S, &c(101, FIN | ACK), &mut out); // retransmitted
    t.observe(2 * S, &s(901, FIN | ACK), &mut out);
    t.observe(2 * S, &s(902, ACK), &mut out);
    t.observe(2 * S, &s(901, FIN | ACK), &mut out); // retransmitted
    assert!(out.is_empty());
    t.observe(2 * S, &c(102, ACK), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].packets, out[0].rev_packets), (4, 4));
    assert_eq!(out[0].end_reason, end_reason::END);
}

#[test]
fn late_packet_is_kept_and_marks_out_of_sequence() {
    let (mut t, mut out) = table(no_dpi());
    t.observe(2 * S, &udp_pkt(a(), b(), 1, 53, 60, b""), &mut out);
    t.observe(3 * S, &udp_pkt(b(), a(), 53, 1, 60, b""), &mut out);
    // a forward packet stamped before the newest packet seen
    t.observe(S, &udp_pkt(a(), b(), 1, 53, 60, b""), &mut out);
    t.flush_all(end_reason::FORCED, &mut out);
    let f = &out[0];
    assert_eq!(f.packets, 2);
    assert_ne!(f.attributes & attributes::OUT_OF_SEQUENCE, 0);
    assert_eq!(f.rev_attributes & attributes::OUT_OF_SEQUENCE, 0);
    assert_eq!(f.end_ns, 3 * S, "end time never goes backwards");
}

#[test]
fn tcp_same_size_counts_payload_bytes_and_ignores_keepalives() {
    use crate::decode::tcp_flags::*;
    let (mut t, mut out) = table(no_dpi());
    let mut seg = |seq, app_len| {
        let mut p = tcp_pkt(a(), b(), 7, 53, seq, ACK);
        p.app_len = app_len;
        p.ip_len = 40 + app_len;
        t.observe(S, &p, &mut out);
    };
    seg(1000, 0); // pure ACK: not compared
    seg(1000, 100);
    seg(1100, 100);
    seg(1200, 0); // pure ACK
    seg(1199, 1); // keep-alive probe (seq one below the last): ignored
    t.flush_all(end_reason::FORCED, &mut out);
    assert_ne!(out[0].attributes & attributes::SAME_SIZE, 0);
}

#[test]
fn full_table_evicts_least_recently_seen_with_resource_reason() {
    let (mut t, mut out) = table(FlowConfig {
        max_flows: 2,
        ..no_dpi()
    });
    t.observe(S, &udp_pkt(a(), b(), 1, 53, 60, b""), &mut out);
    t.observe(2 * S, &udp_pkt(a(), b(), 2, 53, 60, b""), &mut out);
    t.observe(3 * S, &udp_pkt(a(), b(), 1, 53, 60, b""), &mut out); // flow 1 is fresh again
    t.observe(4 * S, &udp_pkt(a(), b(), 3, 53, 60, b""), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].sport, out[0].end_reason), (2, end_reason::RESOURCE));
    assert_eq!(t.len(), 2);
    assert_eq!(t.stats().resource_evictions, 1);
    assert_eq!(t.stats().peak, 2);
}

#[test]
fn end_of_input_flush_ends_everything_with_reason_4() {
    let (mut t, mut out) = table(no_dpi());
    for p in 0..100u16 {
        t.observe(S, &udp_pkt(a(), b(), 1000 + p, 53, 60, b""), &mut out);
    }
    t.flush_all(end_reason::FORCED, &mut out);
    assert_eq!(out.len(), 100);
    assert!(out.iter().all(|f| f.end_reason == end_reason::FORCED));
    assert!(t.is_empty());
    assert_eq!(t.stats().flows_ended, 100);
}

/// rusticata wireshark_samples-test.pcapng: a one-packet UDP broadcast
/// 300.24 s before the capture's last packet. YAF's final flush ends flows
/// already idle with reason 1 before forcing the rest out with 4; the sweep
/// (up to a grace period late) had not got to it yet.
#[test]
fn end_of_input_flush_ends_flows_already_idle_as_idle() {
    let (mut t, mut out) = table(FlowConfig {
        idle_timeout_ns: 300 * S,
        ..no_dpi()
    });
    let bcast = IpAddr::from([192, 168, 1, 255]);
    t.observe(S, &udp_pkt(a(), bcast, 48874, 15600, 66, b""), &mut out);
    // exactly 300 s later the broadcast is not idle yet (YAF: idle is "> 300 s")
    t.observe(301 * S, &udp_pkt(a(), b(), 1, 53, 60, b""), &mut out);
    t.observe(
        301 * S + S / 4,
        &udp_pkt(a(), b(), 2, 53, 60, b""),
        &mut out,
    );
    assert!(out.is_empty(), "within the sweep's grace period");
    t.flush_all(end_reason::FORCED, &mut out);
    let reason = |sport| out.iter().find(|f| f.sport == sport).unwrap().end_reason;
    assert_eq!(reason(48874), end_reason::IDLE);
    assert_eq!(reason(1), end_reason::FORCED);
    assert_eq!(reason(2), end_reason::FORCED);
    assert_eq!(t.stats().idle_expired, 1);

    // the boundary: 300 s after its last packet a flow is still not idle
    let (mut t, mut out) = table(FlowConfig {
        idle_timeout_ns: 300 * S,
        ..no_dpi()
    });
    t.observe(S, &udp_pkt(a(), bcast, 48874, 15600, 66, b""), &mut out);
    t.observe(301 * S, &udp_pkt(a(), b(), 1, 53, 60, b""), &mut out);
    t.flush_all(end_reason::FORCED, &mut out);
    assert!(out.iter().all(|f| f.end_reason == end_reason::FORCED));
}

#[test]
fn vlan_in_key_and_reverse_vlan() {
    let mut p1 = udp_pkt(a(), b(), 1, 53, 60, b"");
    p1.vlan = 10;
    let mut p2 = udp_pkt(b(), a(), 53, 1, 60, b"");
    p2.vlan = 20;
    let (mut t, mut out) = table(no_dpi());
    t.observe(S, &p1, &mut out);
    t.observe(S, &p2, &mut out);
    assert_eq!(t.len(), 2, "different VLANs are different flows");
    let (mut t, mut out) = table(FlowConfig {
        vlan_in_key: false,
        ..no_dpi()
    });
    t.observe(S, &p1, &mut out);
    t.observe(S, &p2, &mut out);
    t.flush_all(end_reason::FORCED, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].vlan, out[0].rev_vlan), (10, 20));
}

#[test]
fn fragmented_attribute() {
    let (mut t, mut out) = table(no_dpi());
    let mut p = udp_pkt(b(), a(), 53, 1, 3000, b"");
    p.fragmented = true;
    t.observe(S, &udp_pkt(a(), b(), 1, 53, 60, b""), &mut out);
    t.observe(S, &p, &mut out);
    t.flush_all(end_reason::FORCED, &mut out);
    assert_eq!(out[0].attributes & attributes::FRAGMENTED, 0);
    assert_ne!(out[0].rev_attributes & attributes::FRAGMENTED, 0);
}

/// A DNS query for "a.example." type A, id 0x1234 (RD set).
fn dns_query() -> Vec<u8> {
    let mut m = vec![
        0x12, 0x34, 0x01, 0x00, // id, flags: RD
        0, 1, 0, 0, 0, 0, 0, 0, // qd=1 an=0 ns=0 ar=0
    ];
    m.extend_from_slice(b"\x01a\x07example\x00");
    m.extend_from_slice(&[0, 1, 0, 1]); // type A, class IN
    m
}

/// The matching response with one A record 192.0.2.1, TTL 300.
fn dns_response() -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    m.extend_from_slice(b"\x01a\x07example\x00");
    m.extend_from_slice(&[0, 1, 0, 1]);
    m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1]);
    m
}

#[test]
fn dns_payload_sets_app_label_and_collects_records() {
    let (mut t, mut out) = table(FlowConfig::default());
    let q = dns_query();
    let r = dns_response();
    // on a port that is not a DNS port: recognised by payload
    t.observe(S, &udp_pkt(a(), b(), 40000, 8053, 60, &q), &mut out);
    t.observe(S + 10, &udp_pkt(b(), a(), 8053, 40000, 80, &r), &mut out);
    t.flush_all(end_reason::FORCED, &mut out);
    assert_eq!(out[0].app_label, 53);
    // query: 1 question; NOERROR response: the answer only (YAF rules)
    assert_eq!(out[0].dns.len(), 2, "{:?}", out[0].dns);
    assert!(t.dns_stats().messages >= 2);
}

/// nDPI fuzz-2006-06-26-2594.pcap: the NetBIOS broadcast flow
/// 192.168.1.2:137 > 192.168.1.255:137 starts with a name query (YAF: label
/// 137, no DNS records) and later carries fuzzed datagrams that look like
/// DNS (its frame 2: type 54); the unicast flow to 192.168.1.112 starts with
/// one whose type became 40 (YAF: label 53, its question exported).
#[test]
fn netbios_flow_stays_netbios_and_a_dns_shaped_one_on_137_is_dns() {
    let nbns = |qtype: u16, c27: u8| {
        let mut m = vec![0x85, 0x3d, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 0x20];
        m.extend_from_slice(b"EFEDEJFPEEEPENEBEJEOCACACACACABM");
        m[12 + 1 + 27] = c27;
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        m
    };
    let bcast = IpAddr::from([192, 168, 1, 255]);
    let (mut t, mut out) = table(FlowConfig::default());
    let (nb, dnsish, sink) = (nbns(0x20, b'A'), nbns(54, b'A'), nbns(40, 0xF5));
    t.observe(S, &udp_pkt(a(), bcast, 137, 137, 78, &nb), &mut out);
    t.observe(2 * S, &udp_pkt(a(), bcast, 137, 137, 78, &dnsish), &mut out);
    t.observe(3 * S, &udp_pkt(a(), b(), 137, 137, 78, &sink), &mut out);
    t.flush_all(end_reason::FORCED, &mut out);
    let nb_flow = out.iter().find(|f| f.dst == bcast).unwrap();
    assert_eq!((nb_flow.packets, nb_flow.app_label), (2, 0));
    assert!(nb_flow.dns.is_empty());
    let dns_flow = out.iter().find(|f| f.dst == b()).unwrap();
    assert_eq!(dns_flow.app_label, 53);
    assert_eq!(dns_flow.dns.len(), 1);
    assert_eq!(
        dns_flow.dns[0].qname,
        "EFEDEJFPEEEPENEBEJEOCACACAC\\xF5CABM."
    );
    assert_eq!(dns_flow.dns[0].head.rrtype, 40);
}

#[test]
fn non_dns_payload_gets_no_label_and_stops_being_checked() {
    let (mut t, mut out) = table(FlowConfig::default());
    for i in 0..10 {
        t.observe(
            S + i,
            &udp_pkt(a(), b(), 40000, 8080, 60, b"GET / HTTP/1.1\r\n\r\n"),
            &mut out,
        );
    }
    t.flush_all(end_reason::FORCED, &mut out);
    assert_eq!(out[0].app_label, 0);
    assert!(out[0].dns.is_empty());
}

#[test]
fn entry_size_is_reported() {
    // memory per flow is a stated goal: keep an eye on the entry size
    let n = FlowTable::entry_size();
    assert!(n <= 190, "flow entry grew to {n} bytes");
}

#[test]
fn icmp_same_type_both_ways_is_one_biflow_echo_pairs_are_two() {
    let icmp = |src, dst, ty_code: u16| PacketMeta {
        proto: proto::ICMPV6,
        sport: 0,
        dport: ty_code,
        ..udp_pkt(src, dst, 0, 0, 72, b"")
    };
    let (mut t, mut out) = table(no_dpi());
    // neighbour advertisements (136/0) both ways
    t.observe(S, &icmp(a(), b(), 0x8800), &mut out);
    t.observe(S + 1, &icmp(b(), a(), 0x8800), &mut out);
    // echo request from b (128/0), reply from a (129/0)
    t.observe(S + 2, &icmp(b(), a(), 0x8000), &mut out);
    t.observe(S + 3, &icmp(a(), b(), 0x8100), &mut out);
    t.flush_all(end_reason::FORCED, &mut out);
    out.sort_by_key(|f| f.start_ns);
    assert_eq!(out.len(), 3);
    assert_eq!((out[0].src, out[0].sport, out[0].dport), (a(), 0, 0x8800));
    assert_eq!((out[0].packets, out[0].rev_packets), (1, 1));
    assert_eq!(
        (out[1].src, out[1].dport, out[1].rev_packets),
        (b(), 0x8000, 0)
    );
    assert_eq!(
        (out[2].src, out[2].dport, out[2].rev_packets),
        (a(), 0x8100, 0)
    );
}

#[test]
fn packets_after_a_partial_flush_find_the_flows_still_held() {
    let (mut t, mut out) = table(no_dpi());
    for port in 1..=10u16 {
        t.observe(S, &udp_pkt(a(), b(), port, 53, 60, b""), &mut out);
    }
    assert!(t.flush_some(end_reason::FORCED, 4, &mut out));
    assert_eq!((out.len(), t.len()), (4, 6));
    // A packet of a flow still held joins it; one of an ended flow starts a new one.
    t.observe(2 * S, &udp_pkt(b(), a(), 53, 10, 80, b""), &mut out);
    t.observe(2 * S, &udp_pkt(a(), b(), 1, 53, 60, b""), &mut out);
    assert_eq!(t.len(), 7);
    t.flush_all(end_reason::FORCED, &mut out);
    assert_eq!((out.len(), t.len()), (11, 0));
    let f10 = out.iter().find(|r| r.sport == 10).unwrap();
    assert_eq!((f10.packets, f10.rev_packets), (1, 1));
    assert_eq!(out.iter().filter(|r| r.sport == 1).count(), 2);
    // Ended in queue order: the oldest first, the new flow of port 1 last.
    assert_eq!(
        out.iter().map(|r| r.sport).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1]
    );
}
