//! pcap and pcapng files (and stdin) through `pcap-parser`.
//!
//! libpcap is not used for files: it refuses pcapng files whose interfaces
//! have different link types, and pcap-parser is two to three times faster.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError};

use super::{CaptureError, CaptureStats, Packet, PacketSource, Poll};

/// Initial read buffer; grown on demand for jumbo frames and large blocks.
const INITIAL_BUFFER: usize = 256 * 1024;
/// A block larger than this is treated as corruption rather than grown for,
/// so a bad length field cannot make us allocate without bound.
const MAX_BUFFER: usize = 64 * 1024 * 1024;

/// Per-interface facts from a pcapng Interface Description Block.
#[derive(Debug, Clone, Copy)]
struct Iface {
    linktype: u32,
    /// Timestamp units per second.
    resolution: u64,
    /// Seconds added to every timestamp (if_tsoffset).
    offset_s: i64,
}

/// Reads one capture file, or stdin when the path is `-`.
pub struct FileSource {
    name: String,
    reader: Box<dyn PcapReaderIterator + Send>,
    /// Legacy pcap: link type and whether fractions are nanoseconds.
    legacy_linktype: u32,
    legacy_nanos: bool,
    /// pcapng: interfaces of the current section.
    ifaces: Vec<Iface>,
    capacity: usize,
    last_ts_ns: u64,
    stats: CaptureStats,
    done: bool,
    truncated_tail: bool,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("name", &self.name)
            .finish()
    }
}

impl FileSource {
    /// Open `path` (`-` = standard input).
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let name = path.display().to_string();
        let rd: Box<dyn Read + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin())
        } else {
            let f = File::open(path).map_err(|source| CaptureError::Open {
                path: path.to_owned(),
                source,
            })?;
            Box::new(BufReader::with_capacity(64 * 1024, f))
        };
        Self::from_reader(name, rd)
    }

    /// Read a capture from any byte stream (used by tests and stdin).
    pub fn from_reader(name: String, rd: Box<dyn Read + Send>) -> Result<Self, CaptureError> {
        let reader = match pcap_parser::create_reader(INITIAL_BUFFER, rd) {
            Ok(r) => r,
            Err(PcapError::Eof) => {
                return Err(CaptureError::Format {
                    name,
                    detail: "empty file".into(),
                })
            }
            Err(e) => {
                return Err(CaptureError::Format {
                    name,
                    detail: format!("{e:?}"),
                })
            }
        };
        Ok(FileSource {
            name,
            reader,
            legacy_linktype: 0,
            legacy_nanos: false,
            ifaces: Vec::new(),
            capacity: INITIAL_BUFFER,
            last_ts_ns: 0,
            stats: CaptureStats::default(),
            done: false,
            truncated_tail: false,
        })
    }

    /// True when the file ended in the middle of a record (a capture cut
    /// short, e.g. tcpdump killed): the complete records before it were read.
    pub fn truncated_tail(&self) -> bool {
        self.truncated_tail
    }

    fn corrupt(&self, detail: String) -> CaptureError {
        CaptureError::Corrupt {
            name: self.name.clone(),
            offset: self.reader.consumed() as u64,
            detail,
        }
    }
}

fn legacy_ts(sec: u32, frac: u32, nanos: bool) -> u64 {
    let frac_ns = if nanos {
        u64::from(frac)
    } else {
        u64::from(frac).saturating_mul(1000)
    };
    u64::from(sec)
        .saturating_mul(1_000_000_000)
        .saturating_add(frac_ns)
}

fn ng_ts(high: u32, low: u32, iface: &Iface) -> u64 {
    let raw = (u64::from(high) << 32) | u64::from(low);
    let res = u128::from(iface.resolution.max(1));
    let ns = u128::from(raw) * 1_000_000_000 / res;
    let off = i128::from(iface.offset_s) * 1_000_000_000;
    let total = (ns as i128).saturating_add(off);
    u64::try_from(total.max(0)).unwrap_or(u64::MAX)
}

impl PacketSource for FileSource {
    fn poll(&mut self, max: usize, f: &mut dyn FnMut(&Packet<'_>)) -> Result<Poll, CaptureError> {
        if self.done {
            return Ok(Poll::Eof);
        }
        let mut delivered = 0usize;
        while delivered < max {
            let step = match self.reader.next() {
                Ok((offset, block)) => {
                    let spb_ts = self.last_ts_ns;
                    let mut emit = |p: Packet<'_>| {
                        self.last_ts_ns = p.ts_ns;
                        self.stats.received += 1;
                        delivered += 1;
                        f(&p);
                    };
                    match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            self.legacy_linktype = h.network.0 as u32;
                            self.legacy_nanos = h.is_nanosecond_precision();
                        }
                        PcapBlockOwned::Legacy(b) => emit(Packet {
                            ts_ns: legacy_ts(b.ts_sec, b.ts_usec, self.legacy_nanos),
                            linktype: self.legacy_linktype,
                            wire_len: b.origlen,
                            data: b.data,
                        }),
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                            // Interface ids are scoped to their section.
                            self.ifaces.clear();
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            // A resolution pcap-parser cannot express (> 2^64
                            // units/s) falls back to the pcapng default, µs.
                            self.ifaces.push(Iface {
                                linktype: idb.linktype.0 as u32,
                                resolution: idb.ts_resolution().unwrap_or(1_000_000),
                                offset_s: idb.ts_offset(),
                            });
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            match self.ifaces.get(epb.if_id as usize).copied() {
                                Some(iface) => emit(Packet {
                                    ts_ns: ng_ts(epb.ts_high, epb.ts_low, &iface),
                                    linktype: iface.linktype,
                                    wire_len: epb.origlen,
                                    // `data` would include the block padding.
                                    data: epb.packet_data(),
                                }),
                                None => {
                                    tracing::debug!(
                                        file = %self.name,
                                        if_id = epb.if_id,
                                        "packet for an undeclared interface skipped"
                                    );
                                }
                            }
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            // SPBs carry no timestamp: reuse the last one so
                            // packet time never goes backwards.
                            if let Some(iface) = self.ifaces.first().copied() {
                                emit(Packet {
                                    ts_ns: spb_ts,
                                    linktype: iface.linktype,
                                    wire_len: spb.origlen,
                                    data: spb.packet_data(),
                                });
                            }
                        }
                        PcapBlockOwned::NG(_) => {}
                    }
                    Ok(offset)
                }
                Err(e) => Err(match e {
                    PcapError::Eof => Step::Eof,
                    PcapError::Incomplete(_) => Step::Refill,
                    PcapError::BufferTooSmall => Step::Grow,
                    PcapError::UnexpectedEof => Step::Truncated(self.reader.data().len()),
                    PcapError::ReadError => Step::ReadError,
                    other => Step::Corrupt(format!("{other:?}")),
                }),
            };
            match step {
                Ok(offset) => self.reader.consume(offset),
                Err(Step::Refill) => {
                    if self.reader.refill().is_err() {
                        return Err(CaptureError::Read {
                            name: self.name.clone(),
                            offset: self.reader.consumed() as u64,
                        });
                    }
                }
                Err(Step::Grow) => {
                    let want = self.capacity.saturating_mul(2);
                    if want > MAX_BUFFER || !self.reader.grow(want) {
                        return Err(self.corrupt(format!("record larger than {MAX_BUFFER} bytes")));
                    }
                    self.capacity = want;
                    if self.reader.refill().is_err() {
                        return Err(CaptureError::Read {
                            name: self.name.clone(),
                            offset: self.reader.consumed() as u64,
                        });
                    }
                }
                Err(Step::Eof) => {
                    self.done = true;
                    break;
                }
                Err(Step::Truncated(left)) => {
                    self.done = true;
                    if left > 0 {
                        self.truncated_tail = true;
                        tracing::warn!(
                            file = %self.name,
                            offset = self.reader.consumed(),
                            bytes = left,
                            "capture ends inside a record; the partial record is ignored"
                        );
                    }
                    break;
                }
                Err(Step::ReadError) => {
                    return Err(CaptureError::Read {
                        name: self.name.clone(),
                        offset: self.reader.consumed() as u64,
                    })
                }
                Err(Step::Corrupt(d)) => return Err(self.corrupt(d)),
            }
        }
        if delivered == 0 && self.done {
            Ok(Poll::Eof)
        } else {
            Ok(Poll::Packets(delivered))
        }
    }

    fn stats(&self) -> CaptureStats {
        self.stats
    }

    fn name(&self) -> &str {
        &self.name
    }
}

enum Step {
    Eof,
    Refill,
    Grow,
    Truncated(usize),
    ReadError,
    Corrupt(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Little-endian microsecond pcap header, snaplen 65535, given DLT.
    fn pcap_header(dlt: u32) -> Vec<u8> {
        let mut v = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        v.extend_from_slice(&[0; 8]); // thiszone, sigfigs
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&dlt.to_le_bytes());
        v
    }

    fn record(v: &mut Vec<u8>, sec: u32, usec: u32, data: &[u8]) {
        v.extend_from_slice(&sec.to_le_bytes());
        v.extend_from_slice(&usec.to_le_bytes());
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(&(data.len() as u32 + 10).to_le_bytes());
        v.extend_from_slice(data);
    }

    fn collect(src: &mut FileSource) -> Vec<(u64, u32, u32, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            match src
                .poll(2, &mut |p| {
                    out.push((p.ts_ns, p.linktype, p.wire_len, p.data.to_vec()))
                })
                .unwrap()
            {
                Poll::Eof => break,
                Poll::Packets(_) | Poll::Idle => {}
            }
        }
        out
    }

    #[test]
    fn legacy_pcap_records_and_truncated_tail() {
        let mut v = pcap_header(101);
        record(&mut v, 10, 5, &[0x45, 1, 2]);
        record(&mut v, 11, 999_999, &[0x60]);
        record(&mut v, 12, 0, &[1, 2, 3, 4]);
        v.truncate(v.len() - 2); // cut the last record short
        let mut src =
            FileSource::from_reader("t".into(), Box::new(std::io::Cursor::new(v))).unwrap();
        let got = collect(&mut src);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (10_000_005_000, 101, 13, vec![0x45, 1, 2]));
        assert_eq!(got[1].0, 11_999_999_000);
        assert!(src.truncated_tail());
        assert_eq!(src.stats().received, 2);
    }

    #[test]
    fn nanosecond_pcap() {
        let mut v = pcap_header(1);
        v[0..4].copy_from_slice(&[0x4d, 0x3c, 0xb2, 0xa1]);
        record(&mut v, 1, 123_456_789, &[0; 14]);
        let mut src =
            FileSource::from_reader("t".into(), Box::new(std::io::Cursor::new(v))).unwrap();
        let got = collect(&mut src);
        assert_eq!(got[0].0, 1_123_456_789);
        assert!(!src.truncated_tail());
    }

    #[test]
    fn pcapng_two_interfaces_with_different_link_types() {
        fn block(v: &mut Vec<u8>, ty: u32, body: &[u8]) {
            let len = 12 + body.len() as u32;
            v.extend_from_slice(&ty.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(body);
            v.extend_from_slice(&len.to_le_bytes());
        }
        let mut v = Vec::new();
        // SHB: byte-order magic, version 1.0, section length -1
        let mut shb = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
        shb.extend_from_slice(&[0xff; 8]);
        block(&mut v, 0x0A0D0D0A, &shb);
        // IDB 0: Ethernet, default µs resolution
        block(&mut v, 1, &[1, 0, 0, 0, 0, 0, 0, 0]);
        // IDB 1: raw IP (101) with if_tsresol = 9 (ns): option 9 len 1, pad, opt_endofopt
        block(
            &mut v,
            1,
            &[101, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0],
        );
        // EPB on interface 1: ts = 5_000_000_123 ns, caplen 3 (padded to 4), origlen 3
        let ts: u64 = 5_000_000_123;
        let mut epb = vec![1, 0, 0, 0];
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&3u32.to_le_bytes());
        epb.extend_from_slice(&3u32.to_le_bytes());
        epb.extend_from_slice(&[0x45, 0x00, 0x11, 0x00]);
        block(&mut v, 6, &epb);
        // EPB on interface 0: ts = 2_000_001 µs
        let ts: u64 = 2_000_001;
        let mut epb = vec![0, 0, 0, 0];
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&4u32.to_le_bytes());
        epb.extend_from_slice(&60u32.to_le_bytes());
        epb.extend_from_slice(&[1, 2, 3, 4]);
        block(&mut v, 6, &epb);
        // EPB on undeclared interface 7 is skipped, not fatal
        let mut epb = vec![7, 0, 0, 0];
        epb.extend_from_slice(&[0; 8]);
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&0u32.to_le_bytes());
        block(&mut v, 6, &epb);
        let mut src =
            FileSource::from_reader("t".into(), Box::new(std::io::Cursor::new(v))).unwrap();
        let got = collect(&mut src);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (5_000_000_123, 101, 3, vec![0x45, 0, 0x11]));
        assert_eq!(got[1], (2_000_001_000, 1, 60, vec![1, 2, 3, 4]));
    }

    #[test]
    fn garbage_is_a_format_error() {
        let r = FileSource::from_reader(
            "junk".into(),
            Box::new(std::io::Cursor::new(
                b"this is not a capture file at all".to_vec(),
            )),
        );
        assert!(matches!(r, Err(CaptureError::Format { .. })));
        let r = FileSource::from_reader("empty".into(), Box::new(std::io::Cursor::new(Vec::new())));
        assert!(matches!(r, Err(CaptureError::Format { .. })));
    }
}
