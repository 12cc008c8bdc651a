//! Compact storage of a flow's DNS records between decoding and export.
//!
//! A flow holds its records until it ends (often for the whole idle
//! timeout), so their resting size is the DPI's memory per flow. A
//! [`DnsRecord`] is over 100 octets plus one heap string per name; here the
//! records of both directions are serialized, in arrival order, into one
//! byte buffer: about 12 octets of fixed fields plus the name text, and the
//! RDATA of the common kinds (A, AAAA as 16 raw octets, one name) inline.
//! Rarer RDATA keep their decoded [`Rdata`] in a side vector. A query and
//! its answer then cost one allocation of ~100 octets instead of four.
//! [`RecordStore::take`] rebuilds the exact records that were put in.
//!
//! Record layout (integers little-endian):
//! `tag` (direction bit 7, RDATA kind bits 4-6, section bits 2-3, aa bit 1,
//! qr bit 0), `rcode`, `rrtype` u16, `id` u16, `ttl` u32, name length u16,
//! name text, then by kind: A 4 octets, AAAA 16, a name (u16 length +
//! text), or the u32 index of a side-vector entry.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::dns::DnsRecord;
use super::rdata::Rdata;

const KIND_NONE: u8 = 0;
const KIND_A: u8 = 1;
const KIND_AAAA: u8 = 2;
const KIND_CNAME: u8 = 3;
const KIND_NS: u8 = 4;
const KIND_PTR: u8 = 5;
const KIND_SIDE: u8 = 6;

/// Fixed part of a serialized record, name length included.
const FIXED: usize = 12;

/// Name length value that marks a reference: a u32 offset follows, of the
/// length field of the same name stored earlier (never itself a reference).
const REF: u16 = u16::MAX;
/// Names of one message that may be written as references; later ones are
/// written out (a message rarely has more).
const MAX_DECISIONS: usize = 64;
const NO_REF: u32 = u32::MAX;
/// Earlier names compared against: the flow's first name and the first
/// names of the message.
const MAX_CANDS: usize = 6;

/// Names stored (or about to be) that later names may refer to: offset of
/// the length field, and the text when it is not in the buffer yet.
#[derive(Default)]
struct Cands<'a> {
    at: [(u32, Option<&'a str>); MAX_CANDS],
    n: usize,
}

impl<'a> Cands<'a> {
    /// The flow's first name (the first record's, a literal): what the
    /// records of later messages repeat most. Scanning the whole buffer
    /// for more cost more CPU than it saved memory.
    fn scan(&mut self, buf: &[u8]) {
        let at = FIXED - 2;
        let literal = buf
            .get(at..at + 2)
            .is_some_and(|l| u16::from_le_bytes([l[0], l[1]]) != REF);
        if literal {
            if let Some(c) = self.at.first_mut() {
                *c = ((FIXED - 2) as u32, None);
                self.n = 1;
            }
        }
    }

    fn add(&mut self, at: usize, s: &'a str) {
        if self.n < MAX_CANDS {
            if let Ok(at) = u32::try_from(at) {
                self.at[self.n] = (at, Some(s));
                self.n += 1;
            }
        }
    }

    /// Offset of an earlier literal equal to `s`.
    fn find(&self, buf: &[u8], s: &str) -> Option<u32> {
        // A reference (6 octets) only pays for names of 5 octets or more.
        if s.len() < 5 {
            return None;
        }
        self.at[..self.n].iter().find_map(|&(at, text)| {
            let same = match text {
                Some(t) => t == s,
                None => {
                    let a = at as usize;
                    let len = buf
                        .get(a..a + 2)
                        .map_or(0, |l| usize::from(u16::from_le_bytes([l[0], l[1]])));
                    len == s.len() && buf.get(a + 2..a + 2 + len) == Some(s.as_bytes())
                }
            };
            same.then_some(at)
        })
    }
}

/// The rarer RDATA of a flow, in the order the buffer refers to them.
#[derive(Debug, Default)]
struct Side(Vec<Rdata>);

/// The records of one flow, both directions.
#[derive(Debug, Default)]
pub struct RecordStore {
    buf: Vec<u8>,
    /// Behind one thin pointer: most flows never need it, and an empty
    /// `Vec` inline costs 16 more octets in every DNS flow's state (72
    /// instead of 56, which mimalloc rounds up to 80).
    side: Option<Box<Side>>,
    counts: [u32; 2],
}

fn name_len(r: &Rdata) -> Option<usize> {
    match r {
        Rdata::Cname(n) | Rdata::Ns(n) | Rdata::Ptr(n) => Some(n.len()),
        _ => None,
    }
}

/// Serialized size of `r`'s RDATA.
fn rdata_len(r: &Rdata) -> usize {
    match r {
        Rdata::None => 0,
        Rdata::A(_) => 4,
        Rdata::Aaaa(_) => 16,
        Rdata::Cname(n) | Rdata::Ns(n) | Rdata::Ptr(n) => 2 + n.len(),
        _ => 4,
    }
}

/// Reads the serialized records one by one; `None` at the end (or on a
/// buffer this module did not write, which cannot happen).
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn text(&mut self) -> Option<&'a str> {
        let n = self.u16()?;
        if n == REF {
            let at = self.u32()? as usize;
            let mut there = Reader { b: self.b, pos: at };
            let n = there.u16()?;
            return if n == REF {
                None
            } else {
                std::str::from_utf8(there.take(usize::from(n))?).ok()
            };
        }
        std::str::from_utf8(self.take(usize::from(n))?).ok()
    }

    /// Steps over a name (literal or reference).
    fn skip_text(&mut self) -> Option<()> {
        let n = self.u16()?;
        self.take(if n == REF { 4 } else { usize::from(n) })?;
        Some(())
    }
}

impl RecordStore {
    fn side_len(&self) -> usize {
        self.side.as_ref().map_or(0, |s| s.0.len())
    }

    pub fn total(&self) -> usize {
        (self.counts[0] as usize).saturating_add(self.counts[1] as usize)
    }

    /// Moves `recs` (one message's records) into direction `dir` (0 or 1),
    /// leaving `recs` empty. Returns false, storing nothing, for values the
    /// compact form cannot hold (an over-long name, flag values the parser
    /// never produces): impossible for parsed records, checked all the same.
    pub fn extend(&mut self, dir: usize, recs: &mut Vec<DnsRecord>) -> bool {
        if recs.is_empty() {
            return true;
        }
        let fits = |n: usize| n < usize::from(REF);
        if dir > 1
            || recs.iter().any(|r| {
                r.qr > 1
                    || r.aa > 1
                    || r.section > 3
                    || !fits(r.qname.len())
                    || name_len(&r.rdata).is_some_and(|n| !fits(n))
            })
            || self.side_len().saturating_add(recs.len()) > u32::MAX as usize
            || self.counts[dir] as usize + recs.len() > u32::MAX as usize
        {
            recs.clear();
            return false;
        }
        // Names repeat within a flow (the question's name is the answers'
        // owner, a CNAME's target the next owner): a name already stored is
        // written as a 6-octet reference to it. Pass 1 decides which names
        // are references and sizes the buffer exactly; pass 2 writes.
        let mut cands = Cands::default();
        cands.scan(&self.buf);
        let mut refs = [NO_REF; MAX_DECISIONS];
        let mut at = self.buf.len();
        let mut k = 0usize;
        for r in recs.iter() {
            at += FIXED - 2;
            let rdata_name = match &r.rdata {
                Rdata::Cname(n) | Rdata::Ns(n) | Rdata::Ptr(n) => Some(n.as_str()),
                _ => None,
            };
            for s in std::iter::once(r.qname.as_str()).chain(rdata_name) {
                let found = match refs.get_mut(k) {
                    Some(slot) => cands.find(&self.buf, s).inspect(|&off| *slot = off),
                    None => None,
                };
                match found {
                    Some(_) => at += 2 + 4,
                    None => {
                        cands.add(at, s);
                        at += 2 + s.len();
                    }
                }
                k += 1;
            }
            if rdata_name.is_none() {
                at += rdata_len(&r.rdata);
            }
        }
        let need = at - self.buf.len();
        // Exact for the first two messages (a query and its response: the
        // common flow), amortised after that.
        if self.buf.capacity() - self.buf.len() < need {
            if self.counts[0] + self.counts[1] < 2 || self.buf.is_empty() {
                self.buf.reserve_exact(need);
            } else {
                self.buf.reserve(need.max(self.buf.len() / 2));
            }
        }
        self.counts[dir] += recs.len() as u32;
        let b = &mut self.buf;
        let mut k = 0;
        let mut put_text = |b: &mut Vec<u8>, s: &str| {
            let r = refs.get(k).copied().unwrap_or(NO_REF);
            k += 1;
            if r == NO_REF {
                // Fits: checked above (and 0xFFFF is never a name length).
                b.extend_from_slice(&(s.len() as u16).to_le_bytes());
                b.extend_from_slice(s.as_bytes());
            } else {
                b.extend_from_slice(&REF.to_le_bytes());
                b.extend_from_slice(&r.to_le_bytes());
            }
        };
        for r in recs.drain(..) {
            let kind = match &r.rdata {
                Rdata::None => KIND_NONE,
                Rdata::A(_) => KIND_A,
                Rdata::Aaaa(_) => KIND_AAAA,
                Rdata::Cname(_) => KIND_CNAME,
                Rdata::Ns(_) => KIND_NS,
                Rdata::Ptr(_) => KIND_PTR,
                _ => KIND_SIDE,
            };
            b.push((dir as u8) << 7 | kind << 4 | r.section << 2 | r.aa << 1 | r.qr);
            b.push(r.rcode);
            b.extend_from_slice(&r.rrtype.to_le_bytes());
            b.extend_from_slice(&r.id.to_le_bytes());
            b.extend_from_slice(&r.ttl.to_le_bytes());
            put_text(b, &r.qname);
            match r.rdata {
                Rdata::None => {}
                Rdata::A(a) => b.extend_from_slice(&a.octets()),
                Rdata::Aaaa(a) => b.extend_from_slice(&a.octets()),
                Rdata::Cname(n) | Rdata::Ns(n) | Rdata::Ptr(n) => put_text(b, &n),
                other => {
                    let side = &mut self.side.get_or_insert_with(Box::default).0;
                    // Fits: checked above.
                    b.extend_from_slice(&(side.len() as u32).to_le_bytes());
                    side.push(other);
                }
            }
        }
        debug_assert_eq!(b.len(), at);
        true
    }

    /// All records, forward direction first, and empties the store.
    pub fn take(&mut self) -> Vec<DnsRecord> {
        let mut out = Vec::with_capacity(self.total());
        let buf = std::mem::take(&mut self.buf);
        let mut side: Vec<Option<Rdata>> = self
            .side
            .take()
            .map_or_else(Vec::new, |s| s.0)
            .into_iter()
            .map(Some)
            .collect();
        self.counts = [0, 0];
        for dir in 0..2u8 {
            let mut rd = Reader { b: &buf, pos: 0 };
            while let Some(rec) = next_record(&mut rd, dir, &mut side) {
                if let Some(r) = rec {
                    out.push(r);
                }
            }
        }
        out
    }
}

/// The next serialized record: `Some(Some(r))` when it belongs to `dir`,
/// `Some(None)` when it was skipped, `None` at the end.
fn next_record(
    rd: &mut Reader<'_>,
    dir: u8,
    side: &mut [Option<Rdata>],
) -> Option<Option<DnsRecord>> {
    let head = rd.take(2)?;
    let (tag, rcode) = (head[0], head[1]);
    let rrtype = rd.u16()?;
    let id = rd.u16()?;
    let ttl = rd.u32()?;
    let mine = tag >> 7 == dir;
    let kind = tag >> 4 & 7;
    if !mine {
        // Skip without building strings.
        rd.skip_text()?;
        match kind {
            KIND_A | KIND_SIDE => {
                rd.take(4)?;
            }
            KIND_AAAA => {
                rd.take(16)?;
            }
            KIND_CNAME | KIND_NS | KIND_PTR => {
                rd.skip_text()?;
            }
            _ => {}
        }
        return Some(None);
    }
    let qname = rd.text()?.to_owned();
    let rdata = match kind {
        KIND_A => {
            let a = rd.take(4)?;
            Rdata::A(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
        }
        KIND_AAAA => {
            let mut o = [0u8; 16];
            o.copy_from_slice(rd.take(16)?);
            Rdata::Aaaa(Ipv6Addr::from(o))
        }
        KIND_CNAME => Rdata::Cname(rd.text()?.to_owned()),
        KIND_NS => Rdata::Ns(rd.text()?.to_owned()),
        KIND_PTR => Rdata::Ptr(rd.text()?.to_owned()),
        KIND_SIDE => {
            let i = rd.u32()? as usize;
            side.get_mut(i)?.take()?
        }
        _ => Rdata::None,
    };
    Some(Some(DnsRecord {
        qname,
        ttl,
        rrtype,
        qr: tag & 1,
        aa: tag >> 1 & 1,
        rcode,
        section: tag >> 2 & 3,
        id,
        rdata,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(qname: &str, rdata: Rdata) -> DnsRecord {
        DnsRecord {
            qname: qname.into(),
            ttl: 77,
            rrtype: 9,
            qr: 1,
            aa: 1,
            rcode: 3,
            section: 2,
            id: 0xBEEF,
            rdata,
        }
    }

    #[test]
    fn a_question_and_an_answer_take_one_small_buffer() {
        let mut st = RecordStore::default();
        let mut q = vec![DnsRecord {
            ttl: 0,
            qr: 0,
            aa: 0,
            rcode: 0,
            section: 0,
            ..rec("www.example.com.", Rdata::None)
        }];
        let mut a = vec![rec(
            "www.example.com.",
            Rdata::A(Ipv4Addr::new(192, 0, 2, 1)),
        )];
        assert!(st.extend(0, &mut q));
        assert!(st.extend(1, &mut a));
        assert!(q.is_empty() && a.is_empty());
        // The answer's owner is a reference to the question's name.
        assert_eq!(st.buf.len(), (FIXED + 16) + (FIXED + 4) + 4);
        assert_eq!(st.buf.capacity(), st.buf.len());
        assert!(st.side.is_none());
    }

    #[test]
    fn round_trip_keeps_every_field_and_order() {
        let fwd = vec![rec("a.example.", Rdata::None)];
        let rev = vec![
            rec("b.", Rdata::A(Ipv4Addr::new(192, 0, 2, 1))),
            rec(
                "",
                Rdata::Aaaa("2001:db8::ff:1".parse::<Ipv6Addr>().unwrap()),
            ),
            rec("c.", Rdata::Cname("d.".into())),
            rec("e.", Rdata::Ns("f.".into())),
            rec("g.", Rdata::Ptr("h\\.i.".into())),
            rec(
                "é.",
                Rdata::Mx {
                    preference: 5,
                    exchange: "mx.".into(),
                },
            ),
            rec("o.", Rdata::Other(vec![1, 2, 3])),
            rec("p.", Rdata::Txt("x".into())),
        ];
        let mut st = RecordStore::default();
        assert!(st.extend(1, &mut rev[..3].to_vec()));
        assert!(st.extend(0, &mut fwd.clone()));
        assert!(st.extend(1, &mut rev[3..].to_vec()));
        assert_eq!((st.counts, st.total()), ([1, 8], 9));
        let mut want = fwd;
        want.extend(rev);
        assert_eq!(st.take(), want);
        assert_eq!(st.total(), 0);
        assert!(st.take().is_empty());
    }

    #[test]
    fn repeated_names_are_stored_once_and_come_back_whole() {
        let q = |n: &str| DnsRecord {
            ttl: 0,
            section: 0,
            ..rec(n, Rdata::None)
        };
        let fwd = vec![q("www.example.com."), q("www.example.com."), q("a.b.")];
        let rev = vec![
            rec("www.example.com.", Rdata::Cname("cdn.example.net.".into())),
            rec("cdn.example.net.", Rdata::A(Ipv4Addr::new(192, 0, 2, 9))),
            rec("cdn.example.net.", Rdata::Ns("www.example.com.".into())),
            rec("a.b.", Rdata::Ptr("a.b.".into())),
            rec("www.example.com.", Rdata::Txt("www.example.com.".into())),
        ];
        let mut st = RecordStore::default();
        assert!(st.extend(0, &mut fwd[..1].to_vec()));
        assert!(st.extend(1, &mut rev.clone()));
        assert!(st.extend(0, &mut fwd[1..].to_vec()));
        // Literal: the first "www.example.com.", "cdn.example.net." and the
        // short "a.b." names; every other long name is a 6-octet reference.
        let literal = 2 * (2 + 16) + 3 * (2 + 4);
        let refs = 6 * 6;
        let fixed = 8 * (FIXED - 2) + 4 + 4;
        assert_eq!(st.buf.len(), literal + refs + fixed);
        let mut want = fwd;
        want.extend(rev);
        assert_eq!(st.take(), want);
    }

    #[test]
    fn values_the_parser_never_makes_are_refused() {
        let mut st = RecordStore::default();
        let mut bad = vec![DnsRecord {
            section: 4,
            ..rec("a.", Rdata::None)
        }];
        assert!(!st.extend(0, &mut bad));
        let mut long = vec![rec(&"x".repeat(70_000), Rdata::None)];
        assert!(!st.extend(1, &mut long));
        assert!(!st.extend(2, &mut vec![rec("a.", Rdata::None)]));
        assert_eq!(st.total(), 0);
        assert!(st.take().is_empty());
    }
}
