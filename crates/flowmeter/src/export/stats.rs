//! YAF's process-statistics options record (0xD003) and tombstone record (0xD004).

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};

use ipfix_model::ie::yaf::tid;

use crate::flow::MeterStats;

/// Who is exporting: the scope fields of both options records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExporterIdentity {
    pub observation_domain: u32,
    /// exportingProcessId: our PID, as YAF.
    pub pid: u32,
    /// exporterIPv4Address: YAF uses gethostbyname(hostname).
    pub ipv4: Ipv4Addr,
}

impl ExporterIdentity {
    pub fn current(observation_domain: u32) -> Self {
        Self {
            observation_domain,
            pid: std::process::id(),
            ipv4: host_ipv4(),
        }
    }
}

/// The first IPv4 address the host name resolves to (YAF: `gethostbyname(hostname)`), or
/// 127.0.0.1. Resolution uses the system resolver once, at startup.
fn host_ipv4() -> Ipv4Addr {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let name = name.trim();
    if name.is_empty() || name.len() > 253 {
        return Ipv4Addr::LOCALHOST;
    }
    (name, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| {
            it.find_map(|a| match a.ip() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
        })
        .unwrap_or(Ipv4Addr::LOCALHOST)
}

fn u32_sat(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Appends a 0xD003 record (88 octets). `exported_flows` is what this exporter wrote.
pub fn encode_process_stats(
    id: &ExporterIdentity,
    s: &MeterStats,
    exported_flows: u64,
    now_secs: u32,
    out: &mut Vec<u8>,
) -> u16 {
    out.extend_from_slice(&id.observation_domain.to_be_bytes());
    out.extend_from_slice(&id.pid.to_be_bytes());
    out.extend_from_slice(&id.ipv4.octets());
    out.extend_from_slice(&now_secs.to_be_bytes());
    out.extend_from_slice(&s.start_time_ms.to_be_bytes());
    out.extend_from_slice(&exported_flows.to_be_bytes());
    out.extend_from_slice(&s.packets.to_be_bytes());
    out.extend_from_slice(&s.dropped.to_be_bytes());
    out.extend_from_slice(&s.ignored.to_be_bytes());
    // notSentPacketTotalCount: packets of flows we could not export; we never refuse one.
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&u32_sat(s.expired_fragments).to_be_bytes());
    out.extend_from_slice(&u32_sat(s.assembled_fragments).to_be_bytes());
    out.extend_from_slice(&u32_sat(s.flush_events).to_be_bytes());
    out.extend_from_slice(&u32_sat(s.peak_flows).to_be_bytes());
    out.extend_from_slice(&s.mean_flow_rate.to_be_bytes());
    out.extend_from_slice(&s.mean_packet_rate.to_be_bytes());
    tid::PROCESS_STATS
}

/// Appends a 0xD004 tombstone record: YAF's liveness marker, whose access list names each
/// tool that handled it (certToolId 1 = yaf; we write 1 so super_mediator treats it as YAF's).
pub fn encode_tombstone(
    id: &ExporterIdentity,
    tombstone_id: u32,
    now_secs: u32,
    out: &mut Vec<u8>,
) -> u16 {
    out.extend_from_slice(&id.observation_domain.to_be_bytes());
    out.extend_from_slice(&id.pid.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes()); // exporterConfiguredId
    out.extend_from_slice(&[0; 6]); // paddingOctets
    out.extend_from_slice(&tombstone_id.to_be_bytes());
    out.extend_from_slice(&now_secs.to_be_bytes());
    // tombstoneAccessList: STL, 3-byte varlen, semantic 0 (as YAF), template 0xD005, 1 record.
    out.extend_from_slice(&[0xFF, 0, 11, 0]);
    out.extend_from_slice(&tid::TOMBSTONE_ACCESS.to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&now_secs.to_be_bytes());
    tid::TOMBSTONE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident() -> ExporterIdentity {
        ExporterIdentity {
            observation_domain: 0,
            pid: 0x502d,
            ipv4: Ipv4Addr::LOCALHOST,
        }
    }

    #[test]
    fn tombstone_matches_yaf_bytes() {
        // dns-caa.yaf, last message: the 0xD004 record YAF 2.16.4 wrote.
        #[rustfmt::skip]
        let yaf: &[u8] = &[
            0, 0, 0, 0, // observationDomainId
            0, 0, 0x50, 0x2d, // exportingProcessId
            0, 0, // exporterConfiguredId
            0, 0, 0, 0, 0, 0, // paddingOctets
            0, 0, 0, 0, // tombstoneId
            0x6b, 0x08, 0xef, 0x27, // observationTimeSeconds
            0xff, 0x00, 0x0b, 0x00, 0xd0, 0x05, 0, 0, 0, 1, // STL: len 11, semantic 0, 0xD005, certToolId 1
            0x6b, 0x08, 0xef, 0x27,
        ];
        let mut out = Vec::new();
        assert_eq!(encode_tombstone(&ident(), 0, 0x6b08_ef27, &mut out), 0xD004);
        assert_eq!(out, yaf);
    }

    #[test]
    fn process_stats_matches_yaf_bytes() {
        // dns-caa.yaf: the 0xD003 record YAF 2.16.4 wrote at exit.
        #[rustfmt::skip]
        let yaf: &[u8] = &[
            0, 0, 0, 0, 0, 0, 0x50, 0x2d, 0x7f, 0, 0, 1, 0x6b, 0x08, 0xef, 0x27,
            0, 0, 0x01, 0xa2, 0x1a, 0xe6, 0x33, 0x1f, // systemInitTimeMilliseconds
            0, 0, 0, 0, 0, 0, 0, 1, // exported flows
            0, 0, 0, 0, 0, 0, 0, 2, // packets
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, // expired, assembled
            0, 0, 0, 2, 0, 0, 0, 1, // flush events, peak
            0, 0, 0x02, 0x5f, 0, 0, 0x04, 0xbf, // mean flow rate, mean packet rate
        ];
        let s = MeterStats {
            start_time_ms: 0x01a2_1ae6_331f,
            packets: 2,
            flush_events: 2,
            peak_flows: 1,
            mean_flow_rate: 0x25f,
            mean_packet_rate: 0x4bf,
            ..MeterStats::default()
        };
        let mut out = Vec::new();
        encode_process_stats(&ident(), &s, 1, 0x6b08_ef27, &mut out);
        assert_eq!(out, yaf);
    }
}
