//! Named [`ElementId`]s for the elements YAF, super_mediator and our tools exchange.
//!
//! Hand-picked rather than generated for all ~1,300 elements: code should name what it uses,
//! and a short list keeps these names readable (`DNS_QNAME`, not `DNS_Q_NAME`). The unit test
//! checks every constant against the registered name given next to it.

use super::{ElementId, CERT_PEN, IANA_PEN, REVERSE_PEN};

macro_rules! element_ids {
    ($($(#[$doc:meta])* $konst:ident = ($pen:expr, $id:expr), $name:literal;)*) => {
        $(
            $(#[$doc])*
            #[doc = concat!("`", $name, "`")]
            pub const $konst: ElementId = ElementId::new($pen, $id);
        )*
        /// Every constant of this module with its registered name, for tests and tooling.
        pub const ALL: &[(&str, ElementId)] = &[$(($name, $konst)),*];
    };
}

element_ids! {
    // Flow keys and addresses.
    PROTOCOL_IDENTIFIER = (IANA_PEN, 4), "protocolIdentifier";
    IP_CLASS_OF_SERVICE = (IANA_PEN, 5), "ipClassOfService";
    REVERSE_IP_CLASS_OF_SERVICE = (REVERSE_PEN, 5), "reverseIpClassOfService";
    TCP_CONTROL_BITS = (IANA_PEN, 6), "tcpControlBits";
    SOURCE_TRANSPORT_PORT = (IANA_PEN, 7), "sourceTransportPort";
    SOURCE_IPV4_ADDRESS = (IANA_PEN, 8), "sourceIPv4Address";
    INGRESS_INTERFACE = (IANA_PEN, 10), "ingressInterface";
    DESTINATION_TRANSPORT_PORT = (IANA_PEN, 11), "destinationTransportPort";
    DESTINATION_IPV4_ADDRESS = (IANA_PEN, 12), "destinationIPv4Address";
    EGRESS_INTERFACE = (IANA_PEN, 14), "egressInterface";
    SOURCE_IPV6_ADDRESS = (IANA_PEN, 27), "sourceIPv6Address";
    DESTINATION_IPV6_ADDRESS = (IANA_PEN, 28), "destinationIPv6Address";
    SOURCE_MAC_ADDRESS = (IANA_PEN, 56), "sourceMacAddress";
    VLAN_ID = (IANA_PEN, 58), "vlanId";
    REVERSE_VLAN_ID = (REVERSE_PEN, 58), "reverseVlanId";
    DESTINATION_MAC_ADDRESS = (IANA_PEN, 80), "destinationMacAddress";

    // Counters.
    OCTET_DELTA_COUNT = (IANA_PEN, 1), "octetDeltaCount";
    PACKET_DELTA_COUNT = (IANA_PEN, 2), "packetDeltaCount";
    REVERSE_OCTET_DELTA_COUNT = (REVERSE_PEN, 1), "reverseOctetDeltaCount";
    REVERSE_PACKET_DELTA_COUNT = (REVERSE_PEN, 2), "reversePacketDeltaCount";
    OCTET_TOTAL_COUNT = (IANA_PEN, 85), "octetTotalCount";
    PACKET_TOTAL_COUNT = (IANA_PEN, 86), "packetTotalCount";
    REVERSE_OCTET_TOTAL_COUNT = (REVERSE_PEN, 85), "reverseOctetTotalCount";
    REVERSE_PACKET_TOTAL_COUNT = (REVERSE_PEN, 86), "reversePacketTotalCount";

    // Timestamps and flow end.
    FLOW_END_REASON = (IANA_PEN, 136), "flowEndReason";
    FLOW_START_SECONDS = (IANA_PEN, 150), "flowStartSeconds";
    FLOW_END_SECONDS = (IANA_PEN, 151), "flowEndSeconds";
    FLOW_START_MILLISECONDS = (IANA_PEN, 152), "flowStartMilliseconds";
    FLOW_END_MILLISECONDS = (IANA_PEN, 153), "flowEndMilliseconds";
    FLOW_START_MICROSECONDS = (IANA_PEN, 154), "flowStartMicroseconds";
    FLOW_END_MICROSECONDS = (IANA_PEN, 155), "flowEndMicroseconds";
    FLOW_START_NANOSECONDS = (IANA_PEN, 156), "flowStartNanoseconds";
    FLOW_END_NANOSECONDS = (IANA_PEN, 157), "flowEndNanoseconds";
    FLOW_START_SYS_UP_TIME = (IANA_PEN, 22), "flowStartSysUpTime";
    FLOW_END_SYS_UP_TIME = (IANA_PEN, 21), "flowEndSysUpTime";
    SYSTEM_INIT_TIME_MILLISECONDS = (IANA_PEN, 160), "systemInitTimeMilliseconds";
    OBSERVATION_TIME_SECONDS = (IANA_PEN, 322), "observationTimeSeconds";
    OBSERVATION_TIME_MILLISECONDS = (IANA_PEN, 323), "observationTimeMilliseconds";

    // TCP (YAF STML entry 0xC003/0xC013).
    TCP_SEQUENCE_NUMBER = (IANA_PEN, 184), "tcpSequenceNumber";
    REVERSE_TCP_SEQUENCE_NUMBER = (REVERSE_PEN, 184), "reverseTcpSequenceNumber";
    INITIAL_TCP_FLAGS = (CERT_PEN, 14), "initialTCPFlags";
    UNION_TCP_FLAGS = (CERT_PEN, 15), "unionTCPFlags";
    REVERSE_INITIAL_TCP_FLAGS = (CERT_PEN, 0x4000 | 14), "reverseInitialTCPFlags";
    REVERSE_UNION_TCP_FLAGS = (CERT_PEN, 0x4000 | 15), "reverseUnionTCPFlags";

    // Structure (RFC 6313) and padding.
    PADDING_OCTETS = (IANA_PEN, 210), "paddingOctets";
    BASIC_LIST = (IANA_PEN, 291), "basicList";
    SUB_TEMPLATE_LIST = (IANA_PEN, 292), "subTemplateList";
    SUB_TEMPLATE_MULTI_LIST = (IANA_PEN, 293), "subTemplateMultiList";

    // CERT flow attributes.
    REVERSE_FLOW_DELTA_MILLISECONDS = (CERT_PEN, 21), "reverseFlowDeltaMilliseconds";
    SILK_APP_LABEL = (CERT_PEN, 33), "silkAppLabel";
    FLOW_ATTRIBUTES = (CERT_PEN, 40), "flowAttributes";
    REVERSE_FLOW_ATTRIBUTES = (CERT_PEN, 0x4000 | 40), "reverseFlowAttributes";
    REVERSE_FLOW_DELTA_MICROSECONDS = (CERT_PEN, 41), "reverseFlowDeltaMicroseconds";

    // CERT DNS (YAF DPI, templates 0xCE00..0xCE13, 0xCF00).
    DNS_QUERY_RESPONSE = (CERT_PEN, 174), "dnsQueryResponse";
    DNS_QR_TYPE = (CERT_PEN, 175), "dnsQRType";
    DNS_AUTHORITATIVE = (CERT_PEN, 176), "dnsAuthoritative";
    DNS_NX_DOMAIN = (CERT_PEN, 177), "dnsNXDomain";
    DNS_RR_SECTION = (CERT_PEN, 178), "dnsRRSection";
    DNS_QNAME = (CERT_PEN, 179), "dnsQName";
    DNS_CNAME = (CERT_PEN, 180), "dnsCName";
    DNS_MX_PREFERENCE = (CERT_PEN, 181), "dnsMXPreference";
    DNS_MX_EXCHANGE = (CERT_PEN, 182), "dnsMXExchange";
    DNS_NSD_NAME = (CERT_PEN, 183), "dnsNSDName";
    DNS_PTRD_NAME = (CERT_PEN, 184), "dnsPTRDName";
    DNS_TTL = (CERT_PEN, 199), "dnsTTL";
    DNS_TXT_DATA = (CERT_PEN, 208), "dnsTXTData";
    DNS_SOA_SERIAL = (CERT_PEN, 209), "dnsSOASerial";
    DNS_SOA_REFRESH = (CERT_PEN, 210), "dnsSOARefresh";
    DNS_SOA_RETRY = (CERT_PEN, 211), "dnsSOARetry";
    DNS_SOA_EXPIRE = (CERT_PEN, 212), "dnsSOAExpire";
    DNS_SOA_MINIMUM = (CERT_PEN, 213), "dnsSOAMinimum";
    DNS_SOA_MNAME = (CERT_PEN, 214), "dnsSOAMName";
    DNS_SOA_RNAME = (CERT_PEN, 215), "dnsSOARName";
    DNS_SRV_PRIORITY = (CERT_PEN, 216), "dnsSRVPriority";
    DNS_SRV_WEIGHT = (CERT_PEN, 217), "dnsSRVWeight";
    DNS_SRV_PORT = (CERT_PEN, 218), "dnsSRVPort";
    DNS_SRV_TARGET = (CERT_PEN, 219), "dnsSRVTarget";
    DNS_ID = (CERT_PEN, 226), "dnsID";
    DNS_ALGORITHM = (CERT_PEN, 227), "dnsAlgorithm";
    DNS_KEY_TAG = (CERT_PEN, 228), "dnsKeyTag";
    DNS_SIGNER = (CERT_PEN, 229), "dnsSigner";
    DNS_SIGNATURE = (CERT_PEN, 230), "dnsSignature";
    DNS_DIGEST = (CERT_PEN, 231), "dnsDigest";
    DNS_PUBLIC_KEY = (CERT_PEN, 232), "dnsPublicKey";
    DNS_SALT = (CERT_PEN, 233), "dnsSalt";
    DNS_HASH_DATA = (CERT_PEN, 234), "dnsHashData";
    DNS_ITERATIONS = (CERT_PEN, 235), "dnsIterations";
    DNS_SIGNATURE_EXPIRATION = (CERT_PEN, 236), "dnsSignatureExpiration";
    DNS_SIGNATURE_INCEPTION = (CERT_PEN, 237), "dnsSignatureInception";
    DNS_DIGEST_TYPE = (CERT_PEN, 238), "dnsDigestType";
    DNS_LABELS = (CERT_PEN, 239), "dnsLabels";
    DNS_TYPE_COVERED = (CERT_PEN, 240), "dnsTypeCovered";
    DNS_FLAGS = (CERT_PEN, 241), "dnsFlags";
    /// super_mediator DNS dedup records.
    DNS_RNAME = (CERT_PEN, 927), "dnsRName";
    /// super_mediator DNS dedup records (its man page wrongly says 228).
    DNS_HIT_COUNT = (CERT_PEN, 928), "dnsHitCount";

    // YAF process statistics options (template 0xD003) and tombstones (0xD004/0xD005).
    EXPORTED_FLOW_RECORD_TOTAL_COUNT = (IANA_PEN, 42), "exportedFlowRecordTotalCount";
    EXPORTER_IPV4_ADDRESS = (IANA_PEN, 130), "exporterIPv4Address";
    EXPORTER_IPV6_ADDRESS = (IANA_PEN, 131), "exporterIPv6Address";
    DROPPED_PACKET_TOTAL_COUNT = (IANA_PEN, 135), "droppedPacketTotalCount";
    EXPORTING_PROCESS_ID = (IANA_PEN, 144), "exportingProcessId";
    OBSERVATION_DOMAIN_ID = (IANA_PEN, 149), "observationDomainId";
    IGNORED_PACKET_TOTAL_COUNT = (IANA_PEN, 164), "ignoredPacketTotalCount";
    NOT_SENT_PACKET_TOTAL_COUNT = (IANA_PEN, 167), "notSentPacketTotalCount";
    OBSERVATION_DOMAIN_NAME = (IANA_PEN, 300), "observationDomainName";
    EXPIRED_FRAGMENT_COUNT = (CERT_PEN, 100), "expiredFragmentCount";
    ASSEMBLED_FRAGMENT_COUNT = (CERT_PEN, 101), "assembledFragmentCount";
    MEAN_FLOW_RATE = (CERT_PEN, 102), "meanFlowRate";
    MEAN_PACKET_RATE = (CERT_PEN, 103), "meanPacketRate";
    FLOW_TABLE_FLUSH_EVENT_COUNT = (CERT_PEN, 104), "flowTableFlushEventCount";
    FLOW_TABLE_PEAK_COUNT = (CERT_PEN, 105), "flowTablePeakCount";
    TOMBSTONE_ID = (CERT_PEN, 550), "tombstoneId";
    EXPORTER_CONFIGURED_ID = (CERT_PEN, 551), "exporterConfiguredId";
    EXPORTER_UNIQUE_ID = (CERT_PEN, 552), "exporterUniqueId";
    CERT_TOOL_ID = (CERT_PEN, 553), "certToolId";
    TOMBSTONE_ACCESS_LIST = (CERT_PEN, 554), "tombstoneAccessList";
}
