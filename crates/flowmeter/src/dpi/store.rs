//! Compact storage of a flow's DNS records between decoding and export.
//!
//! A flow holds its records until it ends (often for the whole idle
//! timeout), so their resting size is the DPI's memory per flow. A
//! [`DnsRecord`] is over 100 octets plus one heap string per name; here a
//! record is 32 octets and the names (and AAAA addresses) of the flow sit in
//! one shared string. The common RDATA kinds (none, A, AAAA, one name) are
//! stored inline; the rest keep their decoded [`Rdata`] behind a box.
//! [`RecordStore::take`] rebuilds the exact records that were put in.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::dns::DnsRecord;
use super::rdata::Rdata;

/// A span of the store's text: offset and length. A name is at most 255
/// wire octets, so at most ~1,020 escaped characters: u16 holds it.
#[derive(Clone, Copy, Debug)]
#[repr(C, packed)]
struct Span {
    off: u32,
    len: u16,
}

#[derive(Debug)]
enum Data {
    None,
    A([u8; 4]),
    /// The 16 octets are in `text` as 32 hex digits (text stays UTF-8).
    Aaaa(u32),
    Cname(Span),
    Ns(Span),
    Ptr(Span),
    Boxed(Box<Rdata>),
}

#[derive(Debug)]
struct Compact {
    qname: Span,
    ttl: u32,
    rrtype: u16,
    id: u16,
    /// qr (bit 0), aa (bit 1), section (bits 2-3): the values the parser
    /// produces (0/1, 0/1, 0..=3).
    bits: u8,
    rcode: u8,
    data: Data,
}

/// The records of one flow direction pair, in insertion order per direction.
#[derive(Debug, Default)]
pub struct RecordStore {
    dirs: [Vec<Compact>; 2],
    text: String,
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    }
}

impl RecordStore {
    pub fn total(&self) -> usize {
        self.dirs[0].len() + self.dirs[1].len()
    }

    /// Appends `recs` (one message's records) to direction `dir` (0 or 1).
    /// Returns false, storing nothing, for values the compact form cannot
    /// hold (text past u32 offsets, an over-long name, flag values the parser
    /// never produces): impossible for parsed records, checked all the same.
    pub fn extend(&mut self, dir: usize, recs: Vec<DnsRecord>) -> bool {
        if recs.is_empty() {
            return true;
        }
        let need: usize = recs
            .iter()
            .map(|r| {
                r.qname.len()
                    + match &r.rdata {
                        Rdata::Cname(n) | Rdata::Ns(n) | Rdata::Ptr(n) => n.len(),
                        Rdata::Aaaa(_) => 32,
                        _ => 0,
                    }
            })
            .sum();
        if self.text.len().saturating_add(need) > u32::MAX as usize
            || recs.iter().any(|r| {
                r.qr > 1
                    || r.aa > 1
                    || r.section > 3
                    || r.qname.len() > usize::from(u16::MAX)
                    || matches!(&r.rdata, Rdata::Cname(n) | Rdata::Ns(n) | Rdata::Ptr(n)
                        if n.len() > usize::from(u16::MAX))
            })
        {
            return false;
        }
        // Exact for the first message (the common query/response flow
        // holds two), amortised after that.
        if self.text.is_empty() {
            self.text.reserve_exact(need);
        } else {
            self.text.reserve(need);
        }
        let Some(out) = self.dirs.get_mut(dir) else {
            return false;
        };
        if out.is_empty() {
            out.reserve_exact(recs.len());
        } else {
            out.reserve(recs.len());
        }
        let text = &mut self.text;
        fn put(text: &mut String, s: &str) -> Span {
            // Fits: checked against u32::MAX and u16::MAX above.
            let span = Span {
                off: text.len() as u32,
                len: s.len() as u16,
            };
            text.push_str(s);
            span
        }
        for r in recs {
            let qname = put(text, &r.qname);
            let data = match r.rdata {
                Rdata::None => Data::None,
                Rdata::A(a) => Data::A(a.octets()),
                Rdata::Aaaa(a) => {
                    let off = text.len() as u32;
                    for b in a.octets() {
                        const HEX: &[u8; 16] = b"0123456789abcdef";
                        text.push(char::from(HEX[usize::from(b >> 4)]));
                        text.push(char::from(HEX[usize::from(b & 0xF)]));
                    }
                    Data::Aaaa(off)
                }
                Rdata::Cname(n) => Data::Cname(put(text, &n)),
                Rdata::Ns(n) => Data::Ns(put(text, &n)),
                Rdata::Ptr(n) => Data::Ptr(put(text, &n)),
                other => Data::Boxed(Box::new(other)),
            };
            out.push(Compact {
                qname,
                ttl: r.ttl,
                rrtype: r.rrtype,
                id: r.id,
                bits: r.qr | r.aa << 1 | r.section << 2,
                rcode: r.rcode,
                data,
            });
        }
        true
    }

    /// All records, forward direction first, and empties the store.
    pub fn take(&mut self) -> Vec<DnsRecord> {
        let mut out = Vec::with_capacity(self.total());
        let text = std::mem::take(&mut self.text);
        let s = |sp: Span| {
            let (a, n) = ({ sp.off } as usize, usize::from(sp.len));
            text.get(a..a + n).unwrap_or_default().to_owned()
        };
        for dir in &mut self.dirs {
            for c in std::mem::take(dir) {
                let rdata = match c.data {
                    Data::None => Rdata::None,
                    Data::A(a) => Rdata::A(Ipv4Addr::from(a)),
                    Data::Aaaa(off) => {
                        let mut o = [0u8; 16];
                        let off = off as usize;
                        if let Some(h) = text.as_bytes().get(off..off + 32) {
                            for (i, b) in o.iter_mut().enumerate() {
                                *b = hex_val(h[2 * i]) << 4 | hex_val(h[2 * i + 1]);
                            }
                        }
                        Rdata::Aaaa(Ipv6Addr::from(o))
                    }
                    Data::Cname(sp) => Rdata::Cname(s(sp)),
                    Data::Ns(sp) => Rdata::Ns(s(sp)),
                    Data::Ptr(sp) => Rdata::Ptr(s(sp)),
                    Data::Boxed(b) => *b,
                };
                out.push(DnsRecord {
                    qname: s(c.qname),
                    ttl: c.ttl,
                    rrtype: c.rrtype,
                    qr: c.bits & 1,
                    aa: c.bits >> 1 & 1,
                    rcode: c.rcode,
                    section: c.bits >> 2 & 3,
                    id: c.id,
                    rdata,
                });
            }
        }
        out
    }
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
    fn compact_record_is_small() {
        assert!(std::mem::size_of::<Compact>() <= 32);
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
        ];
        let mut st = RecordStore::default();
        assert!(st.extend(1, rev[..3].to_vec()));
        assert!(st.extend(0, fwd.clone()));
        assert!(st.extend(1, rev[3..].to_vec()));
        assert_eq!((st.dirs[0].len(), st.dirs[1].len(), st.total()), (1, 7, 8));
        let mut want = fwd;
        want.extend(rev);
        assert_eq!(st.take(), want);
        assert_eq!(st.total(), 0);
        assert!(st.take().is_empty());
    }
}
