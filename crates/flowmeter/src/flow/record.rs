//! The finished flow handed to a sink: everything YAF's flow templates
//! (0xB010/0xB410/0xB000/0xB400, see yaf-ipfix.md) carry, in plain units.

use std::net::IpAddr;

use crate::dpi::{DnsRecord, PendingDns};

/// flowEndReason values (IANA IE 136, as YAF uses them).
pub mod end_reason {
    /// No packet for `--idle-timeout`.
    pub const IDLE: u8 = 1;
    /// Flow lasted `--active-timeout`; a continuation record follows.
    pub const ACTIVE: u8 = 2;
    /// TCP FIN exchange or RST.
    pub const END: u8 = 3;
    /// Forced: end of input or shutdown.
    pub const FORCED: u8 = 4;
    /// Flow table full (`--max-flows`) or another resource limit.
    pub const RESOURCE: u8 = 5;
    /// YAF's flag (set in `--silk` mode): this record continues a flow cut
    /// by the active timeout.
    pub const CONTINUATION: u8 = 0x80;
}

/// flowAttributes bits (CERT IE 6871/40, reverse 6871/16424), per direction.
pub mod attributes {
    /// Every packet of the direction had the same size (2 packets or more).
    pub const SAME_SIZE: u16 = 0x01;
    /// TCP segment seen out of sequence.
    pub const OUT_OF_SEQUENCE: u16 = 0x02;
    /// SYN carried an MPTCP MP_CAPABLE option.
    pub const MP_CAPABLE: u16 = 0x04;
    /// At least one packet arrived as IP fragments.
    pub const FRAGMENTED: u16 = 0x08;
}

/// TCP facts of a flow (YAF's 0xC013 biflow / 0xC003 uniflow entry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// tcpSequenceNumber: sequence number of the initiator's first packet.
    pub isn: u32,
    /// reverseTcpSequenceNumber: the responder's first sequence number.
    pub rev_isn: u32,
    /// initialTCPFlags: flags of the initiator's first packet.
    pub initial_flags: u8,
    /// unionTCPFlags: OR of the flags of the initiator's later packets.
    pub union_flags: u8,
    /// reverseInitialTCPFlags.
    pub rev_initial_flags: u8,
    /// reverseUnionTCPFlags.
    pub rev_union_flags: u8,
}

/// One bidirectional flow (RFC 5103). "Forward" is the initiator's
/// direction: the source of the flow's first packet is `src`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRecord {
    /// First packet, ns since the UNIX epoch (flowStartMilli/Microseconds).
    pub start_ns: u64,
    /// Last packet in either direction (flowEndMilli/Microseconds).
    pub end_ns: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// sourceTransportPort (0 for ICMP and port-less protocols).
    pub sport: u16,
    /// destinationTransportPort; ICMP/ICMPv6: `type << 8 | code`.
    pub dport: u16,
    /// protocolIdentifier.
    pub proto: u8,
    /// vlanId of the initiator's packets (innermost tag, 0 if untagged).
    pub vlan: u16,
    /// reverseVlanId (0 when no reverse packet).
    pub rev_vlan: u16,
    /// ipClassOfService of the first forward packet.
    pub tos: u8,
    /// reverseIpClassOfService of the first reverse packet.
    pub rev_tos: u8,
    /// octetTotalCount: sum of IP total lengths, forward.
    pub octets: u64,
    pub rev_octets: u64,
    /// packetTotalCount (a reassembled datagram counts once).
    pub packets: u64,
    pub rev_packets: u64,
    /// flowAttributes, see [`attributes`].
    pub attributes: u16,
    pub rev_attributes: u16,
    /// flowEndReason, see [`end_reason`] (carries `CONTINUATION` only when
    /// [`super::FlowConfig::mark_continuation`] is set, i.e. `--silk`).
    pub end_reason: u8,
    /// silkAppLabel: 53 when DNS was recognised by payload, else 0.
    pub app_label: u16,
    /// Time from `start_ns` to the first reverse packet, in ns
    /// (reverseFlowDeltaMilliseconds/Microseconds); 0 for uniflows.
    pub rev_delta_ns: u64,
    /// TCP facts, for TCP flows only.
    pub tcp: Option<TcpInfo>,
    /// DNS questions and resource records, forward direction first.
    pub dns: Vec<DnsRecord>,
}

impl FlowRecord {
    /// Whether any packet went from responder to initiator (biflow templates).
    pub fn is_biflow(&self) -> bool {
        self.rev_packets > 0
    }

    /// Whether the addresses are IPv6 (the 0x0400 template flag).
    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6()
    }
}

/// A flow as the table ends it: the record without its DNS records, and
/// the DNS messages the flow kept, not yet decoded. Decoding them is most
/// of what ending a DNS flow costs, so it is left to whoever consumes the
/// flow: with [`super::threaded::ThreadedSink`] that is the export thread,
/// where the IPFIX exporters decode them straight into the encoded record
/// ([`crate::export::yaf::encode_ended`]); [`Self::into_record`] makes
/// [`DnsRecord`]s instead. The flow's silkAppLabel (53) is known only then.
#[derive(Debug)]
pub struct EndedFlow {
    /// Everything but `dns`, which is empty here.
    pub rec: FlowRecord,
    dns: PendingDns,
    /// The IPFIX record, already encoded by the thread that ended the flow (see
    /// [`super::sink::PreEncoder`]); `dns` is then empty.
    pre: Option<PreEncoded>,
}

/// One flow's IPFIX data record as the exporter would encode it, made on another thread.
#[derive(Debug)]
pub struct PreEncoded {
    pub bytes: Vec<u8>,
    pub template_id: u16,
    /// DNS records left out because the record would not fit in one IPFIX message.
    pub dns_truncated: usize,
}

impl EndedFlow {
    pub(crate) fn new(rec: FlowRecord, dns: PendingDns) -> Self {
        EndedFlow {
            rec,
            dns,
            pre: None,
        }
    }

    /// A flow whose record `pre` already holds, DNS records included.
    pub fn pre_encoded(rec: FlowRecord, pre: PreEncoded) -> Self {
        EndedFlow {
            rec,
            dns: PendingDns::default(),
            pre: Some(pre),
        }
    }

    /// Whether another thread has encoded the record already.
    pub fn is_pre_encoded(&self) -> bool {
        self.pre.is_some()
    }

    /// The record encoded by [`Self::pre_encoded`], if it was.
    pub fn take_pre_encoded(&mut self) -> Option<PreEncoded> {
        self.pre.take()
    }

    /// The record (DNS records not expanded) and the DNS messages to decode, for a consumer
    /// that decodes them its own way (the IPFIX encoder writes records as it decodes them).
    pub fn into_parts(self) -> (FlowRecord, PendingDns) {
        (self.rec, self.dns)
    }

    /// See [`PendingDns::warm`].
    pub fn warm(&self) -> u8 {
        self.dns.warm()
    }

    /// The complete record, DNS records expanded (after any already in `rec.dns`).
    pub fn into_record(self) -> FlowRecord {
        // Only sinks that offer a pre-encoder are handed pre-encoded flows, and they encode
        // IPFIX; a record cannot be expanded back from the bytes.
        debug_assert!(
            self.pre.is_none(),
            "a pre-encoded flow expanded to a record"
        );
        let mut rec = self.rec;
        let (mut dns, is_dns) = self.dns.into_records();
        if is_dns {
            rec.app_label = 53;
        }
        if rec.dns.is_empty() {
            rec.dns = dns;
        } else {
            rec.dns.append(&mut dns);
        }
        rec
    }
}

impl From<FlowRecord> for EndedFlow {
    fn from(rec: FlowRecord) -> Self {
        EndedFlow {
            rec,
            dns: PendingDns::default(),
            pre: None,
        }
    }
}

/// Where the flow table puts the flows it ends.
pub trait EndedFlows {
    fn push_ended(&mut self, f: EndedFlow);
}

/// Complete records, expanded at once (tests, tools).
impl EndedFlows for Vec<FlowRecord> {
    fn push_ended(&mut self, f: EndedFlow) {
        self.push(f.into_record());
    }
}

/// Expansion left to the consumer (the pipeline).
impl EndedFlows for Vec<EndedFlow> {
    fn push_ended(&mut self, f: EndedFlow) {
        self.push(f);
    }
}
