//! Packet decoding: link layer -> IP (with extension headers and fragment
//! reassembly) -> transport, producing the few fields the flow table needs.
//!
//! Decoding is lax on purpose: captures cut short by a snap length still
//! count (octets come from the IP header, as YAF counts them), and anything
//! malformed is counted and ignored, never a panic.

pub mod defrag;
pub mod link;

use std::net::IpAddr;

use etherparse::{EtherType, LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, SlicedPacket};

pub use defrag::{DefragConfig, DefragStats, Defragmenter};
use link::L3;

/// IP protocol numbers used here.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

/// TCP flag bits as in the header's 14th byte (YAF's flag encoding).
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// TCP fields the flow table keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpMeta {
    pub seq: u32,
    /// Flag byte (FIN 0x01 ... CWR 0x80).
    pub flags: u8,
    /// SYN carrying an MPTCP MP_CAPABLE option (flowAttributes 0x04).
    pub mp_capable: bool,
}

/// What the flow table needs from one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    /// Source port; 0 for protocols without ports (and for ICMP).
    pub sport: u16,
    /// Destination port; for ICMP/ICMPv6 `type << 8 | code`, as YAF does.
    pub dport: u16,
    /// Innermost 802.1Q VLAN id, 0 if untagged.
    pub vlan: u16,
    /// IPv4 TOS byte / IPv6 traffic class.
    pub tos: u8,
    /// IP total length (IPv6: 40 + payload length), i.e. what YAF adds to
    /// octetTotalCount; for a reassembled datagram its unfragmented length.
    pub ip_len: u32,
    /// The packet was put together from IP fragments.
    pub fragmented: bool,
    /// Application bytes on the wire: IP length minus IP and transport
    /// headers (YAF's `datalen`; not limited by the snap length).
    pub app_len: u32,
    pub tcp: Option<TcpMeta>,
    /// Transport payload as captured (may be shorter than on the wire).
    pub payload: &'a [u8],
}

/// Why a packet did not make it to the flow table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Link type we do not decode (802.11, ARCNET, ...).
    LinkType,
    /// Link payload that is not IP (ARP, LLDP, STP, ...).
    NotIp,
    /// Link or IP header truncated or invalid.
    Malformed,
    /// TCP/UDP header missing or cut short (not a fragment).
    Transport,
    /// A fragment that could not be reassembled (cut short or rejected).
    Fragment,
}

/// Outcome of decoding one frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    Packet(PacketMeta<'a>),
    /// A fragment was stored; its datagram is not complete yet.
    Held,
    Ignored(Ignored),
}

/// Decode counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    pub decoded: u64,
    pub link_type: u64,
    pub not_ip: u64,
    pub malformed: u64,
    pub transport: u64,
    pub fragment: u64,
}

impl DecodeStats {
    /// Packets the flow table never saw (YAF's ignoredPacketTotalCount).
    pub fn ignored(&self) -> u64 {
        self.link_type + self.not_ip + self.malformed + self.transport + self.fragment
    }
}

/// Stateful decoder (state = fragments in reassembly).
#[derive(Debug)]
pub struct Decoder {
    /// `None`: reassembly off; first fragments are used as they are.
    defrag: Option<Defragmenter>,
    reasm: Vec<u8>,
    stats: DecodeStats,
}

#[derive(Debug, PartialEq, Eq)]
struct NetInfo<'a> {
    src: IpAddr,
    dst: IpAddr,
    tos: u8,
    header_len: u32,
    ip_len: u32,
    proto: u8,
    fragmented: bool,
    /// Fragment offset is 0 (the transport header is in this fragment).
    first_fragment: bool,
    payload: &'a [u8],
}

fn net_info<'a>(pkt: &LaxSlicedPacket<'a>) -> Option<NetInfo<'a>> {
    match &pkt.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            let p = v4.payload();
            let header_len = u32::from(h.ihl()) * 4;
            // TSO captures carry total length 0: fall back to what is there.
            let ip_len = match u32::from(h.total_len()) {
                0 => header_len + p.payload.len() as u32,
                n => n,
            };
            Some(NetInfo {
                src: IpAddr::from(h.source()),
                dst: IpAddr::from(h.destination()),
                tos: h.slice().get(1).copied().unwrap_or(0),
                header_len,
                ip_len,
                proto: p.ip_number.0,
                fragmented: p.fragmented,
                first_fragment: h.fragments_offset().value() == 0,
                payload: p.payload,
            })
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            let p = v6.payload();
            let ext_len = v6.extensions().slice().len() as u32;
            let ip_len = match u32::from(h.payload_length()) {
                0 => 40 + ext_len + p.payload.len() as u32, // jumbogram / TSO
                n => 40 + n,
            };
            Some(NetInfo {
                src: IpAddr::from(h.source()),
                dst: IpAddr::from(h.destination()),
                tos: h.traffic_class(),
                header_len: 40 + ext_len,
                ip_len,
                proto: p.ip_number.0,
                fragmented: p.fragmented,
                first_fragment: v6_fragment(h.next_header().0, v6.extensions().slice())
                    .is_none_or(|f| f.offset_is_zero),
                payload: p.payload,
            })
        }
        _ => None,
    }
}

/// The fragment header of an IPv6 extension chain.
pub(crate) struct V6Fragment {
    pub offset_is_zero: bool,
    pub ident: u32,
}

/// Finds the fragment header in `ext`, the extension headers etherparse
/// sliced (the first of type `first`), checking bounds at every step.
/// Hand-written because etherparse 0.21's extension iterator reads past the
/// bytes its lax slicing validated when a hop-by-hop header follows another
/// (an out-of-bounds read found by the `packet` fuzz target; see
/// tests/fuzz_regressions.rs).
pub(crate) fn v6_fragment(first: u8, ext: &[u8]) -> Option<V6Fragment> {
    let (mut next, mut off) = (first, 0usize);
    while off < ext.len() {
        let h = ext.get(off..)?;
        let len = match next {
            // hop-by-hop, routing, destination options, mobility, HIP,
            // shim6, experimental: length in 8-octet units after the first.
            0 | 43 | 60 | 135 | 139 | 140 | 253 | 254 => (usize::from(*h.get(1)?) + 1) * 8,
            44 => {
                let b = h.get(..8)?;
                return Some(V6Fragment {
                    offset_is_zero: u16::from_be_bytes([b[2], b[3]]) & 0xFFF8 == 0,
                    ident: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                });
            }
            // authentication header: length in 4-octet units, minus 2.
            51 => (usize::from(*h.get(1)?) + 2) * 4,
            _ => return None,
        };
        next = *h.first()?;
        off += len;
    }
    None
}

/// The innermost 802.1Q tag's VLAN id, as YAF keys flows (with QinQ the
/// outer, provider tag may differ between the two directions).
fn inner_vlan(pkt: &LaxSlicedPacket<'_>) -> u16 {
    pkt.link_exts
        .iter()
        .rev()
        .find_map(|e| match e {
            LaxLinkExtSlice::Vlan(v) => Some(v.vlan_identifier().value()),
            _ => None,
        })
        .unwrap_or(0)
}

/// The IP packet inside a PPPoE session frame (EtherType 0x8864) or an
/// MPLS label stack (0x8847 unicast, 0x8848 multicast), if there is one.
fn encapsulated_ip(ether_type: u16, p: &[u8]) -> Option<&[u8]> {
    match ether_type {
        0x8864 => {
            // ver/type 0x11, code 0 (session data), session id, length,
            // then the PPP protocol: 0x0021 IPv4, 0x0057 IPv6.
            let (hdr, rest) = (p.get(..8)?, p.get(8..)?);
            if hdr[0] != 0x11 || hdr[1] != 0 {
                return None;
            }
            match u16::from_be_bytes([hdr[6], hdr[7]]) {
                0x0021 | 0x0057 => Some(rest),
                _ => None,
            }
        }
        0x8847 | 0x8848 => {
            // Labels until bottom-of-stack; a stack deeper than 16 labels
            // is not plausible and is not followed.
            for i in 0..16 {
                let label = p.get(i * 4..i * 4 + 4)?;
                if label[2] & 0x01 != 0 {
                    let rest = p.get(i * 4 + 4..)?;
                    return match rest.first()? >> 4 {
                        4 | 6 => Some(rest),
                        _ => None, // pseudowire (Ethernet over MPLS) etc.
                    };
                }
            }
            None
        }
        _ => None,
    }
}

/// MPTCP option (kind 30) with subtype 0 = MP_CAPABLE.
fn has_mp_capable(options: &[u8]) -> bool {
    let mut i = 0usize;
    while let Some(&kind) = options.get(i) {
        match kind {
            0 => return false,
            1 => i += 1,
            _ => {
                let Some(&len) = options.get(i + 1) else {
                    return false;
                };
                if len < 2 {
                    return false;
                }
                if kind == 30 && options.get(i + 2).is_some_and(|b| b >> 4 == 0) {
                    return true;
                }
                i += usize::from(len);
            }
        }
    }
    false
}

struct Transport<'a> {
    header_len: u32,
    sport: u16,
    dport: u16,
    tcp: Option<TcpMeta>,
    payload: &'a [u8],
}

fn transport(proto_num: u8, data: &[u8]) -> Result<Transport<'_>, Ignored> {
    match proto_num {
        proto::UDP => {
            let u = etherparse::UdpSlice::from_slice_lax(data).map_err(|_| Ignored::Transport)?;
            Ok(Transport {
                header_len: 8,
                sport: u.source_port(),
                dport: u.destination_port(),
                tcp: None,
                payload: u.payload(),
            })
        }
        proto::TCP => {
            let t = etherparse::TcpSlice::from_slice(data).map_err(|_| Ignored::Transport)?;
            let flags = t.header_slice().get(13).copied().unwrap_or(0);
            Ok(Transport {
                header_len: t.header_slice().len() as u32,
                sport: t.source_port(),
                dport: t.destination_port(),
                tcp: Some(TcpMeta {
                    seq: t.sequence_number(),
                    flags,
                    mp_capable: flags & tcp_flags::SYN != 0 && has_mp_capable(t.options()),
                }),
                payload: t.payload(),
            })
        }
        proto::ICMP | proto::ICMPV6 => {
            let (ty, code) = match data {
                [t, c, ..] => (*t, *c),
                _ => return Err(Ignored::Transport),
            };
            Ok(Transport {
                header_len: 8,
                sport: 0,
                dport: u16::from(ty) << 8 | u16::from(code),
                tcp: None,
                payload: data.get(8..).unwrap_or_default(),
            })
        }
        _ => Ok(Transport {
            header_len: 0,
            sport: 0,
            dport: 0,
            tcp: None,
            payload: data,
        }),
    }
}

/// The network layer of a frame by etherparse's lax slicing, for any link
/// payload: VLAN tags, PPPoE, MPLS, IPv4 options, IPv6 extension headers.
/// Returns the network facts, the innermost VLAN id and the IP packet's
/// layer (for strict reslicing of fragments).
fn net_layer(l3: L3<'_>) -> Result<(NetInfo<'_>, u16, L3<'_>), Ignored> {
    let mut l3 = l3;
    let mut pkt = match l3 {
        L3::Ether(et, p) => LaxSlicedPacket::from_ether_type(EtherType(et), p),
        L3::Ip(p) => LaxSlicedPacket::from_ip(p).map_err(|_| Ignored::Malformed)?,
    };
    // etherparse picks IPv4 or IPv6 by the version nibble, whatever the
    // EtherType says; a frame where the two disagree is corrupt (the
    // kernel drops it too), and read by the nibble it makes a bogus flow.
    if matches!(
        (pkt.ether_payload().map(|e| e.ether_type), &pkt.net),
        (Some(EtherType::IPV4), Some(LaxNetSlice::Ipv6(_)))
            | (Some(EtherType::IPV6), Some(LaxNetSlice::Ipv4(_)))
    ) {
        return Err(Ignored::Malformed);
    }
    let vlan = inner_vlan(&pkt);
    if pkt.net.is_none() {
        // PPPoE sessions and MPLS label stacks (possibly under VLAN
        // tags) that etherparse leaves as an opaque EtherType payload.
        if let Some(inner) = pkt
            .ether_payload()
            .and_then(|e| encapsulated_ip(e.ether_type.0, e.payload))
        {
            l3 = L3::Ip(inner);
            pkt = LaxSlicedPacket::from_ip(inner).map_err(|_| Ignored::Malformed)?;
        }
    }
    let Some(net) = net_info(&pkt) else {
        let ip_ether = match l3 {
            L3::Ether(et, _) => {
                matches!(et, 0x0800 | 0x86DD | 0x8100 | 0x88A8 | 0x9100 | 0x88E5)
            }
            L3::Ip(_) => true,
        };
        let arp = matches!(pkt.net, Some(LaxNetSlice::Arp(_)));
        let ip_ether = ip_ether && !matches!(l3, L3::Ether(0x8864 | 0x8847 | 0x8848, _));
        return Err(if pkt.stop_err.is_some() && ip_ether && !arp {
            Ignored::Malformed
        } else {
            Ignored::NotIp
        });
    };
    Ok((net, vlan, l3))
}

/// The network layer of the commonest frame, an untagged IPv4 packet
/// without options or fragmentation carrying UDP or TCP, read directly;
/// `None` sends every other frame to [`net_layer`], whose result this
/// equals wherever it answers (checked on every packet in debug builds).
///
/// Hand-written because building etherparse's `LaxSlicedPacket`, which
/// has room for every layer and extension it knows, cost about as much as
/// the rest of the packet's decoding together (profile of the throughput
/// bench's capture: 6 % of the process's samples, a third of them moving
/// that struct).
fn plain_ipv4(l3: L3<'_>) -> Option<NetInfo<'_>> {
    let p = match l3 {
        L3::Ether(0x0800, p) | L3::Ip(p) => p,
        L3::Ether(..) => return None,
    };
    let h: &[u8; 20] = p.first_chunk()?;
    // Version 4 and a 20-octet header (no options).
    if h[0] != 0x45 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // Total length 0 (TSO) or shorter than the header: the general path's
    // fallbacks. MF or a fragment offset: reassembly.
    if total < 20 || u16::from_be_bytes([h[6], h[7]]) & 0x3FFF != 0 {
        return None;
    }
    let proto = h[9];
    if proto != proto::UDP && proto != proto::TCP {
        return None;
    }
    // A capture cut short by the snap length keeps what is there.
    let payload = p.get(20..total.min(p.len()))?;
    Some(NetInfo {
        src: IpAddr::from([h[12], h[13], h[14], h[15]]),
        dst: IpAddr::from([h[16], h[17], h[18], h[19]]),
        tos: h[1],
        header_len: 20,
        ip_len: total as u32,
        proto,
        fragmented: false,
        first_fragment: true,
        payload,
    })
}

impl Decoder {
    pub fn new(defrag: Option<DefragConfig>) -> Self {
        Decoder {
            defrag: defrag.map(Defragmenter::new),
            reasm: Vec::new(),
            stats: DecodeStats::default(),
        }
    }

    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    pub fn defrag_stats(&self) -> DefragStats {
        self.defrag
            .as_ref()
            .map(Defragmenter::stats)
            .unwrap_or_default()
    }

    /// Drop fragments still waiting (end of input).
    pub fn flush(&mut self) {
        if let Some(d) = &mut self.defrag {
            d.flush();
        }
    }

    /// Periodic housekeeping in packet time (fragment timeouts).
    pub fn sweep(&mut self, now_ns: u64) {
        if let Some(d) = &mut self.defrag {
            d.sweep(now_ns);
        }
    }

    fn ignore(&mut self, why: Ignored) -> Decoded<'static> {
        match why {
            Ignored::LinkType => self.stats.link_type += 1,
            Ignored::NotIp => self.stats.not_ip += 1,
            Ignored::Malformed => self.stats.malformed += 1,
            Ignored::Transport => self.stats.transport += 1,
            Ignored::Fragment => self.stats.fragment += 1,
        }
        Decoded::Ignored(why)
    }

    /// Decode one captured frame.
    pub fn decode<'a>(&'a mut self, ts_ns: u64, linktype: u32, data: &'a [u8]) -> Decoded<'a> {
        let l3 = match link::peel(linktype, data) {
            Ok(l) => l,
            Err(link::LinkError::UnsupportedLinkType(_)) => return self.ignore(Ignored::LinkType),
            Err(link::LinkError::NotIp(_)) => return self.ignore(Ignored::NotIp),
            Err(_) => return self.ignore(Ignored::Malformed),
        };
        let (net, vlan, l3) = match plain_ipv4(l3) {
            Some(net) => {
                // Debug builds (every test, every fuzz run) check the shortcut against the
                // general path on each packet it takes.
                #[cfg(debug_assertions)]
                if let Ok((slow, slow_vlan, _)) = net_layer(l3) {
                    assert_eq!((&slow, slow_vlan), (&net, 0), "plain_ipv4 != net_layer");
                } else {
                    panic!("plain_ipv4 took a packet net_layer rejects: {l3:?}");
                }
                (net, 0, l3)
            }
            None => match net_layer(l3) {
                Ok(n) => n,
                Err(why) => return self.ignore(why),
            },
        };
        if net.fragmented && self.defrag.is_none() {
            // Reassembly off (YAF's --no-frag): the first fragment still
            // names the flow; the others cannot be attributed.
            if !net.first_fragment {
                return self.ignore(Ignored::Fragment);
            }
            return match transport(net.proto, net.payload) {
                Ok(t) => {
                    self.stats.decoded += 1;
                    Decoded::Packet(PacketMeta {
                        src: net.src,
                        dst: net.dst,
                        proto: net.proto,
                        sport: t.sport,
                        dport: t.dport,
                        vlan,
                        tos: net.tos,
                        ip_len: net.ip_len,
                        fragmented: true,
                        app_len: net.ip_len.saturating_sub(net.header_len + t.header_len),
                        tcp: t.tcp,
                        payload: t.payload,
                    })
                }
                Err(why) => self.ignore(why),
            };
        }
        if let (true, Some(defrag)) = (net.fragmented, self.defrag.as_mut()) {
            // The pool wants a strictly sliced packet; a fragment cut short
            // by the snap length cannot be reassembled anyway.
            let strict = match l3 {
                L3::Ether(et, p) => SlicedPacket::from_ether_type(EtherType(et), p),
                L3::Ip(p) => SlicedPacket::from_ip(p),
            };
            let Ok(strict) = strict else {
                return self.ignore(Ignored::Fragment);
            };
            let Some(done) = defrag.add(ts_ns, &strict) else {
                return Decoded::Held;
            };
            let old = std::mem::replace(&mut self.reasm, done.payload);
            defrag.recycle(old);
            let t = match transport(done.proto, &self.reasm) {
                Ok(t) => t,
                Err(why) => {
                    self.stats.transport += 1;
                    return Decoded::Ignored(why);
                }
            };
            self.stats.decoded += 1;
            let ip_len = net.header_len.saturating_add(self.reasm.len() as u32);
            return Decoded::Packet(PacketMeta {
                src: net.src,
                dst: net.dst,
                proto: done.proto,
                sport: t.sport,
                dport: t.dport,
                vlan,
                tos: net.tos,
                ip_len,
                fragmented: true,
                app_len: ip_len.saturating_sub(net.header_len + t.header_len),
                tcp: t.tcp,
                payload: t.payload,
            });
        }
        match transport(net.proto, net.payload) {
            Ok(t) => {
                self.stats.decoded += 1;
                Decoded::Packet(PacketMeta {
                    src: net.src,
                    dst: net.dst,
                    proto: net.proto,
                    sport: t.sport,
                    dport: t.dport,
                    vlan,
                    tos: net.tos,
                    ip_len: net.ip_len,
                    fragmented: false,
                    app_len: net.ip_len.saturating_sub(net.header_len + t.header_len),
                    tcp: t.tcp,
                    payload: t.payload,
                })
            }
            Err(why) => self.ignore(why),
        }
    }
}

#[cfg(test)]
mod tests;
