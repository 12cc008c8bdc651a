//! IPFIX data record -> database rows, by information element (never by template ID), so any
//! exporter's templates map: YAF and our flowmeter (DNS nested as STML -> 0xCE00 -> STL of
//! 0xCF00 -> rdata STL), python-ipfix (CERT DNS elements flattened into the flow record),
//! softflowd, pmacct, Cisco and Huawei plain flow records.
//!
//! What has no column is counted in [`MapStats`], never an error: a collector that rejects a
//! file because a router added a vendor element loses data for nothing.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipfix_model::ie::ids::*;
use ipfix_model::ie::{self, ElementId};
use ipfix_model::{DataRecord, FieldData, FieldValue};

use crate::store::model::{DnsRow, FlowRow, TcpRow};

/// Seconds between the NTP epoch (1900) and the UNIX epoch, for dateTimeMicro/Nanoseconds.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// How deep [`dns_rows`] looks for DNS resource-record records inside lists. YAF's are at
/// depth 2 (STML entry 0xCE00 -> STL 0xCF00); ipfix-model already bounds decoding depth, this
/// only keeps the walk cheap on odd input.
const MAX_DNS_DEPTH: usize = 6;

/// What a record's surroundings say about it: the message header, the exporter's
/// `systemInitTimeMilliseconds` (from an options record of the same domain) when the record
/// carries `flowStartSysUpTime` without it, and the sensor name the source knows.
#[derive(Clone, Debug, Default)]
pub struct RecordContext {
    pub export_time: u32,
    pub domain_id: u32,
    pub system_init_ms: Option<u64>,
    pub sensor: String,
}

/// Counters of what was not mapped, reported per file/session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapStats {
    pub flows: u64,
    pub dns_rows: u64,
    /// Top-level records that are not flows (options records such as YAF's statistics and
    /// tombstones, or records without any address).
    pub non_flow_records: u64,
    /// Flows whose time could not be made absolute (e.g. `flowStartSysUpTime` without
    /// `systemInitTimeMilliseconds` anywhere in the session).
    pub flows_without_time: u64,
    /// Occurrences of elements with no column, by element name (`pen/id` when unknown).
    pub unmapped_elements: BTreeMap<String, u64>,
}

impl MapStats {
    pub fn merge(&mut self, other: &MapStats) {
        self.flows += other.flows;
        self.dns_rows += other.dns_rows;
        self.non_flow_records += other.non_flow_records;
        self.flows_without_time += other.flows_without_time;
        for (k, v) in &other.unmapped_elements {
            *self.unmapped_elements.entry(k.clone()).or_default() += v;
        }
    }

    fn unmapped(&mut self, e: ElementId) {
        let name = match ie::lookup(e) {
            Some(info) => info.name.to_string(),
            None => format!("{}/{}", e.pen, e.id),
        };
        *self.unmapped_elements.entry(name).or_default() += 1;
    }
}

/// Elements the flow mapping reads (or deliberately ignores: padding, list containers whose
/// content is walked separately).
const FLOW_ELEMENTS: &[ElementId] = &[
    SOURCE_IPV4_ADDRESS,
    DESTINATION_IPV4_ADDRESS,
    SOURCE_IPV6_ADDRESS,
    DESTINATION_IPV6_ADDRESS,
    SOURCE_TRANSPORT_PORT,
    DESTINATION_TRANSPORT_PORT,
    PROTOCOL_IDENTIFIER,
    VLAN_ID,
    DOT1Q_VLAN_ID,
    FLOW_START_SECONDS,
    FLOW_END_SECONDS,
    FLOW_START_MILLISECONDS,
    FLOW_END_MILLISECONDS,
    FLOW_START_MICROSECONDS,
    FLOW_END_MICROSECONDS,
    FLOW_START_NANOSECONDS,
    FLOW_END_NANOSECONDS,
    FLOW_START_SYS_UP_TIME,
    FLOW_END_SYS_UP_TIME,
    FLOW_START_DELTA_MICROSECONDS,
    FLOW_END_DELTA_MICROSECONDS,
    FLOW_DURATION_MILLISECONDS,
    SYSTEM_INIT_TIME_MILLISECONDS,
    OCTET_TOTAL_COUNT,
    OCTET_DELTA_COUNT,
    REVERSE_OCTET_TOTAL_COUNT,
    REVERSE_OCTET_DELTA_COUNT,
    PACKET_TOTAL_COUNT,
    PACKET_DELTA_COUNT,
    REVERSE_PACKET_TOTAL_COUNT,
    REVERSE_PACKET_DELTA_COUNT,
    SILK_APP_LABEL,
    FLOW_END_REASON,
    FLOW_ATTRIBUTES,
    REVERSE_FLOW_ATTRIBUTES,
    INGRESS_INTERFACE,
    EGRESS_INTERFACE,
    PADDING_OCTETS,
    SUB_TEMPLATE_LIST,
    SUB_TEMPLATE_MULTI_LIST,
    BASIC_LIST,
    // Flattened CERT DNS (python-ipfix): read by the DNS mapping.
    DNS_ID,
    DNS_QUERY_RESPONSE,
    DNS_QR_TYPE,
    DNS_AUTHORITATIVE,
    DNS_NX_DOMAIN,
    DNS_RR_SECTION,
    DNS_TTL,
    DNS_QNAME,
    DNS_CNAME,
    DNS_MX_EXCHANGE,
    DNS_MX_PREFERENCE,
    DNS_NSD_NAME,
    DNS_PTRD_NAME,
    DNS_TXT_DATA,
    DNS_SRV_TARGET,
    DNS_SOA_MNAME,
    DNS_SIGNER,
];

// Not in ipfix-model's hand-picked list; IANA numbers.
const DOT1Q_VLAN_ID: ElementId = ElementId::iana(243);
const FLOW_START_DELTA_MICROSECONDS: ElementId = ElementId::iana(158);
const FLOW_END_DELTA_MICROSECONDS: ElementId = ElementId::iana(159);
const FLOW_DURATION_MILLISECONDS: ElementId = ElementId::iana(161);

/// The value of `e` in `rec`, if the template has it (first occurrence).
pub fn field<'r, 'a>(rec: &'r DataRecord<'a>, e: ElementId) -> Option<&'r FieldValue<'a>> {
    let i = rec.template.position(e)?;
    rec.fields.get(i)
}

/// Raw bytes of `e` in `rec`.
pub fn bytes<'r>(rec: &'r DataRecord<'_>, e: ElementId) -> Option<&'r [u8]> {
    field(rec, e)?.bytes()
}

/// Unsigned integer of 1..=8 bytes (RFC 7011 §6.2 reduced-size encoding), big-endian.
pub fn be_uint(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 8 {
        return None;
    }
    Some(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

pub fn uint(rec: &DataRecord<'_>, e: ElementId) -> Option<u64> {
    be_uint(bytes(rec, e)?)
}

fn u8_of(rec: &DataRecord<'_>, e: ElementId) -> Option<u8> {
    uint(rec, e).and_then(|v| u8::try_from(v).ok())
}

fn u16_of(rec: &DataRecord<'_>, e: ElementId) -> Option<u16> {
    uint(rec, e).and_then(|v| u16::try_from(v).ok())
}

fn u32_of(rec: &DataRecord<'_>, e: ElementId) -> Option<u32> {
    uint(rec, e).and_then(|v| u32::try_from(v).ok())
}

fn ipv4(rec: &DataRecord<'_>, e: ElementId) -> Option<IpAddr> {
    let b: [u8; 4] = bytes(rec, e)?.try_into().ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(b)))
}

fn ipv6(rec: &DataRecord<'_>, e: ElementId) -> Option<IpAddr> {
    let b: [u8; 16] = bytes(rec, e)?.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(b)))
}

/// String value; YAF already escapes names to printable ASCII, anything else is made valid
/// UTF-8 lossily rather than rejected.
fn string(rec: &DataRecord<'_>, e: ElementId) -> Option<String> {
    let b = bytes(rec, e)?;
    Some(String::from_utf8_lossy(b).into_owned())
}

/// dateTimeMicroseconds / dateTimeNanoseconds (NTP format, RFC 7011 §6.1.9-10) to UNIX ms.
fn ntp_to_unix_ms(v: u64) -> Option<i64> {
    let secs = v >> 32;
    let frac = v & 0xFFFF_FFFF;
    let ms = (frac * 1000) >> 32;
    let unix = secs.checked_sub(NTP_UNIX_OFFSET)?;
    i64::try_from(unix.checked_mul(1000)?.checked_add(ms)?).ok()
}

/// Absolute start and end time in UNIX ms, from whichever time elements the record has;
/// the most precise absolute form wins.
fn flow_times(rec: &DataRecord<'_>, ctx: &RecordContext) -> (Option<i64>, Option<i64>) {
    let abs = |ms: ElementId, us: ElementId, ns: ElementId, s: ElementId| -> Option<i64> {
        if let Some(v) = uint(rec, ms) {
            return i64::try_from(v).ok();
        }
        if let Some(v) = uint(rec, us) {
            return ntp_to_unix_ms(v);
        }
        if let Some(v) = uint(rec, ns) {
            return ntp_to_unix_ms(v);
        }
        uint(rec, s).and_then(|v| i64::try_from(v.checked_mul(1000)?).ok())
    };
    let mut start = abs(
        FLOW_START_MILLISECONDS,
        FLOW_START_MICROSECONDS,
        FLOW_START_NANOSECONDS,
        FLOW_START_SECONDS,
    );
    let mut end = abs(
        FLOW_END_MILLISECONDS,
        FLOW_END_MICROSECONDS,
        FLOW_END_NANOSECONDS,
        FLOW_END_SECONDS,
    );
    // Router style: milliseconds since the exporter booted.
    let init = uint(rec, SYSTEM_INIT_TIME_MILLISECONDS).or(ctx.system_init_ms);
    if let Some(init) = init.and_then(|v| i64::try_from(v).ok()) {
        if start.is_none() {
            start = uint(rec, FLOW_START_SYS_UP_TIME).map(|up| init.saturating_add(up as i64));
        }
        if end.is_none() {
            end = uint(rec, FLOW_END_SYS_UP_TIME).map(|up| init.saturating_add(up as i64));
        }
    }
    // Relative to the message's export time (RFC 5102 flowStart/EndDeltaMicroseconds).
    let export_ms = i64::from(ctx.export_time) * 1000;
    if start.is_none() {
        start = uint(rec, FLOW_START_DELTA_MICROSECONDS)
            .map(|d| export_ms.saturating_sub((d / 1000) as i64));
    }
    if end.is_none() {
        end = uint(rec, FLOW_END_DELTA_MICROSECONDS)
            .map(|d| export_ms.saturating_sub((d / 1000) as i64));
    }
    if let (Some(s), None, Some(d)) = (start, end, uint(rec, FLOW_DURATION_MILLISECONDS)) {
        end = Some(s.saturating_add(d as i64));
    }
    (start, end)
}

/// True when the record describes a flow: a data (not options) record with an address.
/// This is the rule the tests count "flows" by.
pub fn is_flow_record(rec: &DataRecord<'_>) -> bool {
    !rec.template.is_options()
        && [
            SOURCE_IPV4_ADDRESS,
            DESTINATION_IPV4_ADDRESS,
            SOURCE_IPV6_ADDRESS,
            DESTINATION_IPV6_ADDRESS,
        ]
        .iter()
        .any(|&e| field(rec, e).is_some())
}

/// Maps a top-level data record. `None` (and counted) when it is not a flow record.
/// Columns the record has no element for are 0 (the store's row model is not nullable),
/// except the start/end time, which falls back to the message's export time (counted in
/// [`MapStats::flows_without_time`]) so that time-range queries still find the flow.
pub fn map_record(
    rec: &DataRecord<'_>,
    ctx: &RecordContext,
    stats: &mut MapStats,
) -> Option<FlowRow> {
    if !is_flow_record(rec) {
        stats.non_flow_records += 1;
        return None;
    }
    for f in rec.template.fields() {
        if !FLOW_ELEMENTS.contains(&f.element) {
            stats.unmapped(f.element);
        }
    }
    let (start_ms, end_ms) = flow_times(rec, ctx);
    let export_ms = i64::from(ctx.export_time) * 1000;
    if start_ms.is_none() {
        stats.flows_without_time += 1;
    }
    let start_ms = start_ms.or(end_ms).unwrap_or(export_ms);
    let end_ms = end_ms.unwrap_or(start_ms);
    let unspecified_like = |other: Option<IpAddr>| match other {
        Some(IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let src = ipv4(rec, SOURCE_IPV4_ADDRESS).or_else(|| ipv6(rec, SOURCE_IPV6_ADDRESS));
    let dst = ipv4(rec, DESTINATION_IPV4_ADDRESS).or_else(|| ipv6(rec, DESTINATION_IPV6_ADDRESS));
    let mut dns = Vec::new();
    dns_rows(rec, 0, true, &mut dns);
    stats.flows += 1;
    stats.dns_rows += dns.len() as u64;
    Some(FlowRow {
        sensor: ctx.sensor.clone(),
        observation_domain: ctx.domain_id,
        src: src.unwrap_or_else(|| unspecified_like(dst)),
        dst: dst.unwrap_or_else(|| unspecified_like(src)),
        src_port: u16_of(rec, SOURCE_TRANSPORT_PORT).unwrap_or(0),
        dst_port: u16_of(rec, DESTINATION_TRANSPORT_PORT).unwrap_or(0),
        protocol: u8_of(rec, PROTOCOL_IDENTIFIER).unwrap_or(0),
        vlan: u16_of(rec, VLAN_ID)
            .or_else(|| u16_of(rec, DOT1Q_VLAN_ID))
            .unwrap_or(0),
        start_ms,
        end_ms,
        octets: uint(rec, OCTET_TOTAL_COUNT)
            .or_else(|| uint(rec, OCTET_DELTA_COUNT))
            .unwrap_or(0),
        reverse_octets: uint(rec, REVERSE_OCTET_TOTAL_COUNT)
            .or_else(|| uint(rec, REVERSE_OCTET_DELTA_COUNT))
            .unwrap_or(0),
        packets: uint(rec, PACKET_TOTAL_COUNT)
            .or_else(|| uint(rec, PACKET_DELTA_COUNT))
            .unwrap_or(0),
        reverse_packets: uint(rec, REVERSE_PACKET_TOTAL_COUNT)
            .or_else(|| uint(rec, REVERSE_PACKET_DELTA_COUNT))
            .unwrap_or(0),
        silk_app_label: u16_of(rec, SILK_APP_LABEL).unwrap_or(0),
        flow_end_reason: u8_of(rec, FLOW_END_REASON).unwrap_or(0),
        flow_attributes: u16_of(rec, FLOW_ATTRIBUTES).unwrap_or(0),
        reverse_flow_attributes: u16_of(rec, REVERSE_FLOW_ATTRIBUTES).unwrap_or(0),
        ingress_interface: u32_of(rec, INGRESS_INTERFACE),
        egress_interface: u32_of(rec, EGRESS_INTERFACE),
        tcp: tcp_row(rec),
        dns,
    })
}

/// YAF's TCP STML entry (0xC003 uniflow / 0xC013 biflow), or the same elements flattened.
fn tcp_row(rec: &DataRecord<'_>) -> Option<TcpRow> {
    let has = |r: &DataRecord<'_>| {
        field(r, TCP_SEQUENCE_NUMBER).is_some() || field(r, INITIAL_TCP_FLAGS).is_some()
    };
    let r = if has(rec) {
        rec
    } else {
        child_records(rec).find(|c| has(c))?
    };
    Some(TcpRow {
        seq: u32_of(r, TCP_SEQUENCE_NUMBER).unwrap_or(0),
        reverse_seq: u32_of(r, REVERSE_TCP_SEQUENCE_NUMBER).unwrap_or(0),
        initial_flags: u8_of(r, INITIAL_TCP_FLAGS).unwrap_or(0),
        reverse_initial_flags: u8_of(r, REVERSE_INITIAL_TCP_FLAGS).unwrap_or(0),
        union_flags: u8_of(r, UNION_TCP_FLAGS).unwrap_or(0),
        reverse_union_flags: u8_of(r, REVERSE_UNION_TCP_FLAGS).unwrap_or(0),
    })
}

/// Records directly inside the list fields of `rec`.
fn child_records<'r, 'a>(rec: &'r DataRecord<'a>) -> impl Iterator<Item = &'r DataRecord<'a>> {
    rec.fields
        .iter()
        .flat_map(|f| -> Box<dyn Iterator<Item = &'r DataRecord<'a>> + 'r> {
            match &f.data {
                FieldData::SubTemplateList(l) => Box::new(l.records.iter()),
                FieldData::SubTemplateMultiList(l) => {
                    Box::new(l.entries.iter().flat_map(|e| e.records.iter()))
                }
                _ => Box::new(std::iter::empty()),
            }
        })
}

/// Collects DNS records: any record holding `dnsQName` is one question/RR (YAF's 0xCF00, or
/// a flattened top-level record); other records are searched through their lists.
fn dns_rows(rec: &DataRecord<'_>, depth: usize, top: bool, out: &mut Vec<DnsRow>) {
    if field(rec, DNS_QNAME).is_some() {
        out.push(dns_row(rec, top));
        return;
    }
    if depth >= MAX_DNS_DEPTH {
        return;
    }
    for child in child_records(rec) {
        dns_rows(child, depth + 1, false, out);
    }
}

fn dns_row(rec: &DataRecord<'_>, top: bool) -> DnsRow {
    let rrtype = u16_of(rec, DNS_QR_TYPE).unwrap_or(0);
    let section = u8_of(rec, DNS_RR_SECTION).unwrap_or(0);
    // The rdata sits in the RR record's own lists (YAF) or, flattened, in the record itself;
    // a flattened record's address elements are the flow's, so they are not rdata.
    let mut rrval = None;
    for child in child_records(rec) {
        rrval = rdata_value(child, rrtype, true);
        if rrval.is_some() {
            break;
        }
    }
    if rrval.is_none() {
        rrval = rdata_value(rec, rrtype, !top);
    }
    DnsRow {
        dns_id: u16_of(rec, DNS_ID).unwrap_or(0),
        qr: u8_of(rec, DNS_QUERY_RESPONSE).unwrap_or(0),
        rrtype,
        auth: u8_of(rec, DNS_AUTHORITATIVE).unwrap_or(0),
        rcode: u8_of(rec, DNS_NX_DOMAIN).unwrap_or(0),
        section,
        ttl: u32_of(rec, DNS_TTL).unwrap_or(0),
        rrname: string(rec, DNS_QNAME).unwrap_or_default(),
        // Questions and rdata YAF does not export: empty, as the old mediator stored them.
        rrval: rrval.unwrap_or_default(),
    }
}

/// Presentation string of an rdata record, as yaf_silk_mysql_mediator stored `rrval`:
/// A/AAAA the address; CNAME/NS/PTR the target name; MX the exchange name only (the
/// preference is not part of `rrval`, as in the old mediator); SRV the target; SOA the
/// primary server (MNAME); TXT the first character-string; RRSIG the signer. Other types
/// (DS, DNSKEY, NSEC, NSEC3: binary rdata) have no `rrval`.
pub fn rdata_value(rec: &DataRecord<'_>, rrtype: u16, addresses: bool) -> Option<String> {
    if addresses {
        let a = match rrtype {
            28 => ipv6(rec, SOURCE_IPV6_ADDRESS).or_else(|| ipv4(rec, SOURCE_IPV4_ADDRESS)),
            _ => ipv4(rec, SOURCE_IPV4_ADDRESS).or_else(|| ipv6(rec, SOURCE_IPV6_ADDRESS)),
        };
        if let Some(a) = a {
            return Some(a.to_string());
        }
    }
    [
        DNS_CNAME,
        DNS_NSD_NAME,
        DNS_PTRD_NAME,
        DNS_MX_EXCHANGE,
        DNS_SRV_TARGET,
        DNS_SOA_MNAME,
        DNS_TXT_DATA,
        DNS_SIGNER,
    ]
    .iter()
    .find_map(|&e| string(rec, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn be_uint_reduced_size() {
        assert_eq!(be_uint(&[0x01]), Some(1));
        assert_eq!(be_uint(&[0x01, 0x02, 0x03]), Some(0x010203));
        assert_eq!(be_uint(&[0xFF; 8]), Some(u64::MAX));
        assert_eq!(be_uint(&[]), None);
        assert_eq!(be_uint(&[0; 9]), None);
    }

    #[test]
    fn ntp_time() {
        // 2016-10-20 15:23:01.5 UTC = 1476976981.5 s; NTP seconds = that + 2208988800.
        let secs = 1_476_976_981u64 + NTP_UNIX_OFFSET;
        let v = (secs << 32) | 0x8000_0000;
        assert_eq!(ntp_to_unix_ms(v), Some(1_476_976_981_500));
        // Before 1970 cannot be stored as UNIX ms: None, not a wrapped value.
        assert_eq!(ntp_to_unix_ms(5 << 32), None);
    }
}
