//! Link layers: strip the capture's link header down to a network-layer
//! payload. etherparse knows Ethernet II and Linux SLL; the other link types
//! in real captures (SLL2, BSD null/loop, raw IP variants, nflog) are small
//! fixed headers that we read here with explicit bounds checks.

/// DLT / LINKTYPE numbers we understand.
pub mod dlt {
    pub const NULL: u32 = 0;
    pub const EN10MB: u32 = 1;
    /// DLT_RAW on most BSDs.
    pub const RAW_BSD12: u32 = 12;
    /// DLT_RAW on OpenBSD.
    pub const RAW_BSD14: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const NFLOG: u32 = 239;
    pub const LINUX_SLL2: u32 = 276;
}

/// Where the network layer starts and how to interpret it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L3<'a> {
    /// Payload identified by an EtherType (VLAN tags may still follow).
    Ether(u16, &'a [u8]),
    /// Payload is an IP packet (version in the first nibble).
    Ip(&'a [u8]),
}

/// Why a frame has no network layer we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(u32),
    #[error("frame too short for its link header: {have} of {need} bytes at offset {offset}")]
    Short {
        offset: usize,
        need: usize,
        have: usize,
    },
    #[error("link payload is not IP (type {0:#06x})")]
    NotIp(u32),
    #[error("nflog: malformed TLV at offset {0}")]
    NflogTlv(usize),
}

fn need(data: &[u8], offset: usize, len: usize) -> Result<(), LinkError> {
    if data.len() < offset.saturating_add(len) {
        Err(LinkError::Short {
            offset,
            need: len,
            have: data.len().saturating_sub(offset),
        })
    } else {
        Ok(())
    }
}

fn be16(d: &[u8], at: usize) -> u16 {
    match d.get(at..at + 2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    }
}

fn le16(d: &[u8], at: usize) -> u16 {
    match d.get(at..at + 2) {
        Some(b) => u16::from_le_bytes([b[0], b[1]]),
        None => 0,
    }
}

/// BSD address family values for IPv4 and the several IPv6 values
/// (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS).
fn af_to_l3(af: u32, rest: &[u8]) -> Result<L3<'_>, LinkError> {
    match af {
        2 | 24 | 28 | 30 => Ok(L3::Ip(rest)),
        other => Err(LinkError::NotIp(other)),
    }
}

/// Strip the link header of `data` captured with link type `linktype`.
pub fn peel(linktype: u32, data: &[u8]) -> Result<L3<'_>, LinkError> {
    match linktype {
        dlt::EN10MB => {
            need(data, 0, 14)?;
            let et = be16(data, 12);
            let rest = data.get(14..).unwrap_or_default();
            if et <= 1500 {
                // 802.3 length field: only LLC/SNAP carries an EtherType.
                if rest.len() >= 8 && rest[0] == 0xAA && rest[1] == 0xAA && rest[2] == 0x03 {
                    return Ok(L3::Ether(be16(rest, 6), rest.get(8..).unwrap_or_default()));
                }
                return Err(LinkError::NotIp(u32::from(et)));
            }
            Ok(L3::Ether(et, rest))
        }
        dlt::NULL | dlt::LOOP => {
            need(data, 0, 4)?;
            let rest = data.get(4..).unwrap_or_default();
            // DLT_NULL is in the capturing host's byte order and DLT_LOOP is
            // meant to be big-endian, but both are seen either way: the AF
            // value is small, so whichever order gives a small number wins.
            let le = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            let af = if le > 0xFFFF { le.swap_bytes() } else { le };
            af_to_l3(af, rest)
        }
        dlt::RAW | dlt::RAW_BSD12 | dlt::RAW_BSD14 | dlt::IPV4 | dlt::IPV6 => Ok(L3::Ip(data)),
        dlt::LINUX_SLL => {
            need(data, 0, 16)?;
            let hatype = be16(data, 2);
            let proto = be16(data, 14);
            let rest = data.get(16..).unwrap_or_default();
            // ARPHRD_IPGRE/tunnels put the EtherType in `proto` too; the
            // exceptions are 802.2/802.3 pseudo-types (< 0x0600).
            if proto < 0x0600 {
                return Err(LinkError::NotIp(
                    u32::from(proto) | (u32::from(hatype) << 16),
                ));
            }
            Ok(L3::Ether(proto, rest))
        }
        dlt::LINUX_SLL2 => {
            need(data, 0, 20)?;
            let proto = be16(data, 0);
            let rest = data.get(20..).unwrap_or_default();
            if proto < 0x0600 {
                return Err(LinkError::NotIp(u32::from(proto)));
            }
            Ok(L3::Ether(proto, rest))
        }
        dlt::NFLOG => nflog(data),
        other => Err(LinkError::UnsupportedLinkType(other)),
    }
}

/// NFLOG: 4-byte header (family, version, resource id) then TLVs whose
/// length and type are in host byte order (little-endian on the machines
/// that write these captures); type 9 (NFULA_PAYLOAD) is the IP packet.
fn nflog(data: &[u8]) -> Result<L3<'_>, LinkError> {
    need(data, 0, 4)?;
    let family = data[0];
    if family != 2 && family != 10 {
        return Err(LinkError::NotIp(u32::from(family)));
    }
    let mut off = 4usize;
    // Each TLV advances by at least 4 bytes, so this terminates.
    while off + 4 <= data.len() {
        let len = usize::from(le16(data, off));
        let ty = le16(data, off + 2) & 0x7FFF;
        if len < 4 || off + len > data.len() {
            return Err(LinkError::NflogTlv(off));
        }
        if ty == 9 {
            return Ok(L3::Ip(data.get(off + 4..off + len).unwrap_or_default()));
        }
        off += (len + 3) & !3;
    }
    Err(LinkError::NflogTlv(off))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: [u8; 4] = [0x45, 0x00, 0x00, 0x14];

    #[test]
    fn ethernet_ii_and_snap() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]); // EtherType IPv4
        f.extend_from_slice(&IP);
        assert_eq!(peel(dlt::EN10MB, &f), Ok(L3::Ether(0x0800, &IP[..])));
        // 802.3 length + LLC/SNAP (AA AA 03, OUI 000000, type 86DD)
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x00, 0x30, 0xAA, 0xAA, 0x03, 0, 0, 0, 0x86, 0xDD]);
        f.extend_from_slice(&IP);
        assert_eq!(peel(dlt::EN10MB, &f), Ok(L3::Ether(0x86DD, &IP[..])));
        // 802.3 + plain LLC (STP): not IP
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x00, 0x26, 0x42, 0x42, 0x03]);
        assert_eq!(peel(dlt::EN10MB, &f), Err(LinkError::NotIp(0x26)));
        assert!(matches!(
            peel(dlt::EN10MB, &[0u8; 13]),
            Err(LinkError::Short { .. })
        ));
    }

    #[test]
    fn bsd_null_and_loop_both_byte_orders() {
        for hdr in [[2u8, 0, 0, 0], [0, 0, 0, 2], [30, 0, 0, 0], [0, 0, 0, 24]] {
            let mut f = hdr.to_vec();
            f.extend_from_slice(&IP);
            assert_eq!(peel(dlt::NULL, &f), Ok(L3::Ip(&IP[..])), "{hdr:?}");
            assert_eq!(peel(dlt::LOOP, &f), Ok(L3::Ip(&IP[..])), "{hdr:?}");
        }
        // AF 7 (OSI) is not IP
        assert_eq!(peel(dlt::NULL, &[7, 0, 0, 0, 1]), Err(LinkError::NotIp(7)));
        assert!(peel(dlt::LOOP, &[0, 0, 2]).is_err());
    }

    #[test]
    fn raw_ip_variants() {
        for l in [
            dlt::RAW,
            dlt::RAW_BSD12,
            dlt::RAW_BSD14,
            dlt::IPV4,
            dlt::IPV6,
        ] {
            assert_eq!(peel(l, &IP), Ok(L3::Ip(&IP[..])));
        }
    }

    #[test]
    fn linux_sll_and_sll2() {
        // SLL: packet type 0 (to us), ARPHRD_ETHER 1, addr len 6, addr(8), proto 0x0800
        let mut f = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        f.extend_from_slice(&IP);
        assert_eq!(peel(dlt::LINUX_SLL, &f), Ok(L3::Ether(0x0800, &IP[..])));
        // SLL with VLAN proto: etherparse handles the tag afterwards
        f[14] = 0x81;
        assert_eq!(peel(dlt::LINUX_SLL, &f), Ok(L3::Ether(0x8100, &IP[..])));
        // SLL proto 0x0004 (802.2 LLC) is not IP
        f[14] = 0;
        f[15] = 4;
        assert!(matches!(peel(dlt::LINUX_SLL, &f), Err(LinkError::NotIp(_))));
        // SLL2: proto 0x86DD, reserved, ifindex 3, hatype 1, pkttype 4, addrlen 6, addr(8)
        let mut f = vec![
            0x86, 0xDD, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        f.extend_from_slice(&IP);
        assert_eq!(peel(dlt::LINUX_SLL2, &f), Ok(L3::Ether(0x86DD, &IP[..])));
        assert!(matches!(
            peel(dlt::LINUX_SLL2, &f[..19]),
            Err(LinkError::Short { .. })
        ));
    }

    #[test]
    fn nflog_payload_tlv() {
        // family AF_INET, version 0, res id 0x0001 (BE)
        let mut f = vec![2, 0, 0, 1];
        // TLV type 1 (packet header), len 8: hw proto 0x0800, hook, pad
        f.extend_from_slice(&[8, 0, 1, 0, 0x08, 0x00, 3, 0]);
        // TLV type 10 (prefix) len 6 "ab", padded to 8
        f.extend_from_slice(&[6, 0, 10, 0, b'a', 0, 0, 0]);
        // TLV type 9 (payload) len 8
        f.extend_from_slice(&[8, 0, 9, 0]);
        f.extend_from_slice(&IP);
        assert_eq!(peel(dlt::NFLOG, &f), Ok(L3::Ip(&IP[..])));
        // a TLV claiming more than there is
        let bad = [2, 0, 0, 1, 0xff, 0, 9, 0, 1, 2];
        assert_eq!(peel(dlt::NFLOG, &bad), Err(LinkError::NflogTlv(4)));
        // zero-length TLV must not loop forever
        let zero = [2, 0, 0, 1, 0, 0, 9, 0, 0, 0, 0, 0];
        assert_eq!(peel(dlt::NFLOG, &zero), Err(LinkError::NflogTlv(4)));
        // no payload TLV
        assert!(peel(dlt::NFLOG, &[10, 0, 0, 0, 4, 0, 1, 0]).is_err());
    }

    #[test]
    fn unknown_link_type() {
        assert_eq!(peel(105, &IP), Err(LinkError::UnsupportedLinkType(105)));
    }
}
