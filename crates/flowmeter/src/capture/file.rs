//! pcap and pcapng files (and stdin) through `pcap-parser`.
//!
//! libpcap is not used for files: it refuses pcapng files whose interfaces
//! have different link types, and pcap-parser is two to three times faster.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError};

use super::{CaptureError, CaptureStats, Packet, PacketSource, Poll};

/// Initial read buffer; grown on demand for jumbo frames and large blocks.
const INITIAL_BUFFER: usize = 256 * 1024;
/// A block larger than this is treated as corruption rather than grown for,
/// so a bad length field cannot make us allocate without bound.
const MAX_BUFFER: usize = 64 * 1024 * 1024;

/// Wraps a pipe (stdin) for pcap-parser. Its reader constructors issue two `read`s before the
/// first packet; on a pipe that stays open with nothing more to send (a quiet `tcpdump -w -`)
/// the second one blocks and no packet is processed, even though the first read brought the
/// header and packets. Holding back the last byte of the first read answers the second
/// `read` from memory; after that reads pass straight through.
pub struct HoldBackFirstByte<R> {
    inner: R,
    held: Option<u8>,
    first: bool,
}

impl<R> HoldBackFirstByte<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            held: None,
            first: true,
        }
    }
}

impl<R: Read> Read for HoldBackFirstByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(b) = self.held.take() {
            return match buf.first_mut() {
                Some(slot) => {
                    *slot = b;
                    Ok(1)
                }
                None => {
                    self.held = Some(b);
                    Ok(0)
                }
            };
        }
        let n = self.inner.read(buf)?;
        if std::mem::take(&mut self.first) && n > 1 {
            self.held = buf.get(n - 1).copied();
            return Ok(n - 1);
        }
        Ok(n)
    }
}

/// How long a pipe read waits before [`FileSource::poll`] returns [`Poll::Idle`], so the
/// pipeline can see a shutdown request (SIGINT/SIGTERM) while the writer is quiet.
const PIPE_POLL: Duration = Duration::from_millis(250);
/// Chunks read ahead from a pipe: at most this many times 64 KiB are buffered.
const PIPE_CHUNKS: usize = 4;

/// What the pipe reader and its [`FileSource`] share.
#[derive(Debug, Default)]
struct PipeControl {
    /// Reads wait for data (while pcap-parser sets up: it cannot resume a failed start).
    blocking: AtomicBool,
    /// The last read returned `WouldBlock` because nothing arrived within [`PIPE_POLL`].
    timed_out: AtomicBool,
}

/// A pipe read on a thread of its own: a blocking `read` on the pipeline thread could never
/// be interrupted (the signal handlers restart it), so a quiet `tcpdump -w - | flowmeter
/// --in -` would ignore SIGINT. Reads here wait at most [`PIPE_POLL`] and then fail with
/// `WouldBlock`, which `poll` turns into [`Poll::Idle`].
struct PipeFeed {
    rx: Receiver<std::io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
    eof: bool,
    ctl: Arc<PipeControl>,
}

impl PipeFeed {
    fn spawn(mut src: impl Read + Send + 'static, ctl: Arc<PipeControl>) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(PIPE_CHUNKS);
        std::thread::Builder::new()
            .name("pipe-reader".into())
            .spawn(move || loop {
                let mut buf = vec![0u8; 64 * 1024];
                match src.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(Ok(buf)).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            })?;
        Ok(Self {
            rx,
            chunk: Vec::new(),
            pos: 0,
            eof: false,
            ctl,
        })
    }
}

impl Read for PipeFeed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.chunk.len() {
            if self.eof {
                return Ok(0);
            }
            let next = if self.ctl.blocking.load(Ordering::Relaxed) {
                self.rx.recv().ok()
            } else {
                match self.rx.recv_timeout(PIPE_POLL) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => {
                        self.ctl.timed_out.store(true, Ordering::Relaxed);
                        return Err(std::io::ErrorKind::WouldBlock.into());
                    }
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            };
            match next {
                Some(Ok(c)) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                Some(Err(e)) => return Err(e),
                None => {
                    self.eof = true;
                    return Ok(0);
                }
            }
        }
        let avail = self.chunk.get(self.pos..).unwrap_or_default();
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.pos += n;
        Ok(n)
    }
}

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
    /// Set when reading a pipe through [`PipeFeed`].
    pipe: Option<Arc<PipeControl>>,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("name", &self.name)
            .finish()
    }
}

impl FileSource {
    /// Open `path` (`-` = standard input, read as a pipe: see [`FileSource::from_pipe`]).
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let name = path.display().to_string();
        if path.as_os_str() == "-" {
            return Self::from_pipe(name, std::io::stdin());
        }
        let f = File::open(path).map_err(|source| CaptureError::Open {
            path: path.to_owned(),
            source,
        })?;
        Self::from_reader(name, Box::new(BufReader::with_capacity(64 * 1024, f)))
    }

    /// Read a capture from a pipe (standard input) that may stay open and quiet: the packets
    /// that arrived are processed without waiting for more, and `poll` returns
    /// [`Poll::Idle`] every 250 ms while nothing comes, so a shutdown request is seen. Only
    /// the start waits for data without limit (the capture header and first read).
    pub fn from_pipe(name: String, src: impl Read + Send + 'static) -> Result<Self, CaptureError> {
        let ctl = Arc::new(PipeControl {
            blocking: AtomicBool::new(true),
            timed_out: AtomicBool::new(false),
        });
        let feed = PipeFeed::spawn(src, Arc::clone(&ctl)).map_err(|e| CaptureError::Format {
            name: name.clone(),
            detail: format!("cannot start the pipe reader: {e}"),
        })?;
        let mut s = Self::from_reader(name, Box::new(HoldBackFirstByte::new(feed)))?;
        ctl.blocking.store(false, Ordering::Relaxed);
        s.pipe = Some(ctl);
        Ok(s)
    }

    /// A failed refill: the pipe had nothing for now (true) or a real read error (false).
    fn pipe_quiet(&self) -> bool {
        self.pipe
            .as_ref()
            .is_some_and(|c| c.timed_out.swap(false, Ordering::Relaxed))
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
            pipe: None,
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
                        if self.pipe_quiet() {
                            break;
                        }
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
                        if self.pipe_quiet() {
                            break;
                        }
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
        } else if delivered == 0 {
            // Only a quiet pipe leaves the loop early with nothing delivered.
            Ok(Poll::Idle)
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

    /// A reader that serves its chunks one `read` at a time, then blocks forever (panics
    /// here, so a test fails instead of hanging) like a pipe left open.
    struct OpenPipe(Vec<Vec<u8>>);

    impl Read for OpenPipe {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                panic!("read past the available data: a pipe would block here");
            }
            let chunk = self.0.remove(0);
            assert!(
                buf.len() >= chunk.len(),
                "test chunk larger than the buffer"
            );
            buf[..chunk.len()].copy_from_slice(&chunk);
            Ok(chunk.len())
        }
    }

    #[test]
    fn a_pipe_that_stays_open_yields_its_packets() {
        let mut v = pcap_header(101);
        record(&mut v, 10, 0, &[0x45, 0, 0, 20]);
        record(&mut v, 11, 0, &[0x45, 0, 0, 21]);
        // All of it in one read, as a pipe delivers a small capture.
        let mut src = FileSource::from_reader(
            "-".into(),
            Box::new(HoldBackFirstByte::new(OpenPipe(vec![v.clone()]))),
        )
        .unwrap();
        let mut got = Vec::new();
        let r = src
            .poll(2, &mut |p| got.push(p.data.to_vec()))
            .unwrap_or(Poll::Eof);
        // Both packets come out of the one read; reading on would block (panic here).
        assert_eq!(r, Poll::Packets(2));
        assert_eq!(got, vec![vec![0x45, 0, 0, 20], vec![0x45, 0, 0, 21]]);
    }

    #[test]
    fn a_quiet_pipe_polls_idle_and_ends_when_closed() {
        let (rd, mut wr) = std::io::pipe().unwrap();
        let mut v = pcap_header(101);
        record(&mut v, 10, 0, &[0x45, 0, 0, 20]);
        record(&mut v, 11, 0, &[0x45, 0, 0, 21]);
        std::io::Write::write_all(&mut wr, &v).unwrap();
        let mut src = FileSource::from_pipe("-".into(), rd).unwrap();
        let mut got = 0;
        // Both packets, then Idle while the writer is open and quiet (not a blocked read).
        let mut polls = Vec::new();
        for _ in 0..3 {
            polls.push(src.poll(10, &mut |_| got += 1).unwrap());
        }
        assert_eq!(got, 2);
        assert_eq!(polls[0], Poll::Packets(2));
        assert_eq!(&polls[1..], &[Poll::Idle, Poll::Idle]);
        // More data later is read; closing the pipe is the end of the capture.
        let mut more = Vec::new();
        record(&mut more, 12, 0, &[0x45, 0, 0, 22]);
        std::io::Write::write_all(&mut wr, &more).unwrap();
        drop(wr);
        let mut last = Vec::new();
        loop {
            match src.poll(10, &mut |p| last.push(p.data.to_vec())).unwrap() {
                Poll::Eof => break,
                Poll::Packets(_) | Poll::Idle => {}
            }
        }
        assert_eq!(last, vec![vec![0x45, 0, 0, 22]]);
        assert!(!src.truncated_tail());
    }

    #[test]
    fn hold_back_passes_bytes_through_unchanged() {
        let data: Vec<u8> = (0..=255).collect();
        let mut r = HoldBackFirstByte::new(std::io::Cursor::new(data.clone()));
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let mut empty = HoldBackFirstByte::new(std::io::Cursor::new(vec![7u8]));
        let mut out = Vec::new();
        empty.read_to_end(&mut out).unwrap();
        assert_eq!(out, [7]);
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
