//! Decoder tests over hand-built frames.

use super::link::dlt;
use super::*;

/// IPv4 header (20 bytes, no options) with checksum left 0: the decoder
/// does not verify checksums (neither does YAF).
fn ipv4(
    tos: u8,
    total_len: u16,
    ident: u16,
    frag: u16,
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
) -> Vec<u8> {
    let mut v = vec![
        0x45, tos, // version 4, IHL 5; TOS
    ];
    v.extend_from_slice(&total_len.to_be_bytes());
    v.extend_from_slice(&ident.to_be_bytes());
    v.extend_from_slice(&frag.to_be_bytes()); // flags (MF = 0x2000) + offset/8
    v.extend_from_slice(&[64, proto, 0, 0]); // TTL, protocol, checksum
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0]); // checksum (none)
    v.extend_from_slice(payload);
    v
}

fn ether(et: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, // destination MAC
        0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, // source MAC
    ];
    v.extend_from_slice(&et.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let u = udp(sport, dport, payload);
    let mut p = ipv4(0, 20 + u.len() as u16, 1, 0, 17, src, dst);
    p.extend_from_slice(&u);
    p
}

fn dec() -> Decoder {
    Decoder::new(Some(DefragConfig::default()))
}

#[test]
fn ethernet_ipv4_udp() {
    let u = udp(40000, 53, b"hello");
    let mut ip = ipv4(
        0x28,
        20 + u.len() as u16,
        7,
        0x4000, /* DF */
        17,
        [10, 0, 0, 1],
        [10, 0, 0, 2],
    );
    ip.extend_from_slice(&u);
    let f = ether(0x0800, &ip);
    let mut d = dec();
    let Decoded::Packet(m) = d.decode(0, dlt::EN10MB, &f) else {
        panic!("not decoded")
    };
    assert_eq!(m.src, IpAddr::from([10, 0, 0, 1]));
    assert_eq!(m.dst, IpAddr::from([10, 0, 0, 2]));
    assert_eq!((m.proto, m.sport, m.dport), (17, 40000, 53));
    assert_eq!((m.tos, m.vlan, m.ip_len), (0x28, 0, 33));
    assert_eq!(m.payload, b"hello");
    assert!(!m.fragmented && m.tcp.is_none());
    assert_eq!(d.stats().decoded, 1);
}

#[test]
fn vlan_and_qinq_take_the_inner_tag() {
    let ip = udp4([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, b"x");
    // 802.1Q tag: TCI 0x0064 (VLAN 100), inner EtherType IPv4
    let mut tagged = vec![0x00, 0x64, 0x08, 0x00];
    tagged.extend_from_slice(&ip);
    let f = ether(0x8100, &tagged);
    let mut d = dec();
    let Decoded::Packet(m) = d.decode(0, dlt::EN10MB, &f) else {
        panic!()
    };
    assert_eq!(m.vlan, 100);
    // QinQ: 802.1ad outer (0x88A8) VLAN 300 (PCP 5 set in TCI), inner 802.1Q VLAN 200
    let mut qinq = vec![0xA1, 0x2C, 0x81, 0x00, 0x00, 0xC8, 0x08, 0x00];
    qinq.extend_from_slice(&ip);
    let f = ether(0x88A8, &qinq);
    let Decoded::Packet(m) = d.decode(0, dlt::EN10MB, &f) else {
        panic!()
    };
    assert_eq!(m.vlan, 200);
    assert_eq!(m.payload, b"x");
}

#[test]
fn ipv6_with_extension_headers() {
    let u = udp(5353, 5353, b"mdns");
    // hop-by-hop (next: dest opts 60), len 0 => 8 bytes, PadN
    let hbh = [60u8, 0, 1, 4, 0, 0, 0, 0];
    // destination options (next: UDP 17), len 0 => 8 bytes
    let dopt = [17u8, 0, 1, 4, 0, 0, 0, 0];
    let plen = (hbh.len() + dopt.len() + u.len()) as u16;
    let mut ip = vec![0x6A, 0xB0, 0x00, 0x00]; // version 6, traffic class 0xAB, flow label 0
    ip.extend_from_slice(&plen.to_be_bytes());
    ip.extend_from_slice(&[0, 255]); // next header hop-by-hop, hop limit
    ip.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    ip.extend_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb]);
    ip.extend_from_slice(&hbh);
    ip.extend_from_slice(&dopt);
    ip.extend_from_slice(&u);
    let f = ether(0x86DD, &ip);
    let mut d = dec();
    let Decoded::Packet(m) = d.decode(0, dlt::EN10MB, &f) else {
        panic!()
    };
    assert_eq!((m.proto, m.sport, m.dport), (17, 5353, 5353));
    assert_eq!(m.tos, 0xAB);
    assert_eq!(m.ip_len, 40 + u32::from(plen));
    assert_eq!(m.payload, b"mdns");
    assert!(m.dst.is_ipv6());
}

#[test]
fn icmp_type_code_becomes_destination_port() {
    // echo request: type 8 code 0, checksum, id, seq
    let icmp = [8u8, 0, 0, 0, 0, 1, 0, 1, b'p', b'i', b'n', b'g'];
    let mut ip = ipv4(
        0,
        20 + icmp.len() as u16,
        1,
        0,
        1,
        [1, 2, 3, 4],
        [5, 6, 7, 8],
    );
    ip.extend_from_slice(&icmp);
    let mut d = dec();
    let Decoded::Packet(m) = d.decode(0, dlt::RAW, &ip) else {
        panic!()
    };
    assert_eq!((m.proto, m.sport, m.dport), (1, 0, 0x0800));
    // ICMPv6 destination unreachable type 1 code 4 over raw IPv6 (DLT 229)
    let icmp6 = [1u8, 4, 0, 0, 0, 0, 0, 0];
    let mut ip6 = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
    ip6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    ip6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    ip6.extend_from_slice(&icmp6);
    let Decoded::Packet(m) = d.decode(0, dlt::IPV6, &ip6) else {
        panic!()
    };
    assert_eq!((m.proto, m.dport), (58, 0x0104));
}

#[test]
fn tcp_fields_and_mptcp() {
    let tcp = vec![
        0x9c, 0x40, 0x00, 0x35, // ports 40000 -> 53
        0x01, 0x02, 0x03, 0x04, // seq
        0, 0, 0, 0, // ack
        0x90, 0x02, // data offset 9 (36 bytes), flags SYN
        0xff, 0xff, 0, 0, 0, 0, // window, checksum, urgent
        // options: NOP, NOP, MPTCP (30) len 12 subtype 0 (MP_CAPABLE) ver 1, key (8)
        1, 1, 30, 12, 0x01, 0x81, 1, 2, 3, 4, 5, 6, 7, 8, 1,
        1, // NOP padding to the data offset
    ];
    assert_eq!(tcp.len(), 36);
    let mut ip = ipv4(
        0,
        20 + tcp.len() as u16,
        1,
        0,
        6,
        [1, 1, 1, 1],
        [2, 2, 2, 2],
    );
    ip.extend_from_slice(&tcp);
    let mut d = dec();
    let Decoded::Packet(m) = d.decode(0, dlt::IPV4, &ip) else {
        panic!()
    };
    assert_eq!(
        m.tcp,
        Some(TcpMeta {
            seq: 0x01020304,
            flags: tcp_flags::SYN,
            mp_capable: true
        })
    );
    assert_eq!((m.sport, m.dport), (40000, 53));
    assert!(m.payload.is_empty());
    // same with the subtype changed to MP_JOIN (1): not MP_CAPABLE
    let mut tcp2 = tcp.clone();
    tcp2[24] = 0x11;
    let mut ip = ipv4(
        0,
        20 + tcp2.len() as u16,
        1,
        0,
        6,
        [1, 1, 1, 1],
        [2, 2, 2, 2],
    );
    ip.extend_from_slice(&tcp2);
    let Decoded::Packet(m) = d.decode(0, dlt::IPV4, &ip) else {
        panic!()
    };
    assert!(!m.tcp.unwrap().mp_capable);
}

#[test]
fn snaplen_truncated_packet_counts_ip_length() {
    let big = vec![0u8; 1000];
    let full = udp4([1, 1, 1, 1], [2, 2, 2, 2], 1000, 53, &big);
    let f = ether(0x0800, &full);
    let cut = &f[..14 + 20 + 8 + 12];
    let mut d = dec();
    let Decoded::Packet(m) = d.decode(0, dlt::EN10MB, cut) else {
        panic!()
    };
    assert_eq!(m.ip_len, 1028);
    assert_eq!(m.payload.len(), 12);
}

/// nDPI fuzz-2006-06-26-2594.pcap frame 669: EtherType IPv4, but the
/// fuzzer turned the version nibble into 6 ("60 00 00 48 ..."). Read by
/// the nibble it would be an IPv6 flow of garbage addresses claiming
/// 27,778 octets; it is a corrupt frame and is dropped, as is the converse.
#[test]
fn ethertype_and_ip_version_must_agree() {
    let mut d = dec();
    let mut v6_in_v4 = udp4([192, 168, 1, 2], [192, 168, 1, 1], 2827, 53, b"q");
    v6_in_v4[0] = 0x60; // version 6, traffic class 0
    let f = ether(0x0800, &v6_in_v4);
    assert_eq!(
        d.decode(0, dlt::EN10MB, &f),
        Decoded::Ignored(Ignored::Malformed)
    );
    // the same under an 802.1Q tag (inner EtherType IPv4)
    let mut tagged = vec![0x00, 0x64, 0x08, 0x00];
    tagged.extend_from_slice(&v6_in_v4);
    assert_eq!(
        d.decode(0, dlt::EN10MB, &ether(0x8100, &tagged)),
        Decoded::Ignored(Ignored::Malformed)
    );
    // a well-formed IPv4 packet behind EtherType IPv6
    let v4 = udp4([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, b"x");
    assert_eq!(
        d.decode(0, dlt::EN10MB, &ether(0x86DD, &v4)),
        Decoded::Ignored(Ignored::Malformed)
    );
    assert_eq!(d.stats().malformed, 3);
    // raw IP has no EtherType: the nibble decides
    assert!(matches!(d.decode(0, dlt::RAW, &v4), Decoded::Packet(_)));
    assert!(matches!(
        d.decode(0, dlt::EN10MB, &ether(0x0800, &v4)),
        Decoded::Packet(_)
    ));
}

#[test]
fn non_ip_and_broken_frames_are_counted_not_fatal() {
    let mut d = dec();
    // ARP
    let f = ether(0x0806, &[0, 1, 8, 0, 6, 4, 0, 1]);
    assert_eq!(
        d.decode(0, dlt::EN10MB, &f),
        Decoded::Ignored(Ignored::NotIp)
    );
    // IPv4 header cut inside the addresses
    let ip = udp4([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, b"");
    assert_eq!(
        d.decode(0, dlt::RAW, &ip[..15]),
        Decoded::Ignored(Ignored::Malformed)
    );
    // UDP header cut short (not a fragment)
    assert_eq!(
        d.decode(0, dlt::RAW, &ip[..24]),
        Decoded::Ignored(Ignored::Transport)
    );
    // 802.11
    assert_eq!(d.decode(0, 105, &ip), Decoded::Ignored(Ignored::LinkType));
    // version nibble 7
    assert_eq!(
        d.decode(0, dlt::RAW, &[0x70, 0, 0, 0]),
        Decoded::Ignored(Ignored::Malformed)
    );
    assert_eq!(
        d.decode(0, dlt::RAW, &[]),
        Decoded::Ignored(Ignored::Malformed)
    );
    let s = d.stats();
    assert_eq!(
        (s.not_ip, s.malformed, s.transport, s.link_type, s.decoded),
        (1, 3, 1, 1, 0)
    );
    assert_eq!(s.ignored(), 6);
}

#[test]
fn other_link_types_reach_the_same_packet() {
    let ip = udp4([9, 9, 9, 9], [8, 8, 8, 8], 1234, 53, b"q");
    let mut d = dec();
    let mut null = vec![2, 0, 0, 0];
    null.extend_from_slice(&ip);
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    sll2.extend_from_slice(&ip);
    let mut nflog = vec![2, 0, 0, 0, 8, 0, 9, 0];
    nflog[4] = (4 + ip.len()) as u8;
    nflog.extend_from_slice(&ip);
    for (lt, f) in [
        (dlt::NULL, null),
        (dlt::LINUX_SLL2, sll2),
        (dlt::NFLOG, nflog),
        (dlt::IPV4, ip.clone()),
    ] {
        let Decoded::Packet(m) = d.decode(0, lt, &f) else {
            panic!("link type {lt}")
        };
        assert_eq!(
            (m.sport, m.dport, m.payload),
            (1234, 53, &b"q"[..]),
            "link type {lt}"
        );
    }
}

/// A UDP datagram of 8 + 40 bytes split into fragments of 16, 16 and 16 bytes.
fn fragments(ident: u16) -> (Vec<u8>, Vec<Vec<u8>>) {
    let payload: Vec<u8> = (0u8..40).collect();
    let dgram = udp(5000, 53, &payload);
    assert_eq!(dgram.len(), 48);
    let mut frags = Vec::new();
    for (i, chunk) in dgram.chunks(16).enumerate() {
        let more = if i < 2 { 0x2000 } else { 0 };
        let off = (i * 16 / 8) as u16;
        let mut p = ipv4(
            0,
            20 + chunk.len() as u16,
            ident,
            more | off,
            17,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
        );
        p.extend_from_slice(chunk);
        frags.push(p);
    }
    (payload, frags)
}

fn feed(d: &mut Decoder, ts: u64, f: &[u8]) -> Option<(u16, u16, u32, Vec<u8>, bool)> {
    match d.decode(ts, dlt::RAW, f) {
        Decoded::Packet(m) => Some((m.sport, m.dport, m.ip_len, m.payload.to_vec(), m.fragmented)),
        Decoded::Held => None,
        Decoded::Ignored(i) => panic!("ignored: {i:?}"),
    }
}

#[test]
fn fragments_in_order() {
    let (payload, fr) = fragments(1);
    let mut d = dec();
    assert!(feed(&mut d, 0, &fr[0]).is_none());
    assert!(feed(&mut d, 1, &fr[1]).is_none());
    let got = feed(&mut d, 2, &fr[2]).unwrap();
    assert_eq!(got, (5000, 53, 20 + 48, payload, true));
    assert_eq!(d.defrag_stats().assembled, 1);
    assert_eq!(d.defrag.as_ref().unwrap().pending(), 0);
}

#[test]
fn fragments_out_of_order_and_duplicated() {
    let (payload, fr) = fragments(2);
    let mut d = dec();
    assert!(feed(&mut d, 0, &fr[2]).is_none());
    assert!(feed(&mut d, 0, &fr[2]).is_none()); // duplicate
    assert!(feed(&mut d, 0, &fr[1]).is_none());
    let got = feed(&mut d, 0, &fr[0]).unwrap();
    assert_eq!(got.3, payload);
    // a late duplicate of a finished datagram starts a new one that never completes
    assert!(feed(&mut d, 0, &fr[1]).is_none());
    assert_eq!(d.defrag_stats().assembled, 1);
    d.flush();
    assert_eq!(d.defrag_stats().expired, 1);
}

#[test]
fn interleaved_datagrams_do_not_mix() {
    let (p1, a) = fragments(10);
    let (_, b) = fragments(11);
    let mut d = dec();
    feed(&mut d, 0, &a[0]);
    feed(&mut d, 0, &b[0]);
    feed(&mut d, 0, &a[1]);
    feed(&mut d, 0, &b[2]);
    assert_eq!(feed(&mut d, 0, &a[2]).unwrap().3, p1);
    assert_eq!(d.defrag.as_ref().unwrap().pending(), 1);
}

#[test]
fn fragments_time_out_in_packet_time() {
    let (_, fr) = fragments(3);
    let mut d = dec();
    feed(&mut d, 1_000_000_000, &fr[0]);
    feed(&mut d, 2_000_000_000, &fr[1]);
    // 31 s after the first fragment the datagram is gone: the last fragment
    // alone cannot complete it
    d.sweep(32_000_000_000);
    assert_eq!(d.defrag_stats().expired, 1);
    assert!(feed(&mut d, 32_000_000_001, &fr[2]).is_none());
    assert_eq!(d.defrag_stats().assembled, 0);
}

#[test]
fn fragment_memory_cap_evicts_oldest() {
    let cfg = DefragConfig {
        timeout_ns: u64::MAX / 2,
        max_bytes: 100,
        max_datagrams: 1000,
    };
    let mut d = Decoder::new(Some(cfg));
    // 10 datagrams each holding 16 bytes: only ~6 fit under 100 bytes
    let sets: Vec<_> = (0..10u16).map(|i| fragments(100 + i).1).collect();
    for (i, s) in sets.iter().enumerate() {
        feed(&mut d, i as u64, &s[0]);
    }
    let df = d.defrag.as_ref().unwrap();
    assert!(df.held_bytes() <= 100, "held {}", df.held_bytes());
    assert_eq!(df.pending(), 6);
    assert_eq!(d.defrag_stats().evicted, 4);
    // the newest survivors still complete
    assert!(feed(&mut d, 20, &sets[9][1]).is_none());
    assert!(feed(&mut d, 21, &sets[9][2]).is_some());
    // the oldest was evicted: its remaining fragments do not complete it
    feed(&mut d, 22, &sets[0][1]);
    assert!(feed(&mut d, 23, &sets[0][2]).is_none());
}

#[test]
fn fragment_count_cap() {
    let cfg = DefragConfig {
        timeout_ns: u64::MAX / 2,
        max_bytes: 1 << 20,
        max_datagrams: 3,
    };
    let mut d = Decoder::new(Some(cfg));
    for i in 0..5u16 {
        feed(&mut d, u64::from(i), &fragments(200 + i).1[0]);
    }
    assert_eq!(d.defrag.as_ref().unwrap().pending(), 3);
    assert_eq!(d.defrag_stats().evicted, 2);
}

#[test]
fn ipv6_fragments_reassemble() {
    let payload: Vec<u8> = (0u8..24).collect();
    let dgram = udp(5353, 53, &payload); // 32 bytes
    let src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let dst = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let mk = |chunk: &[u8], off: u16, more: bool| {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
        v.extend_from_slice(&[44, 64]); // next header: Fragment
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        // fragment header: next UDP, reserved, offset<<3 | M, identification
        v.extend_from_slice(&[17, 0]);
        v.extend_from_slice(&((off << 3) | u16::from(more)).to_be_bytes());
        v.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        v.extend_from_slice(chunk);
        v
    };
    let f1 = mk(&dgram[..16], 0, true);
    let f2 = mk(&dgram[16..], 2, false);
    let mut d = dec();
    assert_eq!(d.decode(0, dlt::IPV6, &f2), Decoded::Held);
    let Decoded::Packet(m) = d.decode(0, dlt::IPV6, &f1) else {
        panic!()
    };
    assert_eq!((m.sport, m.dport, m.payload), (5353, 53, &payload[..]));
    assert!(m.fragmented);
}

#[test]
fn no_frag_mode_uses_first_fragment_only() {
    let (_, fr) = fragments(4);
    let mut d = Decoder::new(None);
    let Decoded::Packet(m) = d.decode(0, dlt::RAW, &fr[0]) else {
        panic!()
    };
    assert_eq!((m.sport, m.dport, m.fragmented), (5000, 53, true));
    assert_eq!(
        d.decode(0, dlt::RAW, &fr[1]),
        Decoded::Ignored(Ignored::Fragment)
    );
}

#[test]
fn pppoe_under_qinq_and_mpls() {
    let ip = udp4([82, 178, 113, 245], [82, 178, 158, 181], 47255, 53, b"dns");
    // QinQ (two 802.1Q tags: 421, 785) then PPPoE session: ver/type 0x11,
    // code 0, session 0x556a, length, PPP protocol 0x0021 (IPv4)
    let mut f = vec![0x01, 0xa5, 0x81, 0x00, 0x03, 0x11, 0x88, 0x64];
    f.extend_from_slice(&[0x11, 0x00, 0x55, 0x6a]);
    f.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
    f.extend_from_slice(&[0x00, 0x21]);
    f.extend_from_slice(&ip);
    let frame = ether(0x8100, &f);
    let mut d = dec();
    let Decoded::Packet(m) = d.decode(0, dlt::EN10MB, &frame) else {
        panic!("PPPoE not decoded")
    };
    assert_eq!(
        (m.sport, m.dport, m.vlan, m.payload),
        (47255, 53, 785, &b"dns"[..])
    );
    // PPPoE carrying LCP (0xc021) is not IP
    let mut lcp = f.clone();
    lcp[14] = 0xc0;
    assert_eq!(
        d.decode(0, dlt::EN10MB, &ether(0x8100, &lcp)),
        Decoded::Ignored(Ignored::NotIp)
    );
    // MPLS: two labels, the second with bottom-of-stack set
    let mut mpls = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
    mpls.extend_from_slice(&ip);
    let mframe = ether(0x8847, &mpls);
    let Decoded::Packet(m) = d.decode(0, dlt::EN10MB, &mframe) else {
        panic!("MPLS")
    };
    assert_eq!((m.sport, m.dport), (47255, 53));
    // a label stack that never ends
    let endless = vec![0u8; 80];
    assert_eq!(
        d.decode(0, dlt::EN10MB, &ether(0x8847, &endless)),
        Decoded::Ignored(Ignored::NotIp)
    );
}

mod hostile {
    //! Random and mutated frames: decoding never panics, and reassembly
    //! stays within its caps whatever the fragments claim.
    use super::*;
    use proptest::prelude::*;

    const LINK_TYPES: [u32; 11] = [
        dlt::NULL,
        dlt::EN10MB,
        dlt::RAW_BSD12,
        dlt::RAW_BSD14,
        dlt::RAW,
        dlt::LOOP,
        dlt::LINUX_SLL,
        dlt::IPV4,
        dlt::IPV6,
        dlt::NFLOG,
        dlt::LINUX_SLL2,
    ];

    fn seed_frames() -> Vec<(u32, Vec<u8>)> {
        let ip = udp4(
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            1234,
            53,
            b"\x12\x34\x01\x00\x00\x01",
        );
        let (_, frags) = fragments(77);
        let mut v = vec![(dlt::EN10MB, ether(0x0800, &ip)), (dlt::RAW, ip.clone())];
        let mut tagged = vec![0x00, 0x64, 0x08, 0x00];
        tagged.extend_from_slice(&ip);
        v.push((dlt::EN10MB, ether(0x8100, &tagged)));
        let mut pppoe = vec![0x11, 0, 0, 1, 0, 0, 0x00, 0x21];
        pppoe.extend_from_slice(&ip);
        v.push((dlt::EN10MB, ether(0x8864, &pppoe)));
        for f in frags {
            v.push((dlt::RAW, f));
        }
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_on_every_link_type(lt in 0usize..LINK_TYPES.len(), data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut d = Decoder::new(Some(DefragConfig::default()));
            let _ = d.decode(0, LINK_TYPES[lt], &data);
        }

        #[test]
        fn mutated_real_frames(seed in 0usize..8, flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6), cut in any::<u16>()) {
            let frames = seed_frames();
            let (lt, mut f) = frames[seed % frames.len()].clone();
            for (at, b) in flips {
                let n = f.len();
                f[at as usize % n] = b;
            }
            f.truncate(usize::from(cut) % (f.len() + 1) + 1);
            let mut d = Decoder::new(Some(DefragConfig::default()));
            if let Decoded::Packet(m) = d.decode(0, lt, &f) {
                prop_assert!(m.payload.len() <= f.len());
            }
        }

        #[test]
        fn random_fragments_stay_within_caps(frags in proptest::collection::vec((0u16..4, 0u16..2000, any::<bool>(), 1usize..300), 1..200)) {
            let cfg = DefragConfig { timeout_ns: 5_000_000_000, max_bytes: 4096, max_datagrams: 8 };
            let mut d = Decoder::new(Some(cfg));
            for (i, (id, off8, more, len)) in frags.into_iter().enumerate() {
                let payload = vec![0xab; len];
                let frag = (if more { 0x2000 } else { 0 }) | (off8 & 0x1fff);
                let mut p = ipv4(0, (20 + len) as u16, id, frag, 17, [1, 1, 1, 1], [2, 2, 2, 2]);
                p.extend_from_slice(&payload);
                let _ = d.decode(i as u64 * 100_000_000, dlt::RAW, &p);
                let df = d.defrag.as_ref().unwrap();
                prop_assert!(df.held_bytes() <= 4096, "held {}", df.held_bytes());
                prop_assert!(df.pending() <= 8);
            }
        }
    }
}

#[test]
fn one_datagram_larger_than_the_cap_is_dropped() {
    let cfg = DefragConfig {
        timeout_ns: u64::MAX / 2,
        max_bytes: 40,
        max_datagrams: 10,
    };
    let mut d = Decoder::new(Some(cfg));
    let (_, fr) = fragments(9); // 3 fragments of 16 bytes: 48 > 40
    assert!(feed(&mut d, 0, &fr[0]).is_none());
    assert!(feed(&mut d, 0, &fr[1]).is_none());
    assert!(
        feed(&mut d, 0, &fr[2]).is_none(),
        "must not complete past the cap"
    );
    assert!(d.defrag.as_ref().unwrap().held_bytes() <= 40);
    assert!(d.defrag_stats().evicted >= 1);
}

#[test]
fn v6_fragment_walks_the_chain_with_bounds_checks() {
    // hop-by-hop (next: fragment), then fragment offset 185*8, M set, ident 0x01020304.
    let ext = [44, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0x05, 0xC9, 1, 2, 3, 4];
    let f = v6_fragment(0, &ext).unwrap();
    assert!(!f.offset_is_zero);
    assert_eq!(f.ident, 0x0102_0304);
    // First fragment (offset 0, M set) behind an authentication header of 12 octets.
    let ah = [44, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let frag = [17, 0, 0x00, 0x01, 0, 0, 0, 9];
    let ext: Vec<u8> = ah.iter().chain(frag.iter()).copied().collect();
    let f = v6_fragment(51, &ext).unwrap();
    assert!(f.offset_is_zero);
    assert_eq!(f.ident, 9);
    // A fragment header cut short, a length pointing past the end, no fragment header,
    // an unknown header type: nothing, and no panic.
    assert!(v6_fragment(44, &[17, 0, 0, 0]).is_none());
    assert!(v6_fragment(0, &[44, 200, 0, 0, 0, 0, 0, 0]).is_none());
    assert!(v6_fragment(0, &[17, 0, 0, 0, 0, 0, 0, 0]).is_none());
    assert!(v6_fragment(99, &ext).is_none());
    assert!(v6_fragment(0, &[]).is_none());
}
