//! Where the TCP exporter keeps IPFIX messages while the collector is away, bounded in bytes.
//!
//! On disk (`--spool-dir`) the spool is a series of segment files `spool-<16 digits>.ipfix`,
//! each a plain RFC 5655 stream of complete messages: a crash keeps everything written, a
//! restart replays it, and an operator can read a segment with any IPFIX file reader. Without a
//! directory the same structure lives in memory (lost on exit).
//!
//! When the spool is full the *oldest* segment is dropped, and its messages and flow records
//! are counted and logged. Oldest rather than newest: an analyst investigating an ongoing
//! incident needs the latest flows, and dropping a whole closed segment is one unlink with no
//! rewriting, while what remains still replays in order.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::message::HEADER_LEN;
use super::ExportError;

/// Counters of what the spool lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolDrops {
    pub messages: u64,
    pub records: u64,
    pub bytes: u64,
    /// Bytes of a damaged segment that could not be framed as messages.
    pub corrupt_bytes: u64,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    bytes: u64,
    messages: u64,
    /// Data records in it (unknown, 0, for segments left by an earlier run).
    records: u64,
    /// In-memory spool: the messages themselves.
    mem: VecDeque<(Vec<u8>, u32)>,
}

/// The bounded spool.
#[derive(Debug)]
pub struct Spool {
    dir: Option<PathBuf>,
    max_bytes: u64,
    segment_max: u64,
    bytes: u64,
    segments: VecDeque<Segment>,
    /// Open file of the last segment (disk spool).
    tail: Option<File>,
    next_id: u64,
    /// Head segment being replayed (disk spool): its bytes and the read position.
    head: Option<(u64, Vec<u8>, usize)>,
    pub drops: SpoolDrops,
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("spool-{id:016}.ipfix"))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Spool {
        path: path.to_path_buf(),
        source,
    }
}

impl Spool {
    /// A spool of at most `max_bytes`; on disk under `dir` if given. Segments left there by an
    /// earlier run are picked up for replay.
    pub fn open(dir: Option<&Path>, max_bytes: u64) -> Result<Self, ExportError> {
        let mut s = Self {
            dir: dir.map(Path::to_path_buf),
            max_bytes,
            segment_max: (max_bytes / 8).clamp(64 * 1024, 8 * 1024 * 1024),
            bytes: 0,
            segments: VecDeque::new(),
            tail: None,
            next_id: 0,
            head: None,
            drops: SpoolDrops::default(),
        };
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            let mut found = Vec::new();
            for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
                let entry = entry.map_err(io_err(dir))?;
                let name = entry.file_name();
                let Some(id) = name
                    .to_str()
                    .and_then(|n| n.strip_prefix("spool-"))
                    .and_then(|n| n.strip_suffix(".ipfix"))
                    .and_then(|n| n.parse::<u64>().ok())
                else {
                    continue;
                };
                let len = entry.metadata().map_err(io_err(dir))?.len();
                found.push((id, len));
            }
            found.sort_unstable();
            for (id, len) in found {
                s.next_id = s.next_id.max(id + 1);
                s.bytes += len;
                s.segments.push_back(Segment {
                    id,
                    bytes: len,
                    messages: 0,
                    records: 0,
                    mem: VecDeque::new(),
                });
            }
            if !s.segments.is_empty() {
                tracing::info!(segments = s.segments.len(), bytes = s.bytes, dir = %dir.display(),
                    "spool from an earlier run will be replayed");
            }
        }
        Ok(s)
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends one message with `records` data records, dropping the oldest segments if needed.
    pub fn push(&mut self, msg: &[u8], records: u32) -> Result<(), ExportError> {
        let len = msg.len() as u64;
        if len > self.max_bytes {
            self.count_drop(1, u64::from(records), len);
            return Ok(());
        }
        while self.bytes + len > self.max_bytes && !self.segments.is_empty() {
            self.drop_oldest()?;
        }
        let need_new = match self.segments.back() {
            None => true,
            Some(seg) => {
                seg.bytes + len > self.segment_max || (self.dir.is_some() && self.tail.is_none())
            }
        };
        if need_new {
            self.roll()?;
        }
        let dir = self.dir.clone();
        let Some(seg) = self.segments.back_mut() else {
            return Ok(());
        };
        match (&dir, self.tail.as_mut()) {
            (Some(dir), Some(f)) => {
                let p = seg_path(dir, seg.id);
                f.write_all(msg).map_err(io_err(&p))?;
            }
            _ => seg.mem.push_back((msg.to_vec(), records)),
        }
        seg.bytes += len;
        seg.messages += 1;
        seg.records += u64::from(records);
        self.bytes += len;
        Ok(())
    }

    fn roll(&mut self) -> Result<(), ExportError> {
        let id = self.next_id;
        self.next_id += 1;
        if let Some(dir) = &self.dir {
            let p = seg_path(dir, id);
            let f = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&p)
                .map_err(io_err(&p))?;
            self.tail = Some(f);
        }
        self.segments.push_back(Segment {
            id,
            bytes: 0,
            messages: 0,
            records: 0,
            mem: VecDeque::new(),
        });
        Ok(())
    }

    fn count_drop(&mut self, messages: u64, records: u64, bytes: u64) {
        self.drops.messages += messages;
        self.drops.records += records;
        self.drops.bytes += bytes;
        tracing::warn!(
            messages,
            records,
            bytes,
            total_dropped_records = self.drops.records,
            "spool full: oldest IPFIX messages dropped"
        );
    }

    fn drop_oldest(&mut self) -> Result<(), ExportError> {
        let Some(seg) = self.segments.pop_front() else {
            return Ok(());
        };
        if self.segments.is_empty() {
            self.tail = None;
        }
        let consumed = match &self.head {
            Some((id, _, pos)) if *id == seg.id => *pos as u64,
            _ => 0,
        };
        if matches!(&self.head, Some((id, _, _)) if *id == seg.id) {
            self.head = None;
        }
        self.bytes = self.bytes.saturating_sub(seg.bytes);
        if let Some(dir) = &self.dir {
            let p = seg_path(dir, seg.id);
            std::fs::remove_file(&p).map_err(io_err(&p))?;
        }
        let (m, r) = if consumed == 0 {
            (seg.messages, seg.records)
        } else {
            // Partly replayed: count what was not sent (records approximated by share).
            let left = seg.bytes.saturating_sub(consumed);
            (1, seg.records * left / seg.bytes.max(1))
        };
        self.count_drop(m, r, seg.bytes.saturating_sub(consumed));
        Ok(())
    }

    /// The oldest message not yet consumed, or `None` when empty. Call [`Spool::consume`] once
    /// it has been delivered.
    pub fn peek(&mut self) -> Result<Option<Vec<u8>>, ExportError> {
        loop {
            let Some(seg) = self.segments.front_mut() else {
                return Ok(None);
            };
            let Some(dir) = self.dir.clone() else {
                if let Some((m, _)) = seg.mem.front() {
                    return Ok(Some(m.clone()));
                }
                self.finish_front()?;
                continue;
            };
            if !matches!(&self.head, Some((id, _, _)) if *id == seg.id) {
                if self.segments.len() == 1 {
                    // Replaying the segment being appended to: seal it first.
                    self.tail = None;
                }
                let Some(seg) = self.segments.front() else {
                    return Ok(None);
                };
                let p = seg_path(&dir, seg.id);
                let data = std::fs::read(&p).map_err(io_err(&p))?;
                self.head = Some((seg.id, data, 0));
            }
            let Some((_, data, pos)) = &self.head else {
                return Ok(None);
            };
            let rest = data.get(*pos..).unwrap_or_default();
            if rest.is_empty() {
                self.finish_front()?;
                continue;
            }
            if let Some(n) = frame(rest) {
                return Ok(rest.get(..n).map(<[u8]>::to_vec));
            }
            let bad = rest.len() as u64;
            self.drops.corrupt_bytes += bad;
            tracing::warn!(bytes = bad, dir = %dir.display(),
                "spool segment ends in a damaged or partial message; skipped");
            self.finish_front()?;
        }
    }

    /// Marks the message returned by the last [`Spool::peek`] as delivered.
    pub fn consume(&mut self) -> Result<(), ExportError> {
        if self.dir.is_none() {
            if let Some(seg) = self.segments.front_mut() {
                if let Some((m, r)) = seg.mem.pop_front() {
                    let len = m.len() as u64;
                    seg.bytes = seg.bytes.saturating_sub(len);
                    seg.messages = seg.messages.saturating_sub(1);
                    seg.records = seg.records.saturating_sub(u64::from(r));
                    self.bytes = self.bytes.saturating_sub(len);
                }
                if seg.mem.is_empty() {
                    self.finish_front()?;
                }
            }
            return Ok(());
        }
        if let Some((_, data, pos)) = &mut self.head {
            if let Some(n) = data.get(*pos..).and_then(frame) {
                *pos += n;
            }
        }
        Ok(())
    }

    /// Removes the front segment once fully delivered.
    fn finish_front(&mut self) -> Result<(), ExportError> {
        if let Some(seg) = self.segments.pop_front() {
            self.bytes = self.bytes.saturating_sub(seg.bytes);
            if self.segments.is_empty() {
                self.tail = None;
            }
            if let Some(dir) = &self.dir {
                let p = seg_path(dir, seg.id);
                std::fs::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        self.head = None;
        Ok(())
    }
}

/// Length of the complete IPFIX message at the start of `buf`, if its header is sane.
fn frame(buf: &[u8]) -> Option<usize> {
    let h = buf.get(..4)?;
    let version = u16::from_be_bytes([h[0], h[1]]);
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    (version == 10 && len >= HEADER_LEN && len <= buf.len()).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, len: usize) -> Vec<u8> {
        let mut m = vec![tag; len];
        m[0..2].copy_from_slice(&10u16.to_be_bytes());
        m[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        m
    }

    fn drain(s: &mut Spool) -> Vec<u8> {
        let mut tags = Vec::new();
        while let Some(m) = s.peek().unwrap() {
            tags.push(m[4]);
            s.consume().unwrap();
        }
        tags
    }

    #[test]
    fn memory_and_disk_replay_in_order_and_drop_oldest() {
        let dir = tempfile::tempdir().unwrap();
        for d in [None, Some(dir.path())] {
            // 64 KiB segments; 200 KiB cap.
            let mut s = Spool::open(d, 200 * 1024).unwrap();
            for i in 0..10u8 {
                s.push(&msg(i, 30_000), 3).unwrap();
            }
            // 300 KB pushed into 200 KiB: whole oldest segments (2 messages each) went.
            assert!(s.bytes() <= 200 * 1024);
            assert_eq!(s.drops.messages, 4);
            assert_eq!(s.drops.records, 12);
            assert_eq!(drain(&mut s), vec![4, 5, 6, 7, 8, 9]);
            assert!(s.is_empty());
            assert_eq!(s.bytes(), 0);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn disk_spool_survives_restart_and_skips_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = Spool::open(Some(dir.path()), 1 << 20).unwrap();
            s.push(&msg(1, 100), 1).unwrap();
            s.push(&msg(2, 100), 1).unwrap();
        }
        // a crash mid-write leaves half a message
        let seg = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&msg(3, 100)[..40]).unwrap();
        let mut s = Spool::open(Some(dir.path()), 1 << 20).unwrap();
        s.push(&msg(4, 100), 1).unwrap();
        assert_eq!(drain(&mut s), vec![1, 2, 4]);
        assert_eq!(s.drops.corrupt_bytes, 40);
    }

    #[test]
    fn partial_replay_then_more_pushes_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(Some(dir.path()), 1 << 20).unwrap();
        s.push(&msg(1, 100), 1).unwrap();
        s.push(&msg(2, 100), 1).unwrap();
        let m = s.peek().unwrap().unwrap();
        assert_eq!(m[4], 1);
        s.consume().unwrap();
        // connection lost again: new messages queue behind the rest
        s.push(&msg(3, 100), 1).unwrap();
        assert_eq!(drain(&mut s), vec![2, 3]);
    }
}
