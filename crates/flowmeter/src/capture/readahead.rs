//! A capture file read on a thread of its own: [`ReadAhead`] wraps another
//! [`PacketSource`], runs it on a reader thread that copies each batch of
//! frames into one buffer, and hands the batches over a bounded channel.
//!
//! Reading and unframing the file (pcap-parser, the `read` system calls,
//! the buffer refills) is about a sixth of the packet thread's time on the
//! 1M-packet bench capture; here it overlaps the flow table. The copy it
//! costs is one `memcpy` per frame into a recycled buffer. Packets, their
//! order, the errors and where they happened are exactly the inner
//! source's: a batch is sent before the error or end that followed it.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use super::{CaptureError, CaptureStats, Packet, PacketSource, Poll};

/// Frames per batch handed over.
const BATCH_PACKETS: usize = 1024;
/// Octets after which a batch is handed over with fewer frames: a capture
/// with a large snap length (or hostile record lengths, each up to the file
/// reader's 64 MiB bound) cannot make one batch hold 1024 huge frames.
const BATCH_BYTES: usize = 1 << 20;
/// Frames asked of the inner source per poll: the byte bound is checked
/// between polls, so a batch exceeds it by at most this many frames.
const POLL_FRAMES: usize = 16;
/// Batches read ahead: with the batch bounds this bounds the memory held
/// between the threads (a few MB with common frames).
const QUEUE: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Frame {
    ts_ns: u64,
    linktype: u32,
    wire_len: u32,
    start: usize,
    len: usize,
}

/// Frames copied out of the inner source, back to back.
#[derive(Debug, Default)]
struct Batch {
    data: Vec<u8>,
    frames: Vec<Frame>,
    /// The inner source's counters after this batch was read.
    stats: CaptureStats,
}

enum Chunk {
    Packets(Batch),
    Idle(CaptureStats),
    Eof(CaptureStats),
    Failed(CaptureError),
}

/// A [`PacketSource`] whose inner source runs on a reader thread, started
/// at the first poll (so a long list of files has one reader at a time).
pub struct ReadAhead {
    name: String,
    /// The inner source until the thread takes it.
    pending: Option<Box<dyn PacketSource + Send>>,
    rx: Option<Receiver<Chunk>>,
    /// Delivered batches going back to the reader, so steady state allocates none.
    back: Option<Sender<Batch>>,
    cur: Batch,
    /// Next frame of `cur` to deliver.
    pos: usize,
    stats: CaptureStats,
    done: bool,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ReadAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAhead")
            .field("name", &self.name)
            .finish()
    }
}

impl ReadAhead {
    pub fn new(inner: impl PacketSource + Send + 'static) -> Self {
        ReadAhead {
            name: inner.name().to_owned(),
            pending: Some(Box::new(inner)),
            rx: None,
            back: None,
            cur: Batch::default(),
            pos: 0,
            stats: CaptureStats::default(),
            done: false,
            worker: None,
        }
    }

    fn start(&mut self, inner: Box<dyn PacketSource + Send>) -> Result<(), CaptureError> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let (back_tx, back_rx) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("flowmeter-read".into())
            .spawn(move || read(inner, &tx, &back_rx))
            .map_err(|e| CaptureError::Read {
                name: format!("{} (cannot start the reader thread: {e})", self.name),
                offset: 0,
            })?;
        self.rx = Some(rx);
        self.back = Some(back_tx);
        self.worker = Some(worker);
        Ok(())
    }
}

/// The reader thread: polls `src` and sends what it delivers, until the
/// source ends or fails or the consumer is gone.
fn read(mut src: Box<dyn PacketSource + Send>, tx: &SyncSender<Chunk>, back: &Receiver<Batch>) {
    let _cpu = crate::procfs::ThreadCpuGuard("read");
    loop {
        let mut b = back.try_recv().unwrap_or_default();
        b.data.clear();
        b.frames.clear();
        let r = loop {
            let want = POLL_FRAMES.min(BATCH_PACKETS - b.frames.len());
            let r = src.poll(want, &mut |p: &Packet<'_>| {
                b.frames.push(Frame {
                    ts_ns: p.ts_ns,
                    linktype: p.linktype,
                    wire_len: p.wire_len,
                    start: b.data.len(),
                    len: p.data.len(),
                });
                b.data.extend_from_slice(p.data);
            });
            let full = b.frames.len() >= BATCH_PACKETS || b.data.len() >= BATCH_BYTES;
            if full || !matches!(r, Ok(Poll::Packets(_))) {
                break r;
            }
        };
        b.stats = src.stats();
        let stats = b.stats;
        if !b.frames.is_empty() && tx.send(Chunk::Packets(b)).is_err() {
            return;
        }
        let last = match r {
            Ok(Poll::Packets(_)) => continue,
            Ok(Poll::Idle) => Chunk::Idle(stats),
            Ok(Poll::Eof) => Chunk::Eof(stats),
            Err(e) => Chunk::Failed(e),
        };
        let end = !matches!(last, Chunk::Idle(_));
        if tx.send(last).is_err() || end {
            return;
        }
    }
}

impl PacketSource for ReadAhead {
    fn poll(&mut self, max: usize, f: &mut dyn FnMut(&Packet<'_>)) -> Result<Poll, CaptureError> {
        if self.pos >= self.cur.frames.len() {
            if self.done {
                return Ok(Poll::Eof);
            }
            if let Some(inner) = self.pending.take() {
                if let Err(e) = self.start(inner) {
                    self.done = true;
                    return Err(e);
                }
            }
            let next = match self.rx.as_ref().map(Receiver::recv) {
                Some(Ok(c)) => c,
                // The thread ends only after sending its last chunk: it panicked.
                _ => {
                    self.done = true;
                    return Err(CaptureError::Read {
                        name: format!("{} (reader thread stopped)", self.name),
                        offset: 0,
                    });
                }
            };
            match next {
                Chunk::Packets(b) => {
                    let old = std::mem::replace(&mut self.cur, b);
                    if let Some(back) = &self.back {
                        let _ = back.send(old);
                    }
                    self.pos = 0;
                }
                Chunk::Idle(s) => {
                    self.stats = s;
                    return Ok(Poll::Idle);
                }
                Chunk::Eof(s) => {
                    self.stats = s;
                    self.done = true;
                    return Ok(Poll::Eof);
                }
                Chunk::Failed(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        }
        let end = self.cur.frames.len().min(self.pos.saturating_add(max));
        let mut n = 0;
        for fr in self.cur.frames.get(self.pos..end).unwrap_or_default() {
            // In bounds: the reader wrote each frame's bytes at its range.
            if let Some(data) = self.cur.data.get(fr.start..fr.start + fr.len) {
                f(&Packet {
                    ts_ns: fr.ts_ns,
                    linktype: fr.linktype,
                    wire_len: fr.wire_len,
                    data,
                });
                n += 1;
            }
        }
        self.pos = end;
        self.stats = CaptureStats {
            received: self.stats.received + n as u64,
            ..self.cur.stats
        };
        Ok(Poll::Packets(n))
    }

    /// The inner source's counters, `received` as delivered from here.
    fn stats(&self) -> CaptureStats {
        self.stats
    }

    fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ReadAhead {
    /// Lets the reader stop at its next send (the channel is gone); a
    /// reader blocked in a read of a quiet pipe is not waited for.
    fn drop(&mut self) {
        if let Some(h) = self.worker.take() {
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::capture::file::FileSource;
    use crate::capture::generator::{write_pcap, GenConfig};

    type Seen = Vec<(u64, u32, u32, Vec<u8>)>;

    fn drain(src: &mut dyn PacketSource, max: usize) -> (Seen, Result<(), CaptureError>) {
        let mut v = Vec::new();
        loop {
            let r = src.poll(max, &mut |p| {
                v.push((p.ts_ns, p.linktype, p.wire_len, p.data.to_vec()))
            });
            match r {
                Ok(Poll::Packets(n)) => assert!(n <= max),
                Ok(Poll::Idle) => {}
                Ok(Poll::Eof) => return (v, Ok(())),
                Err(e) => return (v, Err(e)),
            }
        }
    }

    fn capture(packets: usize) -> Vec<u8> {
        let mut buf = Vec::new();
        let cfg = GenConfig {
            packets,
            ..GenConfig::default()
        };
        write_pcap(&cfg, &mut buf).unwrap();
        buf
    }

    fn file_source(bytes: Vec<u8>) -> FileSource {
        FileSource::from_reader("gen".into(), Box::new(std::io::Cursor::new(bytes))).unwrap()
    }

    #[test]
    fn delivers_exactly_what_the_inner_source_does() {
        let bytes = capture(5000);
        let (want, r) = drain(&mut file_source(bytes.clone()), 1024);
        r.unwrap();
        assert_eq!(want.len(), 5000);
        // Odd `max` values so deliveries straddle the reader's batches.
        for max in [1, 7, 1000, 4096] {
            let mut ra = ReadAhead::new(file_source(bytes.clone()));
            let (got, r) = drain(&mut ra, max);
            r.unwrap();
            assert_eq!(got, want, "max {max}");
            assert_eq!(ra.stats().received, 5000);
            assert_eq!(ra.name(), "gen");
            // Stays at the end.
            assert_eq!(
                ra.poll(10, &mut |_| panic!("after eof")).unwrap(),
                Poll::Eof
            );
        }
    }

    /// Delivers `n` frames of `size` octets (each octet the frame number
    /// mod 256), at most `per_poll` per poll, then ends; with `fail`, it
    /// fails instead at "byte offset" 1000 + n.
    struct Frames {
        n: usize,
        size: usize,
        per_poll: usize,
        fail: bool,
        sent: usize,
    }

    impl Frames {
        fn new(n: usize, size: usize, per_poll: usize, fail: bool) -> Self {
            Frames {
                n,
                size,
                per_poll,
                fail,
                sent: 0,
            }
        }
    }

    impl PacketSource for Frames {
        fn poll(
            &mut self,
            max: usize,
            f: &mut dyn FnMut(&Packet<'_>),
        ) -> Result<Poll, CaptureError> {
            if self.sent == self.n {
                if !self.fail {
                    return Ok(Poll::Eof);
                }
                return Err(CaptureError::Corrupt {
                    name: "mock".into(),
                    offset: 1000 + self.n as u64,
                    detail: "bad record".into(),
                });
            }
            let k = max.min(self.per_poll).min(self.n - self.sent);
            for _ in 0..k {
                let b = vec![self.sent as u8; self.size];
                f(&Packet {
                    ts_ns: self.sent as u64,
                    linktype: 1,
                    wire_len: self.size as u32,
                    data: &b,
                });
                self.sent += 1;
            }
            Ok(Poll::Packets(k))
        }
        fn stats(&self) -> CaptureStats {
            CaptureStats {
                received: self.sent as u64,
                ..CaptureStats::default()
            }
        }
        fn name(&self) -> &str {
            "mock"
        }
    }

    #[test]
    fn an_error_comes_after_the_packets_before_it_with_its_offset() {
        let mut ra = ReadAhead::new(Frames::new(2500, 1, 300, true));
        let (got, r) = drain(&mut ra, 100);
        assert_eq!(got.len(), 2500);
        for (i, (ts, _, _, d)) in got.iter().enumerate() {
            assert_eq!((*ts, d.as_slice()), (i as u64, &[i as u8][..]));
        }
        let e = r.unwrap_err();
        assert_eq!(
            e.to_string(),
            "mock: corrupt capture at byte offset 3500: bad record"
        );
        assert_eq!(ra.stats().received, 2500);
    }

    #[test]
    fn batches_of_large_frames_stay_near_the_byte_bound() {
        let size = 200 * 1024;
        let (tx, rx) = mpsc::sync_channel(1000);
        let (_back_tx, back_rx) = mpsc::channel();
        read(
            Box::new(Frames::new(300, size, usize::MAX, false)),
            &tx,
            &back_rx,
        );
        drop(tx);
        let mut frames = 0;
        for c in rx {
            if let Chunk::Packets(b) = c {
                assert!(
                    b.data.len() <= BATCH_BYTES + POLL_FRAMES * size,
                    "{} octets in one batch",
                    b.data.len()
                );
                frames += b.frames.len();
            }
        }
        assert_eq!(frames, 300);
    }

    #[test]
    fn dropping_it_early_stops_the_reader() {
        let mut ra = ReadAhead::new(file_source(capture(20_000)));
        let mut n = 0;
        ra.poll(10, &mut |_| n += 1).unwrap();
        assert_eq!(n, 10);
        drop(ra);
    }
}
