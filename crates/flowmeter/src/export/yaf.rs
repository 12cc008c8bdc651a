//! Flow records -> YAF 2.16.4's IPFIX data records, byte for byte.
//!
//! The layout (templates, varlen forms, padding, list semantics) is the one documented in
//! ../shared/design/yaf-ipfix.md and checked against YAF's own files in
//! `tests/yaf_compare.rs` and `tests/export_yaf_bytes.rs`. Records are written straight into
//! the message buffer rather than through ipfix-model's generic `DataRecord` encoder: that one
//! allocates a value per field, and this is the per-flow hot path. The template *definitions*
//! come from ipfix-model (`ie::yaf`), so the two cannot drift apart.

use std::borrow::Cow;
use std::net::IpAddr;

use ipfix_model::ie::yaf::{self as yafdef, tid, TemplateDef};
use ipfix_model::ie::ElementId;

use crate::dpi::{
    DnsRecord, Parser, PendingDns, RawText, RdataOf, RecordHead, RecordSink, WireName,
};
use crate::flow::FlowRecord;

/// RFC 6313 list semantic "allOf": what YAF writes on every list it fills.
const ALL_OF: u8 = 3;
/// RFC 6313 "noneOf": YAF's (accidental) semantic on the empty rdata list of DNSKEY, NSEC3
/// and NSEC3PARAM records when DNSSEC export is off.
const NONE_OF: u8 = 0;

/// Template ID flag: 8-byte ("full length") counters instead of YAF's default 4-byte RLE.
pub const FLAG_FULL_COUNTERS: u16 = 0x0080;

/// Template ID flag of YAF's `--silk` mode: a TCP flow carries its sequence numbers and flags
/// in the top-level record (before vlanId) instead of a 0xC003/0xC013 STML entry, because
/// SiLK's rwflowpack reads only top-level fields.
pub const FLAG_SILK: u16 = 0x0020;

/// YAF switches to 8-byte counters when any counter reaches 2^31 (`YAF_RLEMAX` in
/// yafcore.c), not 2^32: the template choice must be the same to stay byte-compatible.
const RLE_MAX: u64 = 1 << 31;

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const NTP_EPOCH_OFFSET: u64 = 2_208_988_800;

/// Largest data record we emit: a message is at most 65535 octets, minus the 16-octet message
/// header and the 4-octet set header.
pub const MAX_RECORD_LEN: usize = 65_535 - 16 - 4;

/// What the encoder did with one flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Encoded {
    /// Template the record uses.
    pub template_id: u16,
    /// DNS records left out because the record would not fit in one IPFIX message.
    pub dns_truncated: usize,
}

/// Encoder options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Export DS/RRSIG/NSEC/DNSKEY/NSEC3 rdata (YAF: `--plugin-opts="53 DNSSEC"`).
    pub dnssec: bool,
    /// YAF's `--silk` layout: TCP fields in the top-level record ([`FLAG_SILK`]).
    pub silk: bool,
}

/// Top-level template ID YAF uses for this flow (default layout).
pub fn flow_template_id(f: &FlowRecord) -> u16 {
    flow_template_id_with(f, EncodeOptions::default())
}

/// Top-level template ID YAF uses for this flow with these options.
pub fn flow_template_id_with(f: &FlowRecord, opts: EncodeOptions) -> u16 {
    let mut t = tid::FLOW_IP4_UNIFLOW;
    if f.rev_packets > 0 {
        t |= 0x0010;
    }
    if f.src.is_ipv6() || f.dst.is_ipv6() {
        t |= 0x0400;
    }
    if f.octets >= RLE_MAX
        || f.rev_octets >= RLE_MAX
        || f.packets >= RLE_MAX
        || f.rev_packets >= RLE_MAX
    {
        t |= FLAG_FULL_COUNTERS;
    }
    if opts.silk && f.tcp.is_some() {
        t |= FLAG_SILK;
    }
    t
}

/// `flowStart/EndMicroseconds`: NTP 64-bit timestamp (RFC 7011 §6.1.9) with the low 11 bits
/// of the fraction cleared, exactly as YAF 2.16 writes it.
pub fn ntp_micro(ns: u64) -> u64 {
    let secs = ns / 1_000_000_000 + NTP_EPOCH_OFFSET;
    let sub = ns % 1_000_000_000;
    // sub < 1e9 < 2^30, so the shift cannot overflow 64 bits.
    let frac = (sub << 32) / 1_000_000_000;
    ((secs << 32) | frac) & !0x7FF
}

fn put_varlen_prefix(out: &mut Vec<u8>, len: usize) {
    // Strings: 1-byte length when it fits (libfixbuf's choice); callers cap len at 65535.
    if len < 255 {
        out.push(len as u8);
    } else {
        out.push(0xFF);
        out.extend_from_slice(&(len.min(65_535) as u16).to_be_bytes());
    }
}

/// A variable-length octet/string field, truncated to 65535 octets.
fn put_varlen(out: &mut Vec<u8>, v: &[u8]) {
    let v = v.get(..v.len().min(65_535)).unwrap_or_default();
    put_varlen_prefix(out, v.len());
    out.extend_from_slice(v);
}

/// A variable-length field whose octets are made while written (names formatted, texts
/// escaped): the 1-octet length is reserved, and widened to 3 octets in the rare case
/// (>= 255) the value needs it. Same bytes as [`put_varlen`] of the finished value.
fn put_varlen_with(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.push(0);
    write(out);
    let len = (out.len() - at - 1).min(65_535);
    out.truncate(at + 1 + len);
    if let Some(first) = out.get_mut(at) {
        if len < 255 {
            *first = len as u8;
            return;
        }
        *first = 0xFF;
    }
    let wide = (len as u16).to_be_bytes();
    out.splice(at + 1..at + 1, wide);
}

/// A value written as an IPFIX variable-length string or octet field.
pub trait Varlen {
    fn put_varlen(&self, out: &mut Vec<u8>);
}

impl Varlen for &str {
    fn put_varlen(&self, out: &mut Vec<u8>) {
        put_varlen(out, self.as_bytes());
    }
}

impl Varlen for &[u8] {
    fn put_varlen(&self, out: &mut Vec<u8>) {
        put_varlen(out, self);
    }
}

/// A name still in the DNS message: formatted straight into the output.
impl Varlen for WireName<'_> {
    fn put_varlen(&self, out: &mut Vec<u8>) {
        put_varlen_with(out, |o| self.write_to(o));
    }
}

/// Wire text: escaped straight into the output.
impl Varlen for RawText<'_> {
    fn put_varlen(&self, out: &mut Vec<u8>) {
        put_varlen_with(out, |o| self.write_to(o));
    }
}

/// Opens a list field in the 3-byte varlen form YAF always uses; returns where its length goes.
fn open_list(out: &mut Vec<u8>) -> usize {
    out.push(0xFF);
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    at
}

/// Fills the length of a list opened at `at`. Callers keep content within 65535 octets.
fn close_list(out: &mut [u8], at: usize) {
    let len = out.len().saturating_sub(at + 2).min(65_535) as u16;
    if let Some(slot) = out.get_mut(at..at + 2) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
}

fn put_addr(out: &mut Vec<u8>, a: IpAddr, v6: bool) {
    match (a, v6) {
        (IpAddr::V4(a), false) => out.extend_from_slice(&a.octets()),
        (IpAddr::V6(a), true) => out.extend_from_slice(&a.octets()),
        (IpAddr::V4(a), true) => out.extend_from_slice(&a.to_ipv6_mapped().octets()),
        // Unreachable for a consistent flow (both addresses share a family); zeros rather
        // than a panic.
        (IpAddr::V6(_), false) => out.extend_from_slice(&[0; 4]),
    }
}

fn put_counter(out: &mut Vec<u8>, v: u64, full: bool) {
    if full {
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.extend_from_slice(&(v.min(u64::from(u32::MAX)) as u32).to_be_bytes());
    }
}

/// Appends the flow's data record (without set header) to `out`, with the DNS records of
/// `f.dns`.
pub fn encode_flow(f: &FlowRecord, opts: EncodeOptions, out: &mut Vec<u8>) -> Encoded {
    let has_dns = !f.dns.is_empty();
    encode_flow_with(f, opts, out, has_dns, |list| {
        for rr in &f.dns {
            list.push(&rr.head, rr.qname.as_bytes(), &rr.rdata.view());
        }
        false
    })
}

/// As [`encode_flow`] for a flow the table ended: its held DNS messages (after any records
/// already in `f.dns`) are decoded straight into the record, without a [`DnsRecord`] each;
/// silkAppLabel becomes 53 when they decode as DNS, as [`crate::flow::EndedFlow::into_record`]
/// would set it. Same bytes as `encode_flow(&into_record(..))`.
pub fn encode_ended(
    f: &FlowRecord,
    dns: PendingDns,
    opts: EncodeOptions,
    out: &mut Vec<u8>,
    scratch: &mut DnsScratch,
) -> Encoded {
    let has_dns = !f.dns.is_empty() || !dns.is_empty();
    encode_flow_with(f, opts, out, has_dns, |list| {
        for rr in &f.dns {
            list.push(&rr.head, rr.qname.as_bytes(), &rr.rdata.view());
        }
        // The reverse direction's records follow all of the forward's (YAF's order) but
        // arrive interleaved with them: they are encoded aside and appended after.
        let DnsScratch { parser, rev, ends } = scratch;
        rev.clear();
        ends.clear();
        let mut aside = DnsList {
            out: rev,
            opts: list.opts,
            fit_from: None,
            ends,
            records: 0,
            truncated: 0,
        };
        let seen = dns.decode_into(parser, list, &mut aside);
        list.append_aside(rev, ends);
        seen
    })
}

/// Buffers [`encode_ended`] reuses from flow to flow.
#[derive(Debug, Default)]
pub struct DnsScratch {
    parser: Parser,
    /// The reverse direction's encoded records, and where each ends.
    rev: Vec<u8>,
    ends: Vec<usize>,
}

/// 0xCF00 records written as they are decoded ([`RecordSink`]).
struct DnsList<'a> {
    out: &'a mut Vec<u8>,
    opts: EncodeOptions,
    /// Where the flow record starts in `out`, when records go straight into it: each must
    /// fit in [`MAX_RECORD_LEN`] from there. `None`: records are collected aside, their
    /// ends noted in `ends`.
    fit_from: Option<usize>,
    ends: &'a mut Vec<usize>,
    /// Records written.
    records: usize,
    /// Records left out because the flow record would not fit in one message.
    truncated: usize,
}

impl DnsList<'_> {
    fn push<N: Varlen, T: Varlen, B: Varlen, P>(
        &mut self,
        head: &RecordHead,
        owner: &[u8],
        rdata: &RdataOf<N, T, B, P>,
    ) {
        let mark = self.out.len();
        encode_dns_fields(head, owner, rdata, self.opts, self.out);
        match self.fit_from {
            // Every enclosing length (STL, STML entry, STML, message) must stay in 16 bits;
            // after the first record that does not fit, none is written.
            Some(start) if self.truncated > 0 || self.out.len() - start > MAX_RECORD_LEN => {
                self.out.truncate(mark);
                self.truncated += 1;
            }
            Some(_) => self.records += 1,
            None => {
                self.ends.push(self.out.len());
                self.records += 1;
            }
        }
    }

    /// Appends the records collected aside, as many as fit (all of them unless this list
    /// already left records out).
    fn append_aside(&mut self, aside: &[u8], ends: &[usize]) {
        let Some(start) = self.fit_from else {
            return;
        };
        let room = MAX_RECORD_LEN.saturating_sub(self.out.len() - start);
        let fit = if self.truncated > 0 {
            0
        } else {
            ends.partition_point(|&e| e <= room)
        };
        let upto = fit
            .checked_sub(1)
            .and_then(|i| ends.get(i))
            .copied()
            .unwrap_or(0);
        self.out
            .extend_from_slice(aside.get(..upto).unwrap_or_default());
        self.records += fit;
        self.truncated += ends.len() - fit;
    }
}

impl RecordSink for DnsList<'_> {
    fn record(&mut self, head: &RecordHead, owner: &[u8], rdata: &crate::dpi::RdataRef<'_>) {
        self.push(head, owner, rdata);
    }
}

/// The record up to its DNS list (left open), the list's records from `dns` (which returns
/// whether the flow's messages decoded as DNS), then the list closed.
fn encode_flow_with(
    f: &FlowRecord,
    opts: EncodeOptions,
    out: &mut Vec<u8>,
    has_dns: bool,
    dns: impl FnOnce(&mut DnsList<'_>) -> bool,
) -> Encoded {
    let template_id = flow_template_id_with(f, opts);
    let bi = template_id & 0x0010 != 0;
    let v6 = template_id & 0x0400 != 0;
    let full = template_id & FLAG_FULL_COUNTERS != 0;
    let silk_tcp = match f.tcp {
        Some(t) if template_id & FLAG_SILK != 0 => Some(t),
        _ => None,
    };
    let start = out.len();

    out.extend_from_slice(&(f.start_ns / 1_000_000).to_be_bytes());
    out.extend_from_slice(&(f.end_ns / 1_000_000).to_be_bytes());
    out.extend_from_slice(&ntp_micro(f.start_ns).to_be_bytes());
    out.extend_from_slice(&ntp_micro(f.end_ns).to_be_bytes());
    put_counter(out, f.octets, full);
    if bi {
        put_counter(out, f.rev_octets, full);
    }
    put_counter(out, f.packets, full);
    if bi {
        put_counter(out, f.rev_packets, full);
    }
    put_addr(out, f.src, v6);
    put_addr(out, f.dst, v6);
    out.extend_from_slice(&f.sport.to_be_bytes());
    out.extend_from_slice(&f.dport.to_be_bytes());
    out.extend_from_slice(&f.attributes.to_be_bytes());
    if bi {
        out.extend_from_slice(&f.rev_attributes.to_be_bytes());
    }
    out.push(f.proto);
    out.push(f.end_reason);
    let app_label_at = out.len();
    out.extend_from_slice(&f.app_label.to_be_bytes());
    if bi {
        let delta_us = f.rev_delta_ns / 1_000;
        let delta_ms = u32::try_from(delta_us / 1_000).unwrap_or(u32::MAX);
        out.extend_from_slice(&delta_ms.to_be_bytes());
        out.extend_from_slice(&delta_us.to_be_bytes());
    }
    if let Some(t) = silk_tcp {
        // yaf_flow_full_spec order: seq, reverse seq, flags, union, reverse flags, reverse union.
        out.extend_from_slice(&t.isn.to_be_bytes());
        if bi {
            out.extend_from_slice(&t.rev_isn.to_be_bytes());
        }
        out.push(t.initial_flags);
        out.push(t.union_flags);
        if bi {
            out.push(t.rev_initial_flags);
            out.push(t.rev_union_flags);
        }
    }
    out.extend_from_slice(&f.vlan.to_be_bytes());
    if bi {
        out.extend_from_slice(&f.rev_vlan.to_be_bytes());
    }
    out.push(f.tos);
    if bi {
        out.push(f.rev_tos);
    }

    // subTemplateMultiList: [TCP entry] [DNS entry].
    let stml = open_list(out);
    out.push(ALL_OF);
    if let (Some(t), None) = (f.tcp, silk_tcp) {
        let entry = out.len();
        out.extend_from_slice(&(if bi { tid::TCP_REV } else { tid::TCP }).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&t.isn.to_be_bytes());
        out.push(t.initial_flags);
        out.push(t.union_flags);
        if bi {
            out.push(t.rev_initial_flags);
            out.push(t.rev_union_flags);
            out.extend_from_slice(&t.rev_isn.to_be_bytes());
        }
        close_entry(out, entry);
    }
    let mut dns_truncated = 0;
    if has_dns {
        let entry = out.len();
        out.extend_from_slice(&tid::DNS.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        // 0xCE00: one record = one STL of 0xCF00.
        let stl = open_list(out);
        out.push(ALL_OF);
        out.extend_from_slice(&tid::DNS_QR.to_be_bytes());
        let mut unused = Vec::new();
        let mut list = DnsList {
            out,
            opts,
            fit_from: Some(start),
            ends: &mut unused,
            records: 0,
            truncated: 0,
        };
        let seen_dns = dns(&mut list);
        let (records, truncated) = (list.records, list.truncated);
        dns_truncated = truncated;
        if seen_dns {
            if let Some(slot) = out.get_mut(app_label_at..app_label_at + 2) {
                slot.copy_from_slice(&53u16.to_be_bytes());
            }
        }
        if records + truncated == 0 {
            // No record after all (held messages that did not decode): no entry, as for a
            // flow without DNS.
            out.truncate(entry);
        } else {
            close_list(out, stl);
            close_entry(out, entry);
        }
    }
    close_list(out, stml);
    Encoded {
        template_id,
        dns_truncated,
    }
}

/// Fills the length of an STML entry header written at `at` (tid, len; len counts itself).
fn close_entry(out: &mut [u8], at: usize) {
    let len = out.len().saturating_sub(at).min(65_535) as u16;
    if let Some(slot) = out.get_mut(at + 2..at + 4) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
}

/// Whether YAF puts rdata for this type only in DNSSEC mode and, without it, writes its empty
/// rdata list with semantic 0 (DNSKEY, NSEC3, NSEC3PARAM answers: observed in every corpus file).
fn empty_semantic(rr: &RecordHead, opts: EncodeOptions) -> u8 {
    if !opts.dnssec && rr.section != 0 && matches!(rr.rrtype, 48 | 50 | 51) {
        NONE_OF
    } else {
        ALL_OF
    }
}

/// One 0xCF00 record: rdata STL, qname, ttl, type, qr, aa, rcode, section, id, padding.
pub fn encode_dns_record(rr: &DnsRecord, opts: EncodeOptions, out: &mut Vec<u8>) {
    encode_dns_fields(&rr.head, rr.qname.as_bytes(), &rr.rdata.view(), opts, out);
}

/// [`encode_dns_record`] from its parts, the RDATA decoded or owned (see [`RdataOf`]).
fn encode_dns_fields<N: Varlen, T: Varlen, B: Varlen, P>(
    rr: &RecordHead,
    qname: &[u8],
    rdata: &RdataOf<N, T, B, P>,
    opts: EncodeOptions,
    out: &mut Vec<u8>,
) {
    let stl = open_list(out);
    encode_rdata(rr, rdata, opts, out);
    close_list(out, stl);
    put_varlen(out, qname);
    out.extend_from_slice(&rr.ttl.to_be_bytes());
    out.extend_from_slice(&rr.rrtype.to_be_bytes());
    out.push(rr.qr);
    out.push(rr.aa);
    out.push(rr.rcode);
    out.push(rr.section);
    out.extend_from_slice(&rr.id.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
}

/// The rdata STL content (semantic, template ID, 0 or 1 record).
///
/// Types YAF has no template for (HTTPS/SVCB, CAA, everything else) and DNSSEC types without
/// DNSSEC export get YAF's empty list (`03 CE 01`): dnsQRType still names the type, every YAF
/// reader decodes it, and nothing private appears on the wire.
fn encode_rdata<N: Varlen, T: Varlen, B: Varlen, P>(
    rr: &RecordHead,
    rdata: &RdataOf<N, T, B, P>,
    opts: EncodeOptions,
    out: &mut Vec<u8>,
) {
    let head = |out: &mut Vec<u8>, t: u16| {
        out.push(ALL_OF);
        out.extend_from_slice(&t.to_be_bytes());
    };
    match rdata {
        RdataOf::A(a) => {
            head(out, tid::DNS_A);
            out.extend_from_slice(&a.octets());
        }
        RdataOf::Aaaa(a) => {
            head(out, tid::DNS_AAAA);
            out.extend_from_slice(&a.octets());
        }
        RdataOf::Cname(n) => {
            head(out, tid::DNS_CNAME);
            n.put_varlen(out);
        }
        RdataOf::Ns(n) => {
            head(out, tid::DNS_NS);
            n.put_varlen(out);
        }
        RdataOf::Ptr(n) => {
            head(out, tid::DNS_PTR);
            n.put_varlen(out);
        }
        RdataOf::Mx {
            preference,
            exchange,
        } => {
            head(out, tid::DNS_MX);
            exchange.put_varlen(out);
            out.extend_from_slice(&preference.to_be_bytes());
            out.extend_from_slice(&[0; 6]);
        }
        RdataOf::Txt(t) => {
            head(out, tid::DNS_TXT);
            t.put_varlen(out);
        }
        RdataOf::Srv {
            priority,
            weight,
            port,
            target,
        } => {
            head(out, tid::DNS_SRV);
            target.put_varlen(out);
            out.extend_from_slice(&priority.to_be_bytes());
            out.extend_from_slice(&weight.to_be_bytes());
            out.extend_from_slice(&port.to_be_bytes());
            out.extend_from_slice(&[0; 2]);
        }
        RdataOf::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => {
            head(out, tid::DNS_SOA);
            mname.put_varlen(out);
            rname.put_varlen(out);
            for v in [serial, refresh, retry, expire, minimum] {
                out.extend_from_slice(&v.to_be_bytes());
            }
            out.extend_from_slice(&[0; 4]);
        }
        RdataOf::Ds {
            key_tag,
            algorithm,
            digest_type,
            digest,
        } if opts.dnssec => {
            head(out, tid::DNS_DS);
            digest.put_varlen(out);
            out.extend_from_slice(&key_tag.to_be_bytes());
            out.push(*algorithm);
            out.push(*digest_type);
            out.extend_from_slice(&[0; 4]);
        }
        RdataOf::Rrsig {
            type_covered,
            algorithm,
            labels,
            original_ttl,
            expiration,
            inception,
            key_tag,
            signer,
            signature,
        } if opts.dnssec => {
            head(out, tid::DNS_RRSIG);
            signer.put_varlen(out);
            signature.put_varlen(out);
            out.extend_from_slice(&inception.to_be_bytes());
            out.extend_from_slice(&expiration.to_be_bytes());
            out.extend_from_slice(&original_ttl.to_be_bytes());
            out.extend_from_slice(&key_tag.to_be_bytes());
            out.extend_from_slice(&type_covered.to_be_bytes());
            out.push(*algorithm);
            out.push(*labels);
            out.extend_from_slice(&[0; 6]);
        }
        RdataOf::Nsec { next_name } if opts.dnssec => {
            head(out, tid::DNS_NSEC);
            next_name.put_varlen(out);
        }
        RdataOf::Dnskey {
            flags,
            protocol,
            algorithm,
            public_key,
        } if opts.dnssec => {
            head(out, tid::DNS_DNSKEY);
            public_key.put_varlen(out);
            out.extend_from_slice(&flags.to_be_bytes());
            out.push(*protocol);
            out.push(*algorithm);
            out.extend_from_slice(&[0; 4]);
        }
        RdataOf::Nsec3 {
            algorithm,
            iterations,
            salt,
            next_hashed,
            ..
        } if opts.dnssec => {
            head(out, tid::DNS_NSEC3);
            salt.put_varlen(out);
            next_hashed.put_varlen(out);
            out.extend_from_slice(&iterations.to_be_bytes());
            out.push(*algorithm);
            out.extend_from_slice(&[0; 5]);
        }
        _ => {
            out.push(empty_semantic(rr, opts));
            out.extend_from_slice(&tid::DNS_A.to_be_bytes());
        }
    }
}

/// YAF's template definitions, looked up by ID.
#[derive(Clone, Debug)]
pub struct TemplateTable {
    defs: Vec<TemplateDef>,
}

/// How YAF 2.16.4 groups its templates in the first message (libfixbuf's hash-table order,
/// constant for a given template set: the same in all 293 corpus files). `true` marks an
/// options template set.
const YAF_TEMPLATE_SETS: &[(bool, &[u16])] = &[
    (
        false,
        &[
            tid::TCP,
            tid::DNS_A,
            tid::DNS_MX,
            tid::TOMBSTONE_ACCESS,
            tid::MPTCP,
            tid::DNS_TXT,
            tid::MAC,
            tid::DNS_AAAA,
        ],
    ),
    (true, &[tid::PROCESS_STATS]),
    (
        false,
        &[
            tid::PAYLOAD_REV,
            tid::FLOW_STATS_REV,
            tid::DNS_QR,
            tid::DNS_NS,
            tid::DNS_SRV,
            tid::TCP_REV,
            tid::FLOW_STATS,
            tid::DNS_CNAME,
        ],
    ),
    (true, &[tid::TOMBSTONE]),
    (false, &[tid::PAYLOAD, tid::DNS_PTR, tid::DNS, tid::DNS_SOA]),
];

/// DNSSEC rdata templates, sent only when DNSSEC export is on. (YAF would interleave them in
/// its hash order; we append them to the last set: same definitions, different position.)
const DNSSEC_TEMPLATES: [u16; 5] = [
    tid::DNS_DS,
    tid::DNS_RRSIG,
    tid::DNS_NSEC,
    tid::DNS_DNSKEY,
    tid::DNS_NSEC3,
];

impl TemplateTable {
    /// Loads YAF 2.16's definitions from ipfix-model.
    pub fn load() -> Result<Self, yafdef::TemplateDefError> {
        Ok(Self {
            defs: yafdef::yaf_templates()?,
        })
    }

    fn def(&self, id: u16) -> Option<&TemplateDef> {
        self.defs.iter().find(|d| d.id == id)
    }

    /// The base template sets YAF sends at session start: (is options set, template IDs).
    pub fn initial_sets(&self, opts: EncodeOptions) -> Vec<(bool, Vec<u16>)> {
        let mut sets: Vec<(bool, Vec<u16>)> = YAF_TEMPLATE_SETS
            .iter()
            .map(|(o, ids)| (*o, ids.to_vec()))
            .collect();
        if opts.dnssec {
            if let Some(last) = sets.last_mut() {
                last.1.extend_from_slice(&DNSSEC_TEMPLATES);
            }
        }
        sets
    }

    /// The definition of `id`. Flow template IDs carrying [`FLAG_FULL_COUNTERS`] and/or
    /// [`FLAG_SILK`] are derived from their base definition, as YAF derives every flow
    /// template from one field list with flags: 8-byte counters, and in SiLK mode the TCP
    /// fields inserted before vlanId (their lengths from the 0xC013 definition).
    fn resolve(&self, id: u16) -> Option<Cow<'_, TemplateDef>> {
        let flags = if id & 0xF000 == 0xB000 {
            id & (FLAG_FULL_COUNTERS | FLAG_SILK)
        } else {
            0
        };
        let base = self.def(id & !flags)?;
        if flags == 0 {
            return Some(Cow::Borrowed(base));
        }
        let mut d = base.clone();
        d.id = id;
        if flags & FLAG_FULL_COUNTERS != 0 {
            for (el, len) in &mut d.fields {
                if is_counter(*el) {
                    *len = 8;
                }
            }
        }
        if flags & FLAG_SILK != 0 {
            let tcp = self.def(tid::TCP_REV)?;
            let want: &[ElementId] = if id & 0x0010 != 0 {
                &SILK_TCP_FIELDS
            } else {
                &SILK_TCP_FIELDS_UNIFLOW
            };
            let fields = want
                .iter()
                .map(|w| tcp.fields.iter().find(|(el, _)| el == w).copied())
                .collect::<Option<Vec<_>>>()?;
            let at = d.fields.iter().position(|(el, _)| *el == VLAN_ID)?;
            d.fields.splice(at..at, fields);
        }
        Some(Cow::Owned(d))
    }

    /// Smallest record of template `id`: fixed fields plus one octet per variable-length field
    /// (libfixbuf's notion, used for its "does a new set fit" test).
    pub fn min_record_len(&self, id: u16) -> usize {
        let Some(def) = self.resolve(id) else {
            return 0;
        };
        def.fields
            .iter()
            .map(|(_, len)| match *len {
                yafdef::VARLEN => 1,
                l => usize::from(l),
            })
            .sum()
    }

    /// Appends the template record for `id` (RFC 7011 §3.4.1/§3.4.2) to `out`. Flow template
    /// IDs with [`FLAG_FULL_COUNTERS`] or [`FLAG_SILK`] are derived from their base definition.
    /// Returns false if the ID is unknown.
    pub fn encode_template(&self, id: u16, out: &mut Vec<u8>) -> bool {
        let Some(def) = self.resolve(id) else {
            return false;
        };
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&(def.fields.len() as u16).to_be_bytes());
        if def.scope_count > 0 {
            out.extend_from_slice(&def.scope_count.to_be_bytes());
        }
        for (el, len) in &def.fields {
            if el.pen != 0 {
                out.extend_from_slice(&(el.id | 0x8000).to_be_bytes());
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&el.pen.to_be_bytes());
            } else {
                out.extend_from_slice(&el.id.to_be_bytes());
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        true
    }
}

/// vlanId: the SiLK-mode TCP fields go right before it (yaf_flow_full_spec).
const VLAN_ID: ElementId = ElementId::new(0, 58);

/// SiLK-mode TCP fields of a biflow, in YAF's order: tcpSequenceNumber,
/// reverseTcpSequenceNumber, initialTCPFlags, unionTCPFlags, reverseInitialTCPFlags,
/// reverseUnionTCPFlags.
const SILK_TCP_FIELDS: [ElementId; 6] = [
    ElementId::new(0, 184),
    ElementId::new(ipfix_model::ie::REVERSE_PEN, 184),
    ElementId::new(ipfix_model::ie::CERT_PEN, 14),
    ElementId::new(ipfix_model::ie::CERT_PEN, 15),
    ElementId::new(ipfix_model::ie::CERT_PEN, 14 | 0x4000),
    ElementId::new(ipfix_model::ie::CERT_PEN, 15 | 0x4000),
];

/// ... and of a uniflow (no reverse fields).
const SILK_TCP_FIELDS_UNIFLOW: [ElementId; 3] = [
    ElementId::new(0, 184),
    ElementId::new(ipfix_model::ie::CERT_PEN, 14),
    ElementId::new(ipfix_model::ie::CERT_PEN, 15),
];

/// octetTotalCount / packetTotalCount and their RFC 5103 reverse twins.
fn is_counter(el: ElementId) -> bool {
    (el.pen == 0 || el.pen == ipfix_model::ie::REVERSE_PEN) && (el.id == 85 || el.id == 86)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpi::Rdata;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn rr(rrtype: u16, section: u8, rdata: Rdata) -> DnsRecord {
        DnsRecord {
            qname: "example.com.".into(),
            head: RecordHead {
                ttl: if section == 0 { 0 } else { 300 },
                rrtype,
                qr: 1,
                aa: 0,
                rcode: 0,
                section,
                id: 0x1234,
            },
            rdata,
        }
    }

    #[test]
    fn ntp_micro_masks_low_bits_like_yaf() {
        // From dns-caa.yaf: flowStartMilliseconds 0x0154_4f89_b9da, micro 0xdac9188a_b6efc000.
        // 1461623306.714596 s (the only microsecond value that maps to this fraction).
        let ns = 1_461_623_306_714_596_000;
        assert_eq!(ntp_micro(ns), 0xdac9_188a_b6ef_c000);
        assert_eq!(ns / 1_000_000, 0x0154_4f89_b9da);
        assert_eq!(ntp_micro(0) >> 32, NTP_EPOCH_OFFSET);
        assert_eq!(ntp_micro(999_999_999) & 0x7FF, 0);
    }

    #[test]
    fn question_has_empty_rdata_list() {
        let mut out = Vec::new();
        encode_dns_record(&rr(1, 0, Rdata::None), EncodeOptions::default(), &mut out);
        let want: &[u8] = &[
            0xFF, 0x00, 0x03, // rdata STL, 3-byte varlen: 3 octets
            0x03, 0xCE, 0x01, // semantic allOf, template 0xCE01, no records
            12, b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b'c', b'o', b'm',
            b'.', // qname
            0, 0, 0, 0, // ttl
            0, 1, // qtype A
            1, 0, 0, 0, // qr aa rcode section
            0x12, 0x34, // id
            0, 0, 0, 0, // paddingOctets
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn dnskey_answer_without_dnssec_is_semantic_zero() {
        let mut out = Vec::new();
        let k = Rdata::Dnskey {
            flags: 257,
            protocol: 3,
            algorithm: 8,
            public_key: vec![1, 2, 3],
        };
        encode_dns_record(&rr(48, 1, k.clone()), EncodeOptions::default(), &mut out);
        assert_eq!(&out[..6], &[0xFF, 0, 3, 0x00, 0xCE, 0x01]);
        out.clear();
        encode_dns_record(
            &rr(48, 1, k),
            EncodeOptions {
                dnssec: true,
                ..EncodeOptions::default()
            },
            &mut out,
        );
        // semantic 3, 0xCE12, key (varlen 3 + 3), flags 2, proto 1, alg 1, pad 4
        assert_eq!(&out[..6], &[0xFF, 0, 3 + 4 + 4 + 4, 0x03, 0xCE, 0x12]);
        assert_eq!(&out[6..10], &[3, 1, 2, 3]);
        assert_eq!(&out[10..18], &[1, 1, 3, 8, 0, 0, 0, 0]);
    }

    #[test]
    fn a_and_mx_rdata() {
        let mut out = Vec::new();
        let a = rr(1, 1, Rdata::A(Ipv4Addr::new(192, 0, 2, 1)));
        encode_dns_record(&a, EncodeOptions::default(), &mut out);
        assert_eq!(&out[..10], &[0xFF, 0, 7, 3, 0xCE, 0x01, 192, 0, 2, 1]);
        out.clear();
        let mx = rr(
            15,
            1,
            Rdata::Mx {
                preference: 10,
                exchange: "mx.".into(),
            },
        );
        encode_dns_record(&mx, EncodeOptions::default(), &mut out);
        #[rustfmt::skip]
        let want: &[u8] = &[0xFF, 0, 3 + 4 + 2 + 6, 3, 0xCE, 0x04, 3, b'm', b'x', b'.', 0, 10, 0, 0, 0, 0, 0, 0];
        assert_eq!(&out[..want.len()], want);
    }

    #[test]
    fn long_names_use_three_byte_length() {
        let mut out = Vec::new();
        put_varlen(&mut out, &[b'a'; 300]);
        assert_eq!(&out[..3], &[0xFF, 0x01, 0x2C]);
        assert_eq!(out.len(), 303);
    }

    fn flow(dns: &[DnsRecord]) -> FlowRecord {
        FlowRecord {
            start_ns: 1_000_000_000_000_000_000,
            end_ns: 1_000_000_000_500_000_000,
            rev_delta_ns: 14_345_000,
            octets: 56,
            rev_octets: 87,
            packets: 1,
            rev_packets: 1,
            src: IpAddr::V4(Ipv4Addr::new(192, 168, 17, 58)),
            dst: IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
            sport: 58755,
            dport: 53,
            attributes: 0,
            rev_attributes: 0,
            proto: 17,
            end_reason: 4,
            app_label: 53,
            vlan: 0,
            rev_vlan: 0,
            tos: 0,
            rev_tos: 0x20,
            tcp: None,
            dns: dns.to_vec(),
        }
    }

    #[test]
    fn biflow_v4_layout_without_lists() {
        let f = flow(&[]);
        let mut out = Vec::new();
        let e = encode_flow(&f, EncodeOptions::default(), &mut out);
        assert_eq!(e.template_id, 0xB010);
        assert_eq!(out.len(), 90);
        // reverseFlowDeltaMilliseconds 14, Microseconds 14345
        assert_eq!(&out[68..72], &[0, 0, 0, 14]);
        assert_eq!(&out[72..80], &14_345u64.to_be_bytes());
        // empty STML: 3-byte varlen, semantic only
        assert_eq!(&out[86..], &[0xFF, 0, 1, 3]);
    }

    #[test]
    fn template_ids_follow_yaf_flags() {
        let mut f = flow(&[]);
        assert_eq!(flow_template_id(&f), 0xB010);
        f.rev_packets = 0;
        assert_eq!(flow_template_id(&f), 0xB000);
        f.src = IpAddr::V6(Ipv6Addr::LOCALHOST);
        f.dst = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(flow_template_id(&f), 0xB400);
        f.octets = 1 << 33;
        assert_eq!(flow_template_id(&f), 0xB480);
        let mut out = Vec::new();
        encode_flow(&f, EncodeOptions::default(), &mut out);
        // 4 times, 2 counters of 8, 2 v6 addresses, ports 4, attr 2, proto/reason 2,
        // applabel 2, vlan 2, tos 1, stml 4
        assert_eq!(out.len(), 32 + 16 + 32 + 4 + 2 + 2 + 2 + 2 + 1 + 4);
    }

    #[test]
    fn oversized_dns_list_is_truncated_to_fit_a_message() {
        let big = DnsRecord {
            rdata: Rdata::Txt("x".repeat(1000)),
            ..rr(16, 1, Rdata::None)
        };
        let many = vec![big; 100];
        let mut out = Vec::new();
        let e = encode_flow(&flow(&many), EncodeOptions::default(), &mut out);
        assert!(e.dns_truncated > 0 && e.dns_truncated < 100);
        assert!(out.len() <= MAX_RECORD_LEN);
    }

    #[test]
    fn template_records_match_definitions() {
        let t = TemplateTable::load().unwrap();
        let mut out = Vec::new();
        assert!(t.encode_template(tid::DNS_A, &mut out));
        assert_eq!(out, [0xCE, 0x01, 0, 1, 0, 8, 0, 4]);
        out.clear();
        assert!(t.encode_template(0xB010 | FLAG_FULL_COUNTERS, &mut out));
        // octetTotalCount is the 5th field: 4 + 4*4 bytes in.
        assert_eq!(&out[20..24], &[0, 85, 0, 8]);
        assert!(!t.encode_template(0x1234, &mut out));
    }

    fn tcp_flow() -> FlowRecord {
        FlowRecord {
            proto: 6,
            tcp: Some(crate::flow::TcpInfo {
                isn: 0x0102_0304,
                rev_isn: 0x0A0B_0C0D,
                initial_flags: 0x02,
                union_flags: 0x1B,
                rev_initial_flags: 0x12,
                rev_union_flags: 0x1F,
            }),
            ..flow(&[])
        }
    }

    #[test]
    fn counters_switch_to_eight_bytes_at_two_to_the_31_like_yaf() {
        let mut f = flow(&[]);
        f.rev_octets = (1 << 31) - 1;
        assert_eq!(flow_template_id(&f), 0xB010);
        f.rev_octets = 1 << 31;
        assert_eq!(flow_template_id(&f), 0xB090);
        let mut out = Vec::new();
        encode_flow(&f, EncodeOptions::default(), &mut out);
        // octets 8 bytes after the four timestamps, then the reverse count
        assert_eq!(&out[40..48], &(1u64 << 31).to_be_bytes());
    }

    #[test]
    fn silk_mode_puts_tcp_fields_in_the_flow_record() {
        let silk = EncodeOptions {
            silk: true,
            ..EncodeOptions::default()
        };
        let f = tcp_flow();
        let mut plain = Vec::new();
        let e = encode_flow(&f, EncodeOptions::default(), &mut plain);
        assert_eq!(e.template_id, 0xB010);
        let mut out = Vec::new();
        let e = encode_flow(&f, silk, &mut out);
        assert_eq!(e.template_id, 0xB030);
        // Up to reverseFlowDeltaMicroseconds (80 octets) the layouts agree; then SiLK's
        // seq, reverse seq, initial, union, reverse initial, reverse union.
        assert_eq!(out[..80], plain[..80]);
        #[rustfmt::skip]
        let tcp: &[u8] = &[1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D, 0x02, 0x1B, 0x12, 0x1F];
        assert_eq!(&out[80..92], tcp);
        // vlan 2+2, tos 1+1, then an STML without the TCP entry
        assert_eq!(&out[98..], &[0xFF, 0, 1, 3]);
        assert_eq!(out.len(), plain.len() - (4 + 12) + 12);
        // A UDP flow is not affected by SiLK mode.
        let mut udp = Vec::new();
        assert_eq!(encode_flow(&flow(&[]), silk, &mut udp).template_id, 0xB010);
        // Uniflow: only the forward fields.
        let mut uni = tcp_flow();
        uni.rev_packets = 0;
        out.clear();
        assert_eq!(encode_flow(&uni, silk, &mut out).template_id, 0xB020);
        // 4 times 32, counters 8, addresses 8, ports 4, attr 2, proto/reason 2, applabel 2
        assert_eq!(&out[58..64], &[1, 2, 3, 4, 0x02, 0x1B]);
    }

    #[test]
    fn silk_templates_are_derived_with_tcp_fields_before_vlan() {
        let t = TemplateTable::load().unwrap();
        let mut out = Vec::new();
        assert!(t.encode_template(0xB030, &mut out));
        let plain = {
            let mut v = Vec::new();
            assert!(t.encode_template(0xB010, &mut v));
            v
        };
        // 6 more fields: tcpSequenceNumber (IANA, 4 octets) and five enterprise-coded ones
        // (8 octets each: the reverse sequence number under PEN 29305, four CERT flags)
        assert_eq!(out.len(), plain.len() + 4 + 5 * 8);
        assert_eq!(u16::from_be_bytes([out[2], out[3]]), 24 + 6);
        // Up to reverseFlowDeltaMicroseconds the fields are the same (record header 4, times
        // 16, counters 24, addresses and ports 16, attributes 16, proto and reason 8,
        // silkAppLabel 8, reverse deltas 16), then tcpSequenceNumber (184, 4) and its
        // reverse (PEN 29305), initialTCPFlags (6871/14, 1)...
        let head = 4 + 16 + 24 + 16 + 16 + 8 + 8 + 16;
        assert_eq!(out[4..head], plain[4..head]);
        #[rustfmt::skip]
        let want: &[u8] = &[
            0, 184, 0, 4,
            0x80, 184, 0, 4, 0, 0, 0x72, 0x79,
            0x80, 14, 0, 1, 0, 0, 0x1A, 0xD7,
            0x80, 15, 0, 1, 0, 0, 0x1A, 0xD7,
            0xC0, 14, 0, 1, 0, 0, 0x1A, 0xD7,
            0xC0, 15, 0, 1, 0, 0, 0x1A, 0xD7,
            0, 58, 0, 2,
        ];
        assert_eq!(&out[head..head + want.len()], want);
        assert_eq!(t.min_record_len(0xB030), t.min_record_len(0xB010) + 12);
        assert_eq!(t.min_record_len(0xB020), t.min_record_len(0xB000) + 6);
        assert_eq!(
            t.min_record_len(0xB030 | FLAG_FULL_COUNTERS),
            t.min_record_len(0xB010) + 12 + 16
        );
    }

    mod ended {
        //! `encode_ended` (held messages decoded straight into the record) must give the
        //! bytes of `encode_flow` on the expanded record, and count the same.
        use super::*;
        use crate::dpi::{Decoding, DnsFlowState, DnsStats, DpiConfig};
        use proptest::prelude::*;
        use std::sync::Arc;

        fn name(m: &mut Vec<u8>, labels: &[&[u8]]) {
            for l in labels {
                m.push(l.len() as u8);
                m.extend_from_slice(l);
            }
            m.push(0);
        }

        fn rr(m: &mut Vec<u8>, owner_ptr: u16, rtype: u16, rdata: &[u8]) {
            m.extend_from_slice(&(0xC000 | owner_ptr).to_be_bytes());
            m.extend_from_slice(&rtype.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0x0E, 0x10]);
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(rdata);
        }

        /// A response with one RR of every decoded type (owner: the question name at 12),
        /// a question name that escapes to more than 255 octets, and an OPT.
        fn every_type(rcode: u8) -> Vec<u8> {
            let mut m = vec![0xAB, 0xCD, 0x85, 0x80 | rcode, 0, 1, 0, 17, 0, 1, 0, 2];
            let odd = [0x01u8; 60];
            name(&mut m, &[b"w\\.w", &odd, &odd, &odd, b"ex"]);
            m.extend_from_slice(&[0, 1, 0, 1]);
            let ptr_ex = 12 + 1 + 4 + 3 * 61; // "ex." inside the question name
            let ex = (0xC000u16 | ptr_ex as u16).to_be_bytes();
            let mut n = vec![1, b'a'];
            n.extend_from_slice(&ex);
            rr(&mut m, 12, 1, &[192, 0, 2, 1]);
            rr(
                &mut m,
                12,
                28,
                &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            );
            rr(&mut m, 12, 5, &n);
            rr(&mut m, 12, 2, &ex);
            rr(&mut m, 12, 12, &n);
            let mut mx = vec![0, 10];
            mx.extend_from_slice(&n);
            rr(&mut m, 12, 15, &mx);
            rr(&mut m, 12, 16, b"\x0bv=spf1 \\.\n\xff\x02zz");
            let mut srv = vec![0, 1, 0, 2, 1, 0xBB];
            srv.extend_from_slice(&ex);
            rr(&mut m, 12, 33, &srv);
            let mut soa = n.clone();
            soa.extend_from_slice(&ex);
            for v in [1u32, 2, 3, 4, 5] {
                soa.extend_from_slice(&v.to_be_bytes());
            }
            rr(&mut m, 12, 6, &soa);
            rr(&mut m, 12, 43, &[0x12, 0x34, 8, 2, 0xDE, 0xAD]);
            let mut sig = vec![0, 1, 8, 2, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0x44, 0x55];
            sig.extend_from_slice(&ex);
            sig.extend_from_slice(&[9, 8, 7]);
            rr(&mut m, 12, 46, &sig);
            let mut nsec = ex.to_vec();
            nsec.extend_from_slice(&[0, 1, 0x40]);
            rr(&mut m, 12, 47, &nsec);
            rr(&mut m, 12, 48, &[1, 1, 3, 8, 1, 2, 3]);
            rr(&mut m, 12, 50, &[1, 0, 0, 10, 1, 0xAA, 2, 0xBB, 0xCC]);
            rr(&mut m, 12, 65, &[0, 1, 0, 0, 1, 0, 3, 2, b'h', b'2']);
            rr(&mut m, 12, 257, b"\x00\x05issueca.example");
            rr(&mut m, 12, 99, &[1, 2, 3]);
            rr(&mut m, 12, 6, &[0xC0]); // bad RDATA: counted, dropped
            m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
            m
        }

        fn query() -> Vec<u8> {
            let mut m = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
            name(&mut m, &[b"www", b"example", b"com"]);
            m.extend_from_slice(&[0, 28, 0, 1]);
            m
        }

        /// `count` TXT answers of 255 non-printable octets (about 1 KiB each once escaped).
        fn big_txt(count: u16) -> Vec<u8> {
            let mut m = vec![0x55, 0x55, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
            m[6..8].copy_from_slice(&count.to_be_bytes());
            name(&mut m, &[b"t", b"ex"]);
            m.extend_from_slice(&[0, 16, 0, 1]);
            let mut txt = vec![255u8];
            txt.extend_from_slice(&[0xFE; 255]);
            for _ in 0..count {
                rr(&mut m, 12, 16, &txt);
            }
            m
        }

        fn flow_of(
            msgs: &[(bool, Vec<u8>)],
            cfg: &DpiConfig,
            decoding: &Arc<Decoding>,
        ) -> (FlowRecord, PendingDns) {
            let mut st = DnsStats::default();
            let mut d = DnsFlowState::default();
            for (rev, m) in msgs {
                d.on_udp(cfg, *rev, m, &mut st);
            }
            let mut f = flow(&[]);
            f.app_label = 0;
            (f, d.into_pending(decoding))
        }

        /// Both ways: returns the bytes and what each counted.
        fn both(
            msgs: &[(bool, Vec<u8>)],
            cfg: &DpiConfig,
            opts: EncodeOptions,
        ) -> (Vec<u8>, Encoded) {
            let (d1, d2) = (Arc::new(Decoding::new(cfg)), Arc::new(Decoding::new(cfg)));
            let (mut f, pending) = flow_of(msgs, cfg, &d1);
            let (dns, is_dns) = pending.into_records();
            f.dns = dns;
            if is_dns {
                f.app_label = 53;
            }
            let mut want = Vec::new();
            let e1 = encode_flow(&f, opts, &mut want);
            let (f, pending) = flow_of(msgs, cfg, &d2);
            let mut got = vec![0xEE; 7]; // not at offset 0, as in a message buffer
            let mut scratch = DnsScratch::default();
            // Reuse the scratch once first, so leftovers would show.
            let mut junk = Vec::new();
            let (g, p) = flow_of(
                &[(true, big_txt(3)), (false, query())],
                cfg,
                &Arc::new(Decoding::new(cfg)),
            );
            encode_ended(&g, p, opts, &mut junk, &mut scratch);
            let e2 = encode_ended(&f, pending, opts, &mut got, &mut scratch);
            assert_eq!(&got[7..], &want[..]);
            assert_eq!(e1, e2);
            assert_eq!(d1.stats(), d2.stats());
            (want, e1)
        }

        const DNSSEC: EncodeOptions = EncodeOptions {
            dnssec: true,
            silk: false,
        };

        #[test]
        fn every_type_both_directions_and_options() {
            let cfg = DpiConfig::default();
            for opts in [EncodeOptions::default(), DNSSEC] {
                for rcode in [0, 3] {
                    let msgs = [
                        (true, every_type(rcode)),
                        (false, query()),
                        (true, every_type(rcode)),
                        (false, query()),
                    ];
                    let (bytes, e) = both(&msgs, &cfg, opts);
                    assert_eq!(e.dns_truncated, 0);
                    assert!(bytes.len() > 2000);
                }
            }
            // The budget runs out in the middle of a reverse message.
            let small = DpiConfig {
                max_records_per_flow: 5,
                ..DpiConfig::default()
            };
            both(
                &[(false, query()), (true, every_type(0)), (false, query())],
                &small,
                DNSSEC,
            );
            // Nothing decodes (a question count and no question): no DNS entry, label
            // unchanged.
            let (bytes, _) = both(
                &[(false, vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])],
                &cfg,
                DNSSEC,
            );
            let mut none = flow(&[]);
            none.app_label = 0;
            let mut want = Vec::new();
            encode_flow(&none, DNSSEC, &mut want);
            assert_eq!(bytes, want);
        }

        #[test]
        fn truncation_to_a_message_is_the_same_both_ways() {
            let cfg = DpiConfig::default();
            // Forward records alone overflow, reverse ones are then all left out ...
            let msgs: Vec<_> = (0..8).map(|i| (i % 2 == 1, big_txt(14))).collect();
            let (bytes, e) = both(&msgs, &cfg, EncodeOptions::default());
            assert!(e.dns_truncated > 0);
            assert!(bytes.len() <= MAX_RECORD_LEN);
            // ... and reverse records cut where the forward ones leave room.
            let msgs = vec![
                (false, big_txt(14)),
                (true, big_txt(14)),
                (true, big_txt(14)),
                (true, big_txt(14)),
                (true, big_txt(14)),
            ];
            let (bytes, e) = both(&msgs, &cfg, EncodeOptions::default());
            assert!(e.dns_truncated > 0);
            assert!(bytes.len() <= MAX_RECORD_LEN);
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]

            /// Real-looking messages with random octets changed, and random bytes.
            #[test]
            fn mutated_messages_encode_the_same(
                picks in proptest::collection::vec((any::<bool>(), 0usize..4, proptest::collection::vec((any::<u16>(), any::<u8>()), 0..6)), 1..6),
                random in proptest::collection::vec(any::<u8>(), 0..300),
                budget in 1usize..40,
                dnssec in any::<bool>(),
            ) {
                let mut msgs = Vec::new();
                for (rev, which, muts) in picks {
                    let mut m = match which {
                        0 => every_type(0),
                        1 => every_type(2),
                        2 => query(),
                        _ => big_txt(2),
                    };
                    for (at, b) in muts {
                        let i = usize::from(at) % m.len();
                        m[i] = b;
                    }
                    msgs.push((rev, m));
                }
                msgs.push((false, random));
                let cfg = DpiConfig { max_records_per_flow: budget, ..DpiConfig::default() };
                both(&msgs, &cfg, EncodeOptions { dnssec, silk: false });
            }
        }
    }
}
