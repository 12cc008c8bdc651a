//! IP fragment reassembly: etherparse's `IpDefragPool` does the work; this
//! wrapper adds what the pool lacks for untrusted traffic: a memory cap, a
//! cap on concurrent datagrams, timeout eviction and counters.
//!
//! The pool overwrites its per-datagram "timestamp" on every fragment and
//! only lets us `retain()` by it, so we hand it a datagram id instead and
//! keep first-seen time and bytes per id on our side.

use std::collections::HashMap;
use std::net::IpAddr;

use etherparse::defrag::IpDefragPool;
use etherparse::{NetSlice, SlicedPacket};

/// Limits for reassembly.
#[derive(Debug, Clone, Copy)]
pub struct DefragConfig {
    /// Give up on a datagram this long (packet time) after its first fragment.
    pub timeout_ns: u64,
    /// Fragment payload bytes held across all datagrams.
    pub max_bytes: usize,
    /// Datagrams being reassembled at once.
    pub max_datagrams: usize,
}

impl Default for DefragConfig {
    fn default() -> Self {
        // YAF keeps fragments 30 s; 8 MiB of payload covers ~128 full-size
        // 64 KiB datagrams or thousands of typical fragmented DNS answers.
        DefragConfig {
            timeout_ns: 30_000_000_000,
            max_bytes: 8 * 1024 * 1024,
            max_datagrams: 4096,
        }
    }
}

/// Reassembly counters (YAF's expiredFragmentCount/assembledFragmentCount).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Datagrams completed.
    pub assembled: u64,
    /// Datagrams dropped unfinished because they timed out.
    pub expired: u64,
    /// Datagrams dropped unfinished to stay under the memory or count cap.
    pub evicted: u64,
    /// Fragments etherparse rejected (overlapping ends, bad lengths).
    pub rejected: u64,
    /// Fragments seen.
    pub fragments: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    ident: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    id: u64,
    first_ns: u64,
    bytes: usize,
}

/// A completed datagram.
#[derive(Debug)]
pub struct Reassembled {
    /// Transport protocol number.
    pub proto: u8,
    /// The fragments' IP payloads put back together (transport header first).
    pub payload: Vec<u8>,
}

/// Bounded reassembler.
pub struct Defragmenter {
    cfg: DefragConfig,
    pool: IpDefragPool<u64, ()>,
    entries: HashMap<Key, Entry>,
    bytes: usize,
    next_id: u64,
    last_sweep_ns: u64,
    stats: DefragStats,
}

impl std::fmt::Debug for Defragmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Defragmenter")
            .field("datagrams", &self.entries.len())
            .field("bytes", &self.bytes)
            .field("stats", &self.stats)
            .finish()
    }
}

/// Our key for a fragment; coarser than the pool's (no VLAN, no protocol),
/// which is safe: evicting one of our ids evicts every pool entry using it.
fn key_of(p: &SlicedPacket<'_>) -> Option<(Key, usize)> {
    match &p.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header();
            Some((
                Key {
                    src: IpAddr::from(h.source()),
                    dst: IpAddr::from(h.destination()),
                    ident: u32::from(h.identification()),
                },
                v4.payload().payload.len(),
            ))
        }
        Some(NetSlice::Ipv6(v6)) => {
            let h = v6.header();
            let ident = super::v6_fragment(h.next_header().0, v6.extensions().slice())?.ident;
            Some((
                Key {
                    src: IpAddr::from(h.source()),
                    dst: IpAddr::from(h.destination()),
                    ident,
                },
                v6.payload().payload.len(),
            ))
        }
        _ => None,
    }
}

impl Defragmenter {
    pub fn new(cfg: DefragConfig) -> Self {
        Defragmenter {
            cfg,
            pool: IpDefragPool::new(),
            entries: HashMap::new(),
            bytes: 0,
            next_id: 0,
            last_sweep_ns: 0,
            stats: DefragStats::default(),
        }
    }

    pub fn stats(&self) -> DefragStats {
        self.stats
    }

    /// Datagrams currently held.
    pub fn pending(&self) -> usize {
        self.entries.len()
    }

    /// Fragment payload bytes currently held.
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// Feed one fragment (a strictly sliced packet whose IP payload is
    /// fragmented). Returns the datagram when this fragment completes it.
    pub fn add(&mut self, now_ns: u64, p: &SlicedPacket<'_>) -> Option<Reassembled> {
        self.stats.fragments += 1;
        self.sweep(now_ns);
        let (key, len) = key_of(p)?;
        if len > self.cfg.max_bytes {
            self.stats.evicted += 1;
            return None;
        }
        let id = match self.entries.get_mut(&key) {
            Some(e) => {
                e.bytes += len;
                self.bytes += len;
                e.id
            }
            None => {
                if self.entries.len() >= self.cfg.max_datagrams {
                    self.evict_oldest();
                }
                self.next_id += 1;
                self.entries.insert(
                    key,
                    Entry {
                        id: self.next_id,
                        first_ns: now_ns,
                        bytes: len,
                    },
                );
                self.bytes += len;
                self.next_id
            }
        };
        while self.bytes > self.cfg.max_bytes && !self.entries.is_empty() {
            self.evict_oldest();
        }
        if !self.entries.contains_key(&key) {
            // This datagram itself was the oldest and got evicted.
            return None;
        }
        match self.pool.process_sliced_packet(p, id, ()) {
            Ok(Some(done)) => {
                if let Some(e) = self.entries.remove(&key) {
                    self.bytes = self.bytes.saturating_sub(e.bytes);
                }
                self.stats.assembled += 1;
                Some(Reassembled {
                    proto: done.ip_number.0,
                    payload: done.payload,
                })
            }
            Ok(None) => None,
            Err(_) => {
                self.stats.rejected += 1;
                None
            }
        }
    }

    /// Hand back a buffer from [`Reassembled`] for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        // Keep only modest buffers; a 64 KiB one per slot would defeat the cap.
        if buf.capacity() <= 16 * 1024 {
            self.pool
                .return_buf(etherparse::defrag::IpDefragPayloadVec {
                    ip_number: etherparse::IpNumber(0),
                    len_source: etherparse::LenSource::Slice,
                    payload: buf,
                });
        }
    }

    fn drop_ids(&mut self) {
        let live: std::collections::HashSet<u64> = self.entries.values().map(|e| e.id).collect();
        self.pool.retain(|id| live.contains(id));
        if self.entries.is_empty() {
            // Nothing in flight: release the pool's spare buffers too.
            self.pool = IpDefragPool::new();
        }
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| (e.first_ns, e.id))
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            if let Some(e) = self.entries.remove(&k) {
                self.bytes = self.bytes.saturating_sub(e.bytes);
            }
            self.stats.evicted += 1;
            self.drop_ids();
        }
    }

    /// Drop datagrams older than the timeout. Cheap when called per packet:
    /// it scans at most once per second of packet time.
    pub fn sweep(&mut self, now_ns: u64) {
        if self.entries.is_empty() || now_ns < self.last_sweep_ns.saturating_add(1_000_000_000) {
            return;
        }
        self.last_sweep_ns = now_ns;
        self.expire_before(now_ns.saturating_sub(self.cfg.timeout_ns));
    }

    fn expire_before(&mut self, limit_ns: u64) {
        let before = self.entries.len();
        let mut freed = 0usize;
        self.entries.retain(|_, e| {
            let keep = e.first_ns >= limit_ns;
            if !keep {
                freed += e.bytes;
            }
            keep
        });
        let gone = before - self.entries.len();
        if gone > 0 {
            self.bytes = self.bytes.saturating_sub(freed);
            self.stats.expired += gone as u64;
            self.drop_ids();
        }
    }

    /// Drop everything still pending (end of input); counted as expired.
    pub fn flush(&mut self) {
        self.expire_before(u64::MAX);
    }
}
