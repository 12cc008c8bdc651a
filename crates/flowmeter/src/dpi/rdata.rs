//! Typed RDATA of the record types YAF exports, plus HTTPS/SVCB and CAA.
//!
//! Fixed-layout types are read by hand (a few big-endian integers each);
//! names go through [`super::name`] so compression pointers inside RDATA
//! obey the same backwards-only rule as owner names. SVCB parameters are
//! rendered by `domain`, which knows every registered SvcParamKey.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use domain::base::iana::Rtype;
use domain::rdata::svcb::SvcParams;

use super::dns::ErrorKind;
use super::name::{ascii_string, escape_into, escape_text, read_name_into, skip_name};

/// Record types with a typed [`Rdata`] variant.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const OPT: u16 = 41;
    pub const DS: u16 = 43;
    pub const RRSIG: u16 = 46;
    pub const NSEC: u16 = 47;
    pub const DNSKEY: u16 = 48;
    pub const NSEC3: u16 = 50;
    pub const SVCB: u16 = 64;
    pub const HTTPS: u16 = 65;
    pub const CAA: u16 = 257;
}

/// The RDATA fields of every type, generic over how variable-length
/// values are held: [`RdataRef`] borrows them undecoded from the message
/// (what the decoder produces, with no allocation), [`RdataView`] borrows
/// them from an owned [`Rdata`]. The IPFIX encoder takes either, so one
/// encoder serves records decoded straight from held messages and
/// [`super::DnsRecord`]s.
///
/// `N`: a domain name; `T`: a text (TXT, CAA); `B`: opaque octets; `P`:
/// SVCB/HTTPS parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RdataOf<N, T, B, P> {
    /// Questions, and records whose type YAF exports with an empty rdata list.
    None,
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(N),
    Ns(N),
    Ptr(N),
    Mx {
        preference: u16,
        exchange: N,
    },
    /// First character-string only, as YAF's dnsTXTData.
    Txt(T),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: N,
    },
    Soa {
        mname: N,
        rname: N,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
    Ds {
        key_tag: u16,
        algorithm: u8,
        digest_type: u8,
        digest: B,
    },
    Rrsig {
        type_covered: u16,
        algorithm: u8,
        labels: u8,
        original_ttl: u32,
        expiration: u32,
        inception: u32,
        key_tag: u16,
        signer: N,
        signature: B,
    },
    Nsec {
        next_name: N,
    },
    Dnskey {
        flags: u16,
        protocol: u8,
        algorithm: u8,
        public_key: B,
    },
    Nsec3 {
        algorithm: u8,
        flags: u8,
        iterations: u16,
        salt: B,
        next_hashed: B,
    },
    /// HTTPS (65) and SVCB (64); the record's rrtype tells which.
    Svcb {
        priority: u16,
        target: N,
        params: P,
    },
    Caa {
        flags: u8,
        tag: T,
        value: T,
    },
    /// Raw RDATA of any other type (the record's rrtype is its number).
    Other(B),
}

/// RDATA as decoded from a message: names validated but not yet
/// formatted, texts not yet escaped, SVCB parameters checked but not
/// rendered; all borrowed from the message.
pub type RdataRef<'a> = RdataOf<WireName<'a>, RawText<'a>, &'a [u8], &'a [u8]>;

/// An owned [`Rdata`] seen through [`RdataOf`] (names and texts escaped).
pub type RdataView<'a> = RdataOf<&'a str, &'a str, &'a [u8], &'a str>;

/// A name inside RDATA that [`decode_rdata`] has checked (compression,
/// lengths, bounds); formatting it walks it again, into the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireName<'a> {
    msg: &'a [u8],
    pos: usize,
    limit: usize,
}

impl WireName<'_> {
    /// Appends the YAF-escaped name (trailing dot, root = "") to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        // The walk succeeded when the name was decoded and reads the same
        // octets now, so it cannot fail; were it to, `out` keeps what it
        // wrote, which is all it could do anyway.
        let _ = read_name_into(self.msg, self.pos, self.limit, out);
    }

    pub fn to_text(&self) -> String {
        let mut v = Vec::with_capacity(48);
        self.write_to(&mut v);
        ascii_string(v)
    }
}

/// Text octets from the wire (TXT character-string, CAA tag and value),
/// escaped when written ([`escape_into`], dots kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawText<'a>(pub &'a [u8]);

impl RawText<'_> {
    pub fn write_to(&self, out: &mut Vec<u8>) {
        escape_into(out, self.0, false);
    }
}

/// The decoded RDATA of one record, owned. Names are YAF-escaped with a
/// trailing dot (root = ""), texts YAF-escaped, SVCB parameters in
/// presentation form; see [`Rdata::presentation`] for the text form.
pub type Rdata = RdataOf<String, String, Vec<u8>, String>;

/// Big-endian reads bounded by `end` (the RDATA end, not the message end),
/// so a field can never borrow bytes of the next record.
struct Cursor<'a> {
    msg: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RdataError> {
        let stop = self.pos.checked_add(n).filter(|&s| s <= self.end);
        match stop.and_then(|s| self.msg.get(self.pos..s)) {
            Some(b) => {
                self.pos += n;
                Ok(b)
            }
            None => Err(RdataError {
                kind: ErrorKind::BadRdata,
                offset: self.pos,
            }),
        }
    }
    fn u8(&mut self) -> Result<u8, RdataError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, RdataError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, RdataError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// Checks the name here (same walk and rules as formatting it) and
    /// steps over it; the text is made only by whoever writes it.
    fn name(&mut self) -> Result<WireName<'a>, RdataError> {
        let next = skip_name(self.msg, self.pos, self.end).map_err(|e| RdataError {
            kind: e.kind,
            offset: e.offset,
        })?;
        let n = WireName {
            msg: self.msg,
            pos: self.pos,
            limit: self.end,
        };
        self.pos = next;
        Ok(n)
    }
    fn rest(&mut self) -> &'a [u8] {
        let b = self.msg.get(self.pos..self.end).unwrap_or_default();
        self.pos = self.end;
        b
    }
    /// A <character-string>: one length octet then that many octets.
    fn char_string(&mut self) -> Result<&'a [u8], RdataError> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }
}

/// Why an RDATA could not be decoded, with the message offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RdataError {
    pub kind: ErrorKind,
    pub offset: usize,
}

/// Decodes the RDATA of type `rrtype` at `msg[start..end]` into an owned
/// [`Rdata`]: [`decode_rdata`], then every value made a String or Vec.
pub fn parse_rdata(msg: &[u8], rrtype: u16, start: usize, end: usize) -> Result<Rdata, RdataError> {
    decode_rdata(msg, rrtype, start, end).map(|r| r.to_rdata())
}

/// Decodes (and fully checks) the RDATA of type `rrtype` at
/// `msg[start..end]`. `msg` is the whole message, because names inside
/// RDATA may point back into it. Nothing is allocated: values borrow `msg`.
pub fn decode_rdata(
    msg: &[u8],
    rrtype: u16,
    start: usize,
    end: usize,
) -> Result<RdataRef<'_>, RdataError> {
    let mut c = Cursor {
        msg,
        pos: start,
        end,
    };
    use rtype::*;
    let rd = match rrtype {
        A => {
            let b = c.take(4)?;
            RdataOf::A(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        }
        AAAA => {
            let b = c.take(16)?;
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            RdataOf::Aaaa(Ipv6Addr::from(a))
        }
        CNAME => RdataOf::Cname(c.name()?),
        NS => RdataOf::Ns(c.name()?),
        PTR => RdataOf::Ptr(c.name()?),
        MX => RdataOf::Mx {
            preference: c.u16()?,
            exchange: c.name()?,
        },
        TXT => {
            // Empty RDATA is malformed (RFC 1035 wants one string), but YAF
            // exports an empty text for it and so do we.
            if start == end {
                RdataOf::Txt(RawText(&[]))
            } else {
                RdataOf::Txt(RawText(c.char_string()?))
            }
        }
        SRV => RdataOf::Srv {
            priority: c.u16()?,
            weight: c.u16()?,
            port: c.u16()?,
            target: c.name()?,
        },
        SOA => RdataOf::Soa {
            mname: c.name()?,
            rname: c.name()?,
            serial: c.u32()?,
            refresh: c.u32()?,
            retry: c.u32()?,
            expire: c.u32()?,
            minimum: c.u32()?,
        },
        DS => RdataOf::Ds {
            key_tag: c.u16()?,
            algorithm: c.u8()?,
            digest_type: c.u8()?,
            digest: c.rest(),
        },
        RRSIG => RdataOf::Rrsig {
            type_covered: c.u16()?,
            algorithm: c.u8()?,
            labels: c.u8()?,
            original_ttl: c.u32()?,
            expiration: c.u32()?,
            inception: c.u32()?,
            key_tag: c.u16()?,
            signer: c.name()?,
            signature: c.rest(),
        },
        NSEC => RdataOf::Nsec {
            next_name: c.name()?,
        },
        DNSKEY => RdataOf::Dnskey {
            flags: c.u16()?,
            protocol: c.u8()?,
            algorithm: c.u8()?,
            public_key: c.rest(),
        },
        NSEC3 => RdataOf::Nsec3 {
            algorithm: c.u8()?,
            flags: c.u8()?,
            iterations: c.u16()?,
            salt: c.char_string()?,
            next_hashed: c.char_string()?,
        },
        SVCB | HTTPS => {
            let priority = c.u16()?;
            let target = c.name()?;
            let at = c.pos;
            let params = c.rest();
            // `domain` checks the key/length framing here; values it cannot
            // decode it renders in the generic key65535="..." form.
            SvcParams::from_slice(params).map_err(|_| RdataError {
                kind: ErrorKind::BadRdata,
                offset: at,
            })?;
            RdataOf::Svcb {
                priority,
                target,
                params,
            }
        }
        CAA => {
            let flags = c.u8()?;
            let tag = RawText(c.char_string()?);
            let value = RawText(c.rest());
            RdataOf::Caa { flags, tag, value }
        }
        _ => RdataOf::Other(c.rest()),
    };
    Ok(rd)
}

impl RdataRef<'_> {
    /// The owned form: names formatted, texts escaped, parameters rendered.
    pub fn to_rdata(&self) -> Rdata {
        let esc = |t: &RawText<'_>| escape_text(t.0);
        match *self {
            RdataOf::None => Rdata::None,
            RdataOf::A(a) => Rdata::A(a),
            RdataOf::Aaaa(a) => Rdata::Aaaa(a),
            RdataOf::Cname(n) => Rdata::Cname(n.to_text()),
            RdataOf::Ns(n) => Rdata::Ns(n.to_text()),
            RdataOf::Ptr(n) => Rdata::Ptr(n.to_text()),
            RdataOf::Mx {
                preference,
                exchange,
            } => Rdata::Mx {
                preference,
                exchange: exchange.to_text(),
            },
            RdataOf::Txt(t) => Rdata::Txt(esc(&t)),
            RdataOf::Srv {
                priority,
                weight,
                port,
                target,
            } => Rdata::Srv {
                priority,
                weight,
                port,
                target: target.to_text(),
            },
            RdataOf::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => Rdata::Soa {
                mname: mname.to_text(),
                rname: rname.to_text(),
                serial,
                refresh,
                retry,
                expire,
                minimum,
            },
            RdataOf::Ds {
                key_tag,
                algorithm,
                digest_type,
                digest,
            } => Rdata::Ds {
                key_tag,
                algorithm,
                digest_type,
                digest: digest.to_vec(),
            },
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
            } => Rdata::Rrsig {
                type_covered,
                algorithm,
                labels,
                original_ttl,
                expiration,
                inception,
                key_tag,
                signer: signer.to_text(),
                signature: signature.to_vec(),
            },
            RdataOf::Nsec { next_name } => Rdata::Nsec {
                next_name: next_name.to_text(),
            },
            RdataOf::Dnskey {
                flags,
                protocol,
                algorithm,
                public_key,
            } => Rdata::Dnskey {
                flags,
                protocol,
                algorithm,
                public_key: public_key.to_vec(),
            },
            RdataOf::Nsec3 {
                algorithm,
                flags,
                iterations,
                salt,
                next_hashed,
            } => Rdata::Nsec3 {
                algorithm,
                flags,
                iterations,
                salt: salt.to_vec(),
                next_hashed: next_hashed.to_vec(),
            },
            RdataOf::Svcb {
                priority,
                target,
                params,
            } => Rdata::Svcb {
                priority,
                target: target.to_text(),
                // Checked by decode_rdata, so the error arm is not taken.
                params: SvcParams::from_slice(params)
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
            },
            RdataOf::Caa { flags, tag, value } => Rdata::Caa {
                flags,
                tag: esc(&tag),
                value: esc(&value),
            },
            RdataOf::Other(b) => Rdata::Other(b.to_vec()),
        }
    }
}

impl Rdata {
    /// This RDATA as an [`RdataView`] (what the IPFIX encoder reads).
    pub fn view(&self) -> RdataView<'_> {
        match self {
            Rdata::None => RdataOf::None,
            Rdata::A(a) => RdataOf::A(*a),
            Rdata::Aaaa(a) => RdataOf::Aaaa(*a),
            Rdata::Cname(n) => RdataOf::Cname(n),
            Rdata::Ns(n) => RdataOf::Ns(n),
            Rdata::Ptr(n) => RdataOf::Ptr(n),
            Rdata::Mx {
                preference,
                exchange,
            } => RdataOf::Mx {
                preference: *preference,
                exchange,
            },
            Rdata::Txt(t) => RdataOf::Txt(t),
            Rdata::Srv {
                priority,
                weight,
                port,
                target,
            } => RdataOf::Srv {
                priority: *priority,
                weight: *weight,
                port: *port,
                target,
            },
            Rdata::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => RdataOf::Soa {
                mname,
                rname,
                serial: *serial,
                refresh: *refresh,
                retry: *retry,
                expire: *expire,
                minimum: *minimum,
            },
            Rdata::Ds {
                key_tag,
                algorithm,
                digest_type,
                digest,
            } => RdataOf::Ds {
                key_tag: *key_tag,
                algorithm: *algorithm,
                digest_type: *digest_type,
                digest,
            },
            Rdata::Rrsig {
                type_covered,
                algorithm,
                labels,
                original_ttl,
                expiration,
                inception,
                key_tag,
                signer,
                signature,
            } => RdataOf::Rrsig {
                type_covered: *type_covered,
                algorithm: *algorithm,
                labels: *labels,
                original_ttl: *original_ttl,
                expiration: *expiration,
                inception: *inception,
                key_tag: *key_tag,
                signer,
                signature,
            },
            Rdata::Nsec { next_name } => RdataOf::Nsec { next_name },
            Rdata::Dnskey {
                flags,
                protocol,
                algorithm,
                public_key,
            } => RdataOf::Dnskey {
                flags: *flags,
                protocol: *protocol,
                algorithm: *algorithm,
                public_key,
            },
            Rdata::Nsec3 {
                algorithm,
                flags,
                iterations,
                salt,
                next_hashed,
            } => RdataOf::Nsec3 {
                algorithm: *algorithm,
                flags: *flags,
                iterations: *iterations,
                salt,
                next_hashed,
            },
            Rdata::Svcb {
                priority,
                target,
                params,
            } => RdataOf::Svcb {
                priority: *priority,
                target,
                params,
            },
            Rdata::Caa { flags, tag, value } => RdataOf::Caa {
                flags: *flags,
                tag,
                value,
            },
            Rdata::Other(b) => RdataOf::Other(b),
        }
    }
}

/// Root as "." inside multi-field values, so the fields stay separable
/// (alone, a root name stays "" as YAF writes it).
fn field(n: &str) -> &str {
    if n.is_empty() {
        "."
    } else {
        n
    }
}

fn hex_upper(out: &mut String, b: &[u8]) {
    for x in b {
        let _ = write!(out, "{x:02X}");
    }
}

impl Rdata {
    /// The text value a collector stores (rrval):
    ///
    /// | variant | format |
    /// |---|---|
    /// | None | empty |
    /// | A / Aaaa | dotted quad / RFC 5952 text |
    /// | Cname, Ns, Ptr, Nsec | the name (YAF-escaped, trailing dot) |
    /// | Mx | `preference exchange` (a root name is written "." in these multi-field forms) |
    /// | Txt | the first character-string, YAF-escaped, no quotes |
    /// | Srv | `priority weight port target` |
    /// | Soa | `mname rname serial refresh retry expire minimum` |
    /// | Ds | `key_tag algorithm digest_type HEXDIGEST` |
    /// | Rrsig | `TYPE algorithm labels original_ttl expiration inception key_tag signer base64` (times as seconds) |
    /// | Dnskey | `flags protocol algorithm base64` |
    /// | Nsec3 | `algorithm flags iterations HEXSALT|- base32hex` |
    /// | Svcb | `priority target params` (RFC 9460 presentation of params) |
    /// | Caa | `flags tag "value"` |
    /// | Other | RFC 3597 `\# length HEX` |
    pub fn presentation(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail; the results are ignored for that reason.
        match self {
            Rdata::None => {}
            Rdata::A(a) => {
                let _ = write!(s, "{a}");
            }
            Rdata::Aaaa(a) => {
                let _ = write!(s, "{a}");
            }
            Rdata::Cname(n) | Rdata::Ns(n) | Rdata::Ptr(n) => s.push_str(n),
            Rdata::Nsec { next_name } => s.push_str(next_name),
            Rdata::Mx {
                preference,
                exchange,
            } => {
                let _ = write!(s, "{preference} {}", field(exchange));
            }
            Rdata::Txt(t) => s.push_str(t),
            Rdata::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                let _ = write!(s, "{priority} {weight} {port} {}", field(target));
            }
            Rdata::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => {
                let _ = write!(
                    s,
                    "{} {} {serial} {refresh} {retry} {expire} {minimum}",
                    field(mname),
                    field(rname)
                );
            }
            Rdata::Ds {
                key_tag,
                algorithm,
                digest_type,
                digest,
            } => {
                let _ = write!(s, "{key_tag} {algorithm} {digest_type} ");
                hex_upper(&mut s, digest);
            }
            Rdata::Rrsig {
                type_covered,
                algorithm,
                labels,
                original_ttl,
                expiration,
                inception,
                key_tag,
                signer,
                signature,
            } => {
                let _ = write!(
                    s,
                    "{} {algorithm} {labels} {original_ttl} {expiration} {inception} {key_tag} {} {}",
                    Rtype::from_int(*type_covered),
                    field(signer),
                    domain::utils::base64::encode_string(signature)
                );
            }
            Rdata::Dnskey {
                flags,
                protocol,
                algorithm,
                public_key,
            } => {
                let _ = write!(
                    s,
                    "{flags} {protocol} {algorithm} {}",
                    domain::utils::base64::encode_string(public_key)
                );
            }
            Rdata::Nsec3 {
                algorithm,
                flags,
                iterations,
                salt,
                next_hashed,
            } => {
                let _ = write!(s, "{algorithm} {flags} {iterations} ");
                if salt.is_empty() {
                    s.push('-');
                } else {
                    hex_upper(&mut s, salt);
                }
                s.push(' ');
                s.push_str(&domain::utils::base32::encode_string_hex(next_hashed));
            }
            Rdata::Svcb {
                priority,
                target,
                params,
            } => {
                let _ = write!(s, "{priority} {}", field(target));
                if !params.is_empty() {
                    s.push(' ');
                    s.push_str(params);
                }
            }
            Rdata::Caa { flags, tag, value } => {
                let _ = write!(s, "{flags} {tag} \"{value}\"");
            }
            Rdata::Other(raw) => {
                let _ = write!(s, "\\# {}", raw.len());
                if !raw.is_empty() {
                    s.push(' ');
                    hex_upper(&mut s, raw);
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 12 zero header bytes, then "ex." at offset 12, then `rdata` at 16.
    fn msg_with(rdata: &[u8]) -> (Vec<u8>, usize, usize) {
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[2, b'e', b'x', 0]);
        let start = m.len();
        m.extend_from_slice(rdata);
        let end = m.len();
        (m, start, end)
    }

    #[test]
    fn fixed_types() {
        let (m, s, e) = msg_with(&[192, 0, 2, 1]);
        let rd = parse_rdata(&m, rtype::A, s, e).unwrap();
        assert_eq!(rd.presentation(), "192.0.2.1");
        let (m, s, e) = msg_with(&[192, 0, 2]);
        assert_eq!(
            parse_rdata(&m, rtype::A, s, e).unwrap_err().kind,
            ErrorKind::BadRdata
        );
        // MX 10 -> pointer to "ex."
        let (m, s, e) = msg_with(&[0, 10, 0xC0, 12]);
        assert_eq!(
            parse_rdata(&m, rtype::MX, s, e).unwrap().presentation(),
            "10 ex."
        );
        // SRV 1 2 443 "a.ex."
        let (m, s, e) = msg_with(&[0, 1, 0, 2, 0x01, 0xBB, 1, b'a', 0xC0, 12]);
        assert_eq!(
            parse_rdata(&m, rtype::SRV, s, e).unwrap().presentation(),
            "1 2 443 a.ex."
        );
    }

    #[test]
    fn soa_and_truncated_soa() {
        let mut rd = vec![0xC0, 12, 1, b'h', 0xC0, 12];
        for v in [1u32, 2, 3, 4, 5] {
            rd.extend_from_slice(&v.to_be_bytes());
        }
        let (m, s, e) = msg_with(&rd);
        assert_eq!(
            parse_rdata(&m, rtype::SOA, s, e).unwrap().presentation(),
            "ex. h.ex. 1 2 3 4 5"
        );
        let (m, s, e) = msg_with(&rd[..rd.len() - 1]);
        assert!(parse_rdata(&m, rtype::SOA, s, e).is_err());
    }

    #[test]
    fn txt_first_string_escaped() {
        let (m, s, e) = msg_with(&[4, b'a', b'.', b'\n', 0xFE, 1, b'z']);
        assert_eq!(
            parse_rdata(&m, rtype::TXT, s, e).unwrap(),
            Rdata::Txt("a.\\n\\xFE".into())
        );
        let (m, s, e) = msg_with(&[5, b'a']);
        assert!(parse_rdata(&m, rtype::TXT, s, e).is_err());
    }

    #[test]
    fn name_in_rdata_cannot_run_past_rdlength() {
        // CNAME whose uncompressed label runs past the RDATA end.
        let (m, s, _) = msg_with(&[3, b'a', b'b', b'c', 0]);
        assert!(parse_rdata(&m, rtype::CNAME, s, s + 3).is_err());
    }

    #[test]
    fn https_caa_other() {
        // HTTPS 1 . alpn=h2 (key 1, len 3, "\x02h2")
        let (m, s, e) = msg_with(&[0, 1, 0, 0, 1, 0, 3, 2, b'h', b'2']);
        let rd = parse_rdata(&m, rtype::HTTPS, s, e).unwrap();
        assert_eq!(rd.presentation(), "1 . alpn=h2");
        // CAA 0 issue "ca.example"
        let mut rd = vec![0, 5];
        rd.extend_from_slice(b"issueca.example");
        let (m, s, e) = msg_with(&rd);
        assert_eq!(
            parse_rdata(&m, rtype::CAA, s, e).unwrap().presentation(),
            "0 issue \"ca.example\""
        );
        let (m, s, e) = msg_with(&[0xAB, 0x01]);
        let rd = parse_rdata(&m, 65280, s, e).unwrap();
        assert_eq!(rd.presentation(), "\\# 2 AB01");
    }

    #[test]
    fn dnssec_types() {
        let (m, s, e) = msg_with(&[0x12, 0x34, 8, 2, 0xDE, 0xAD]);
        assert_eq!(
            parse_rdata(&m, rtype::DS, s, e).unwrap().presentation(),
            "4660 8 2 DEAD"
        );
        let (m, s, e) = msg_with(&[1, 0, 0, 10, 0, 1, 0xFF]);
        let rd = parse_rdata(&m, rtype::NSEC3, s, e).unwrap();
        assert_eq!(rd.presentation(), "1 0 10 - VS");
    }
}
