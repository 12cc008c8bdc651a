//! One DNS message -> the records YAF 2.16 would export for it.
//!
//! The framing walk (header, questions, RR headers) is by hand: it is a few
//! fixed-size reads between names, and doing it here lets a failure keep
//! every record decoded before it, as YAF does, while `domain`'s iterators
//! stop at the first error without saying which kind it was.

use super::name::{ascii_string, read_name_into, skip_name, NameError};
use super::rdata::{decode_rdata, rtype, Rdata, RdataRef};
use super::DnsStats;

/// Why (part of) a message was not decoded. One `DnsStats` counter each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("message truncated")]
    Truncated,
    #[error("compression pointer not strictly backwards")]
    BadPointer,
    #[error("compression pointer into its own name (loop)")]
    PointerLoop,
    #[error("label length over 63 (label type 01/10)")]
    LabelTooLong,
    #[error("name longer than 255 octets")]
    NameTooLong,
    #[error("section counts exceed the records present")]
    BadCount,
    #[error("rdlength runs past the end of the message")]
    RdlengthOverrun,
    #[error("rdata does not match its type")]
    BadRdata,
    #[error("gap in TCP stream")]
    TcpGap,
    #[error("TCP reassembly buffer limit reached")]
    BufferOverflow,
}

/// A decoding failure: what, and where (byte offset in the DNS message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte offset {offset}")]
pub struct DnsError {
    pub kind: ErrorKind,
    pub offset: usize,
}

impl From<NameError> for DnsError {
    fn from(e: NameError) -> Self {
        DnsError {
            kind: e.kind,
            offset: e.offset,
        }
    }
}

pub const HEADER_LEN: usize = 12;

/// The fixed 12-octet header (RFC 1035 4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    pub fn parse(msg: &[u8]) -> Option<Header> {
        let h = msg.get(..HEADER_LEN)?;
        let w = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        Some(Header {
            id: w(0),
            flags: w(2),
            qdcount: w(4),
            ancount: w(6),
            nscount: w(8),
            arcount: w(10),
        })
    }
    pub fn qr(&self) -> u8 {
        (self.flags >> 15) as u8
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }
    pub fn aa(&self) -> u8 {
        ((self.flags >> 10) & 1) as u8
    }
    /// The 4-bit header RCODE (YAF's dnsNXDomain).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xF) as u8
    }
}

/// One exported question or resource record, with YAF's field meanings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsRecord {
    /// QNAME or owner name, YAF-escaped, trailing dot, root = "".
    pub qname: String,
    pub head: RecordHead,
    pub rdata: Rdata,
}

/// The fixed fields of one exported record: what [`RecordSink`]s get
/// beside the owner name and RDATA, and the head of a [`DnsRecord`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHead {
    /// RR TTL; 0 for questions.
    pub ttl: u32,
    /// QTYPE or TYPE.
    pub rrtype: u16,
    /// Header QR for questions; always 1 for resource records (as YAF).
    pub qr: u8,
    /// Header AA bit.
    pub aa: u8,
    /// Full 4-bit header RCODE (YAF dnsNXDomain).
    pub rcode: u8,
    /// 0 question, 1 answer, 2 authority, 3 additional.
    pub section: u8,
    /// Transaction ID.
    pub id: u16,
}

/// Where [`Parser::parse`] puts the records it decodes, in message order.
/// Everything is borrowed for the call: `owner` is the QNAME or owner name,
/// YAF-escaped (printable ASCII, trailing dot, root = ""), and `rdata` has
/// been fully checked (a record whose RDATA does not decode never comes).
pub trait RecordSink {
    fn record(&mut self, head: &RecordHead, owner: &[u8], rdata: &RdataRef<'_>);
}

/// Builds [`DnsRecord`]s (tests, tools, `take_records`).
impl RecordSink for Vec<DnsRecord> {
    fn record(&mut self, h: &RecordHead, owner: &[u8], rdata: &RdataRef<'_>) {
        self.push(DnsRecord {
            qname: ascii_string(owner.to_vec()),
            head: *h,
            rdata: rdata.to_rdata(),
        });
    }
}

/// What a call to [`parse_message`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Records appended to the output.
    pub records: usize,
    /// Records decoded but not appended because `max_records` was reached.
    pub dropped: usize,
}

fn be16(msg: &[u8], at: usize) -> Result<u16, DnsError> {
    match msg.get(at..at + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err(DnsError {
            kind: ErrorKind::Truncated,
            offset: at,
        }),
    }
}

fn be32(msg: &[u8], at: usize) -> Result<u32, DnsError> {
    match msg.get(at..at + 4) {
        Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(DnsError {
            kind: ErrorKind::Truncated,
            offset: at,
        }),
    }
}

/// Whether the exported-record set of a message with this header includes
/// its questions: YAF exports them for queries and for failed responses.
fn exports_questions(h: &Header) -> bool {
    h.qr() == 0 || h.rcode() != 0
}

impl Header {
    /// The records [`parse_message`] would export from a well-formed
    /// message with this header, by its section counts.
    pub fn declared_records(&self) -> usize {
        let rrs = usize::from(self.ancount) + usize::from(self.nscount) + usize::from(self.arcount);
        rrs + if exports_questions(self) {
            usize::from(self.qdcount)
        } else {
            0
        }
    }
}

/// The DNS message decoder, with buffers reused from message to message
/// (names are formatted into them, never into a String per record).
#[derive(Debug, Default)]
pub struct Parser {
    /// Formatted names: the cached owners first, then the current name.
    names: Vec<u8>,
    /// Cached owner names: (pointer target, range in `names`).
    owners: Vec<(usize, std::ops::Range<usize>)>,
    /// Where the cached names end in `names`.
    cached: usize,
}

impl Parser {
    /// Owner names that are a bare compression pointer (the usual case:
    /// every RR of an RRset points at the same name) are decoded once per
    /// message, up to this many distinct targets.
    ///
    /// Sound because names are decoded in message order: a cached decode
    /// of the name at `t` only read octets before the pointer that led
    /// there (or before its own end when it was in place), and every later
    /// pointer to `t` sits after those octets, so the same bytes pass the
    /// same checks.
    const MAX_OWNERS: usize = 8;

    /// Formats the name at `pos` into `names` (after the cached ones);
    /// returns its range there and the offset past its in-place part.
    fn name(
        &mut self,
        msg: &[u8],
        pos: usize,
    ) -> Result<(std::ops::Range<usize>, usize), DnsError> {
        self.names.truncate(self.cached);
        let from = self.names.len();
        let end = read_name_into(msg, pos, msg.len(), &mut self.names)?;
        Ok((from..self.names.len(), end))
    }

    fn owner(
        &mut self,
        msg: &[u8],
        pos: usize,
    ) -> Result<(std::ops::Range<usize>, usize), DnsError> {
        let target = match msg.get(pos..pos + 2) {
            Some([hi, lo]) if hi & 0xC0 == 0xC0 => (usize::from(hi & 0x3F) << 8) | usize::from(*lo),
            _ => return self.name(msg, pos),
        };
        if target < pos {
            if let Some((_, r)) = self.owners.iter().find(|(t, _)| *t == target) {
                return Ok((r.clone(), pos + 2));
            }
        }
        let (r, end) = self.name(msg, pos)?;
        if self.owners.len() < Self::MAX_OWNERS {
            self.owners.push((target, r.clone()));
            self.cached = r.end;
        }
        Ok((r, end))
    }

    /// Decodes `msg` (one DNS message, without TCP length prefix) and hands
    /// its exported records to `sink`, at most `budget` of them; the
    /// outcome counts those given and those decoded past the budget.
    ///
    /// On a framing error the records before it have been given and the
    /// error is returned beside the outcome; an RDATA that does not decode
    /// drops only that record (its rdlength still frames the next one) and
    /// is counted in `stats`.
    pub fn parse<S: RecordSink + ?Sized>(
        &mut self,
        msg: &[u8],
        budget: usize,
        sink: &mut S,
        stats: &mut DnsStats,
    ) -> (Outcome, Result<(), DnsError>) {
        let mut outcome = Outcome::default();
        self.names.clear();
        self.owners.clear();
        self.cached = 0;
        let r = self.walk(msg, budget, sink, stats, &mut outcome);
        (outcome, r)
    }

    fn walk<S: RecordSink + ?Sized>(
        &mut self,
        msg: &[u8],
        budget: usize,
        sink: &mut S,
        stats: &mut DnsStats,
        outcome: &mut Outcome,
    ) -> Result<(), DnsError> {
        let h = Header::parse(msg).ok_or(DnsError {
            kind: ErrorKind::Truncated,
            offset: 0,
        })?;
        let mut pos = HEADER_LEN;
        let with_questions = exports_questions(&h);
        for _ in 0..h.qdcount {
            if pos >= msg.len() {
                return Err(DnsError {
                    kind: ErrorKind::BadCount,
                    offset: pos,
                });
            }
            let (qname, next) = if with_questions {
                self.name(msg, pos)?
            } else {
                (0..0, skip_name(msg, pos, msg.len())?)
            };
            let qtype = be16(msg, next)?;
            be16(msg, next + 2)?; // QCLASS: not exported (mDNS's QU bit is irrelevant here)
            pos = next + 4;
            if with_questions {
                if outcome.records < budget {
                    let head = RecordHead {
                        ttl: 0,
                        rrtype: qtype,
                        qr: h.qr(),
                        aa: h.aa(),
                        rcode: h.rcode(),
                        section: 0,
                        id: h.id,
                    };
                    let owner = self.names.get(qname).unwrap_or_default();
                    sink.record(&head, owner, &RdataRef::None);
                    outcome.records += 1;
                } else {
                    outcome.dropped += 1;
                }
            }
        }
        let sections = [(1u8, h.ancount), (2, h.nscount), (3, h.arcount)];
        for (section, count) in sections {
            for _ in 0..count {
                if pos >= msg.len() {
                    return Err(DnsError {
                        kind: ErrorKind::BadCount,
                        offset: pos,
                    });
                }
                let (owner, next) = self.owner(msg, pos)?;
                let rrtype = be16(msg, next)?;
                be16(msg, next + 2)?; // CLASS (mDNS cache-flush bit included): not exported
                let ttl = be32(msg, next + 4)?;
                let rdlen = usize::from(be16(msg, next + 8)?);
                let start = next + 10;
                let end = start + rdlen;
                if end > msg.len() {
                    return Err(DnsError {
                        kind: ErrorKind::RdlengthOverrun,
                        offset: next + 8,
                    });
                }
                pos = end;
                if rrtype == rtype::OPT {
                    continue;
                }
                match decode_rdata(msg, rrtype, start, end) {
                    Ok(rdata) if outcome.records < budget => {
                        let head = RecordHead {
                            ttl,
                            rrtype,
                            qr: 1,
                            aa: h.aa(),
                            rcode: h.rcode(),
                            section,
                            id: h.id,
                        };
                        let owner = self.names.get(owner).unwrap_or_default();
                        sink.record(&head, owner, &rdata);
                        outcome.records += 1;
                    }
                    Ok(_) => outcome.dropped += 1,
                    Err(e) => stats.count_error(e.kind),
                }
            }
        }
        Ok(())
    }
}

/// Decodes `msg` (one DNS message, without TCP length prefix) and appends
/// its exported records to `out` until `out.len()` reaches `max_records`.
///
/// On a framing error the records before it stay in `out` and the error is
/// returned; an RDATA that does not decode drops only that record (its
/// rdlength still frames the next one) and is counted in `stats`.
pub fn parse_message(
    msg: &[u8],
    max_records: usize,
    out: &mut Vec<DnsRecord>,
    stats: &mut DnsStats,
) -> Result<Outcome, DnsError> {
    reserve_for(msg, max_records, out);
    let budget = max_records.saturating_sub(out.len());
    let (outcome, r) = Parser::default().parse(msg, budget, out, stats);
    r.map(|()| outcome)
}

/// Room for a message's records up front: a flow's records may be held a
/// while, and Vec's doubling (first step 4) would leave most of a
/// one-question or few-answer direction's allocation unused. Clamped by
/// the budget and by what the message could hold (a question takes at
/// least 5 octets), so hostile counts cannot inflate it.
pub(crate) fn reserve_for(msg: &[u8], max_records: usize, out: &mut Vec<DnsRecord>) {
    let Some(h) = Header::parse(msg) else {
        return;
    };
    let want = h
        .declared_records()
        .min(max_records.saturating_sub(out.len()))
        .min(msg.len() / 5);
    if out.is_empty() {
        out.reserve_exact(want);
    } else {
        out.reserve(want);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// Response id 0x1234, QR AA RD RA, NOERROR, 1 question, 2 answers, 0, 1 OPT.
    fn response() -> Vec<u8> {
        let mut m = vec![
            0x12, 0x34, // id
            0x85, 0x80, // QR=1 opcode 0 AA=1 RD=1 RA=1 rcode 0
            0, 1, 0, 2, 0, 0, 0, 1, // qd an ns ar
        ];
        // 12: question "www.ex." A IN
        m.extend_from_slice(&[3, b'w', b'w', b'w', 2, b'e', b'x', 0, 0, 1, 0, 1]);
        // 24: answer: ptr 12, CNAME, IN, ttl 300, rdlen 4: "a" + ptr 16 ("ex.")
        m.extend_from_slice(&[0xC0, 12, 0, 5, 0, 1, 0, 0, 1, 0x2C, 0, 4, 1, b'a', 0xC0, 16]);
        // 40: answer: "a.ex." (ptr 36), A, IN, ttl 60, 192.0.2.7
        m.extend_from_slice(&[0xC0, 36, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
        // OPT: root, type 41, class 1232, ttl 0, rdlen 0
        m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
        m
    }

    #[test]
    fn noerror_response_exports_rrs_only_and_skips_opt() {
        let m = response();
        let mut out = Vec::new();
        let mut st = DnsStats::default();
        let o = parse_message(&m, 100, &mut out, &mut st).unwrap();
        assert_eq!(o.records, 2);
        assert_eq!(out[0].qname, "www.ex.");
        assert_eq!(out[0].rdata, Rdata::Cname("a.ex.".into()));
        assert_eq!(
            (
                out[0].head.ttl,
                out[0].head.rrtype,
                out[0].head.qr,
                out[0].head.aa,
                out[0].head.section
            ),
            (300, 5, 1, 1, 1)
        );
        assert_eq!(out[1].qname, "a.ex.");
        assert_eq!(out[1].rdata, Rdata::A(Ipv4Addr::new(192, 0, 2, 7)));
        assert_eq!(out[1].head.id, 0x1234);
    }

    #[test]
    fn nxdomain_response_exports_question() {
        let mut m = response();
        m[3] = 0x83; // rcode 3
        let mut out = Vec::new();
        parse_message(&m, 100, &mut out, &mut DnsStats::default()).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(
            (
                out[0].head.section,
                out[0].head.qr,
                out[0].head.rcode,
                out[0].head.ttl
            ),
            (0, 1, 3, 0)
        );
        assert_eq!(out[0].head.rrtype, 1);
    }

    #[test]
    fn query_exports_question() {
        let m = [
            0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'x', 0, 0, 28, 0, 1,
        ];
        let mut out = Vec::new();
        parse_message(&m, 100, &mut out, &mut DnsStats::default()).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].qname.as_str(), out[0].head.rrtype, out[0].head.qr),
            ("x.", 28, 0)
        );
    }

    #[test]
    fn errors_keep_earlier_records() {
        let m = response();
        // Cut inside the second answer's rdata.
        let mut out = Vec::new();
        let e = parse_message(&m[..52], 100, &mut out, &mut DnsStats::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::RdlengthOverrun);
        assert_eq!(out.len(), 1);
        // Cut at a record boundary: the counts lie.
        let mut out = Vec::new();
        let e = parse_message(&m[..56], 100, &mut out, &mut DnsStats::default()).unwrap_err();
        assert_eq!((e.kind, e.offset), (ErrorKind::BadCount, 56));
        assert_eq!(out.len(), 2);
        // Cut inside a fixed field.
        let mut out = Vec::new();
        let e = parse_message(&m[..45], 100, &mut out, &mut DnsStats::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Truncated);
    }

    #[test]
    fn bad_rdata_drops_only_that_record() {
        let mut m = response();
        // Make the CNAME's rdata pointer point forward (to offset 60).
        m[39] = 60;
        // ... and let the next owner name point at the question's name.
        m[41] = 12;
        let mut out = Vec::new();
        let mut st = DnsStats::default();
        parse_message(&m, 100, &mut out, &mut st).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].head.rrtype, 1);
        assert_eq!(st.bad_pointer, 1);
    }

    #[test]
    fn record_budget() {
        let m = response();
        let mut out = Vec::new();
        let o = parse_message(&m, 1, &mut out, &mut DnsStats::default()).unwrap();
        assert_eq!((o.records, o.dropped, out.len()), (1, 1, 1));
    }
}
