//! The flow table: a hash map from a direction-neutral key to a slot in a
//! chunked slab, plus an intrusive queue over the slots ordered by the time
//! each flow was last queued. Idle expiry pops from the queue head, so it
//! costs O(flows expired); the head is also the victim when the table is full.
//!
//! A packet re-queues its flow only when the flow was queued more than
//! [`FlowTable::grace_ns`] ago: most flows (a DNS query and its answer) are
//! never moved, which saves two cache misses per packet on a big table.
//! Since a flow's last packet is then at most one grace period after its
//! queue time, the head can be expired once its queue time plus the grace
//! period is older than the idle timeout: idle flows are exported at most
//! one grace period late (YAF flushes every 5 s), and a packet arriving
//! after the idle timeout always starts a new flow, exactly.

use std::hash::{BuildHasher, Hasher};

use hashbrown::{DefaultHashBuilder, HashTable};
use std::net::IpAddr;
use std::sync::Arc;

use crate::decode::{proto, tcp_flags, PacketMeta};
use crate::dpi::{dns_candidate, netbios_ns, Decoding, DnsFlowState, DnsStats, DpiConfig};

use super::record::{attributes, end_reason, EndedFlow, EndedFlows, FlowRecord, TcpInfo};

/// Flow table settings.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    /// End a flow after this long without packets (packet time). YAF: 300 s.
    pub idle_timeout_ns: u64,
    /// End (and restart) a flow after it has lasted this long. YAF: 1800 s.
    pub active_timeout_ns: u64,
    /// Most flows held at once; the least recently seen is ended with
    /// flowEndReason 5 to make room.
    pub max_flows: usize,
    /// Keep flows on different VLANs apart (YAF does).
    pub vlan_in_key: bool,
    /// Mark records that continue a flow cut by the active timeout with
    /// flowEndReason | 0x80, as YAF does in `--silk` mode only.
    pub mark_continuation: bool,
    /// DNS inspection; `None` turns it off.
    pub dpi: Option<DpiConfig>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            idle_timeout_ns: 300_000_000_000,
            active_timeout_ns: 1_800_000_000_000,
            max_flows: 1_000_000,
            vlan_in_key: true,
            mark_continuation: false,
            dpi: Some(DpiConfig::default()),
        }
    }
}

/// Table counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    pub flows_created: u64,
    pub flows_ended: u64,
    pub peak: u64,
    /// Expiry passes that ended at least one flow.
    pub flush_events: u64,
    pub resource_evictions: u64,
    pub idle_expired: u64,
    pub active_expired: u64,
    pub tcp_closed: u64,
}

/// Direction-neutral key: endpoint `a` sorts before endpoint `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    a: IpAddr,
    b: IpAddr,
    pa: u16,
    pb: u16,
    proto: u8,
    vlan: u16,
}

const FFIN: u8 = 0x01;
const RFIN: u8 = 0x02;
const FFINACK: u8 = 0x04;
const RFINACK: u8 = 0x08;
const ALL_FIN: u8 = FFIN | RFIN | FFINACK | RFINACK;
const RST: u8 = 0x10;

#[derive(Debug, Default, Clone, Copy)]
struct Dir {
    octets: u64,
    packets: u64,
    /// First packet's IP length (TCP: first payload length).
    first_len: u32,
    vlan: u16,
    /// flowAttributes: every bit YAF defines fits in a byte.
    attrs: u8,
    tos: u8,
}

/// What only TCP flows need, per direction: boxed so that the 97% of a DNS
/// sensor's flows that are UDP do not carry it (24 octets per flow).
#[derive(Debug, Default, Clone, Copy)]
struct TcpDir {
    /// TCP packets with payload.
    appkt: u32,
    last_seq: u32,
    isn: u32,
    init_flags: u8,
    union_flags: u8,
}

const SAME_SIZE: u8 = attributes::SAME_SIZE as u8;
const OUT_OF_SEQUENCE: u8 = attributes::OUT_OF_SEQUENCE as u8;
const MP_CAPABLE: u8 = attributes::MP_CAPABLE as u8;
const FRAGMENTED: u8 = attributes::FRAGMENTED as u8;

/// Payload packets checked for DNS before a flow is written off as not DNS.
const DPI_TRIES: u8 = 4;

const NIL: u32 = u32::MAX;

/// Flows per slab chunk.
const CHUNK: usize = 4096;

/// Longest a flow goes without being re-queued; also the most an idle flow's
/// export can be late. Capped at a quarter of the idle timeout.
const GRACE_NS: u64 = 1_000_000_000;

#[derive(Debug)]
struct Flow {
    key: Key,
    /// The initiator is endpoint `a` of the key.
    fwd_is_a: bool,
    continuation: bool,
    /// TCP close state bits (FFIN, RFIN, FFINACK, RFINACK, RST).
    tcp_state: u8,
    dpi_on: bool,
    dpi_tries: u8,
    start_ns: u64,
    last_ns: u64,
    /// When the flow was last (re)queued; the queue is sorted by it.
    q_ns: u64,
    /// First reverse packet (reverseFlowDelta).
    rev_first_ns: u64,
    fwd: Dir,
    rev: Dir,
    /// TCP state of both directions (forward first), from the first TCP packet.
    tcp: Option<Box<[TcpDir; 2]>>,
    dns: DnsFlowState,
    prev: u32,
    next: u32,
}

/// The bounded flow table. Feed packets with [`FlowTable::observe`]; ended
/// flows are appended to the `out` vector the caller passes in.
pub struct FlowTable {
    cfg: FlowConfig,
    /// Slot indices, hashed by their flow's key: the key lives only in the
    /// slot, so an entry costs 9 bytes of table instead of key + index. The
    /// entry keeps 32 bits of the hash so growing the table never touches
    /// the slots, and most mismatches are rejected without touching them.
    /// foldhash with a random per-process seed: packets choose the keys, so
    /// the seed keeps an outsider from aiming at one bucket; SipHash (std's
    /// RandomState) cost 2-3% of the packet path for the same service.
    map: HashTable<Entry>,
    hasher: DefaultHashBuilder,
    /// Fixed-size chunks: growth never copies flows and wastes at most one chunk.
    slots: Vec<Box<[Option<Flow>]>>,
    used: u32,
    free: Vec<u32>,
    /// Flows held (the map is emptied early while draining).
    held: usize,
    /// A flush of every flow is under way: the map is already gone.
    draining: bool,
    grace_ns: u64,
    head: u32,
    tail: u32,
    now_ns: u64,
    stats: TableStats,
    /// Counted as packets arrive (messages, framing, TCP).
    dns_stats: DnsStats,
    /// Counted as ended flows' messages are decoded, wherever that happens.
    decoding: Arc<Decoding>,
}

impl std::fmt::Debug for FlowTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTable")
            .field("flows", &self.held)
            .field("stats", &self.stats)
            .finish()
    }
}

impl FlowTable {
    pub fn new(cfg: FlowConfig) -> Self {
        let decoding = Arc::new(match &cfg.dpi {
            Some(d) => Decoding::new(d),
            None => Decoding::new(&DpiConfig::default()),
        });
        FlowTable {
            grace_ns: GRACE_NS.min(cfg.idle_timeout_ns / 4),
            cfg,
            map: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            slots: Vec::new(),
            used: 0,
            free: Vec::new(),
            held: 0,
            draining: false,
            head: NIL,
            tail: NIL,
            now_ns: 0,
            stats: TableStats::default(),
            dns_stats: DnsStats::default(),
            decoding,
        }
    }

    /// Flows held now.
    pub fn len(&self) -> usize {
        self.held
    }

    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// DNS counters: those of arrival and those of the decoding of the
    /// flows ended so far (records and parse errors are known only then;
    /// with export on its own thread, once that thread has decoded them).
    pub fn dns_stats(&self) -> DnsStats {
        let mut s = self.decoding.stats();
        s.merge(&self.dns_stats);
        s
    }

    /// DNS messages seen so far: counted on arrival, so cheap to read after every packet.
    pub fn dns_messages(&self) -> u64 {
        self.dns_stats.messages
    }

    /// Latest packet time seen.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Bytes of one table entry (slot + map entry, excluding DNS state and
    /// hash-table slack): for reporting memory per flow.
    pub fn entry_size() -> usize {
        std::mem::size_of::<Option<Flow>>() + std::mem::size_of::<Entry>() + 1
    }

    /// 32 bits of the key's hash, fed as five words (IPv4 as mapped IPv6,
    /// so both families hash alike).
    fn hash(&self, k: &Key) -> u32 {
        let addr = |a: &IpAddr| match a {
            IpAddr::V4(v) => u128::from(v.to_ipv6_mapped()),
            IpAddr::V6(v) => u128::from(*v),
        };
        let (a, b) = (addr(&k.a), addr(&k.b));
        let mut h = self.hasher.build_hasher();
        h.write_u64(a as u64);
        h.write_u64((a >> 64) as u64);
        h.write_u64(b as u64);
        h.write_u64((b >> 64) as u64);
        h.write_u64(
            u64::from(k.pa) << 40
                | u64::from(k.pb) << 24
                | u64::from(k.vlan) << 8
                | u64::from(k.proto),
        );
        h.finish() as u32
    }

    /// How late idle flows may be exported (see the module notes).
    pub fn grace_ns(&self) -> u64 {
        self.grace_ns
    }

    fn cell(&mut self, i: u32) -> Option<&mut Option<Flow>> {
        let i = i as usize;
        self.slots.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    fn slot(&self, i: u32) -> Option<&Flow> {
        slot_in(&self.slots, i)
    }

    fn slot_mut(&mut self, i: u32) -> Option<&mut Flow> {
        self.cell(i)?.as_mut()
    }

    fn unlink(&mut self, i: u32) {
        let Some((prev, next)) = self.slot(i).map(|f| (f.prev, f.next)) else {
            return;
        };
        match self.slot_mut(prev) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.slot_mut(next) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
    }

    fn push_tail(&mut self, i: u32) {
        let tail = self.tail;
        if let Some(f) = self.slot_mut(i) {
            f.prev = tail;
            f.next = NIL;
        }
        match self.slot_mut(tail) {
            Some(t) => t.next = i,
            None => self.head = i,
        }
        self.tail = i;
    }

    /// Remove flow `i` and emit its record.
    fn finish(&mut self, i: u32, reason: u8, out: &mut impl EndedFlows) {
        self.unlink(i);
        let Some(f) = self.cell(i).and_then(Option::take) else {
            return;
        };
        self.held -= 1;
        // While draining, the map is already empty and no slot is reused.
        if !self.draining {
            self.free.push(i);
            let h = self.hash(&f.key);
            if let Ok(e) = self.map.find_entry(spread(h), |e| e.slot == i) {
                e.remove();
            }
        }
        self.stats.flows_ended += 1;
        out.push_ended(build_record(f, reason, &self.decoding));
    }

    /// End idle flows (packet time `now_ns`).
    pub fn expire(&mut self, now_ns: u64, out: &mut impl EndedFlows) {
        self.stop_draining();
        self.now_ns = self.now_ns.max(now_ns);
        let limit = self
            .now_ns
            .saturating_sub(self.cfg.idle_timeout_ns)
            .saturating_sub(self.grace_ns);
        let mut ended = 0u64;
        while let Some(f) = self.slot(self.head) {
            // q_ns + grace >= last_ns, so q_ns < limit means idle.
            if f.q_ns >= limit || self.now_ns < self.cfg.idle_timeout_ns + self.grace_ns {
                break;
            }
            let h = self.head;
            self.finish(h, end_reason::IDLE, out);
            ended += 1;
        }
        if ended > 0 {
            self.stats.idle_expired += ended;
            self.stats.flush_events += 1;
        }
    }

    /// End every flow (end of input, shutdown) with `reason`.
    pub fn flush_all(&mut self, reason: u8, out: &mut impl EndedFlows) {
        while self.flush_some(reason, usize::MAX, out) {}
    }

    /// End up to `max` flows with `reason`; true while flows remain. Lets
    /// the caller hand records to the sink in batches instead of holding a
    /// record for every flow at once.
    pub fn flush_some(&mut self, reason: u8, max: usize, out: &mut impl EndedFlows) -> bool {
        // Every flow is going: finding each one's map entry to remove it
        // (a cache miss per flow) is wasted work, so the map goes at once.
        if !self.draining {
            self.draining = true;
            self.map = HashTable::new();
        }
        let mut n = 0;
        while self.head != NIL && n < max {
            let h = self.head;
            // YAF's final flush ends idle flows as idle first: a flow whose
            // last packet is more than the idle timeout before the newest
            // one (not yet swept, within the grace period) ends with 1.
            let idle = self
                .slot(h)
                .is_some_and(|f| self.now_ns.saturating_sub(f.last_ns) > self.cfg.idle_timeout_ns);
            if idle {
                self.stats.idle_expired += 1;
            }
            self.finish(h, if idle { end_reason::IDLE } else { reason }, out);
            n += 1;
        }
        if n > 0 && self.head == NIL {
            self.stats.flush_events += 1;
        }
        if self.head == NIL {
            self.slots = Vec::new();
            self.used = 0;
            self.free = Vec::new();
            self.map = HashTable::new();
            self.draining = false;
            false
        } else {
            true
        }
    }

    /// Packets again after a partial [`FlowTable::flush_some`]: the map and
    /// the free list are rebuilt from the flows still held.
    fn stop_draining(&mut self) {
        if !self.draining {
            return;
        }
        self.draining = false;
        let mut map = HashTable::with_capacity(self.held);
        let mut free = Vec::new();
        for i in 0..self.used {
            match self.slot(i) {
                Some(f) => {
                    let h = self.hash(&f.key);
                    map.insert_unique(spread(h), Entry { slot: i, hash: h }, |e: &Entry| {
                        spread(e.hash)
                    });
                }
                None => free.push(i),
            }
        }
        free.reverse();
        self.map = map;
        self.free = free;
    }

    fn key_of(&self, p: &PacketMeta<'_>) -> (Key, bool) {
        let vlan = if self.cfg.vlan_in_key { p.vlan } else { 0 };
        // ICMP "ports" (0, type<<8|code) are not swapped for the reverse
        // direction, as in YAF: a message type seen both ways is one biflow,
        // echo request and echo reply are two flows.
        let icmp = p.proto == proto::ICMP || p.proto == proto::ICMPV6;
        let src_first = if icmp {
            p.src <= p.dst
        } else {
            (p.src, p.sport) <= (p.dst, p.dport)
        };
        let key = if src_first || icmp {
            let (a, b) = if src_first {
                (p.src, p.dst)
            } else {
                (p.dst, p.src)
            };
            Key {
                a,
                b,
                pa: p.sport,
                pb: p.dport,
                proto: p.proto,
                vlan,
            }
        } else if src_first {
            Key {
                a: p.src,
                b: p.dst,
                pa: p.sport,
                pb: p.dport,
                proto: p.proto,
                vlan,
            }
        } else {
            Key {
                a: p.dst,
                b: p.src,
                pa: p.dport,
                pb: p.sport,
                proto: p.proto,
                vlan,
            }
        };
        (key, src_first)
    }

    fn insert(&mut self, key: Key, fwd_is_a: bool, ts_ns: u64, continuation: bool) -> u32 {
        let flow = Flow {
            key,
            fwd_is_a,
            continuation,
            tcp_state: 0,
            dpi_on: false,
            dpi_tries: 0,
            start_ns: ts_ns,
            last_ns: ts_ns,
            q_ns: self.now_ns.max(ts_ns),
            rev_first_ns: 0,
            fwd: Dir::default(),
            rev: Dir::default(),
            tcp: None,
            dns: DnsFlowState::default(),
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = self.used;
                if (i as usize).is_multiple_of(CHUNK) {
                    self.slots.push((0..CHUNK).map(|_| None).collect());
                }
                self.used += 1;
                i
            }
        };
        if let Some(c) = self.cell(i) {
            *c = Some(flow);
        }
        let h = self.hash(&key);
        self.map
            .insert_unique(spread(h), Entry { slot: i, hash: h }, |e| spread(e.hash));
        self.push_tail(i);
        self.held += 1;
        self.stats.flows_created += 1;
        self.stats.peak = self.stats.peak.max(self.held as u64);
        i
    }

    /// Account one decoded packet seen at `ts_ns`.
    pub fn observe(&mut self, ts_ns: u64, p: &PacketMeta<'_>, out: &mut impl EndedFlows) {
        let now = self.now_ns;
        self.expire(ts_ns, out);
        let (key, pkt_is_a) = self.key_of(p);
        let mut continuation = false;
        let h = self.hash(&key);
        let slots = &self.slots;
        let mut idx = self
            .map
            .find(spread(h), |e| {
                e.hash == h && slot_in(slots, e.slot).is_some_and(|f| f.key == key)
            })
            .map(|e| e.slot);
        if let Some(i) = idx {
            let (started, last, dir_octets) = self.slot(i).map_or((ts_ns, ts_ns, 0), |f| {
                let d = if pkt_is_a == f.fwd_is_a {
                    &f.fwd
                } else {
                    &f.rev
                };
                (f.start_ns, f.last_ns, d.octets)
            });
            if ts_ns.saturating_sub(last) > self.cfg.idle_timeout_ns {
                // Idle, not yet swept (within the grace period): the packet
                // starts a new flow, exactly as if it had been swept.
                self.finish(i, end_reason::IDLE, out);
                self.stats.idle_expired += 1;
                idx = None;
            } else if ts_ns.saturating_sub(started) >= self.cfg.active_timeout_ns {
                // YAF semantics: end the long-lived flow, this packet starts
                // its continuation with the same direction.
                self.finish(i, end_reason::ACTIVE, out);
                self.stats.active_expired += 1;
                continuation = self.cfg.mark_continuation;
                idx = None;
            } else if self.cfg.mark_continuation
                && dir_octets + u64::from(p.ip_len) > u64::from(u32::MAX)
            {
                // YAF's --silk: SiLK keeps 32-bit octet counts, so a flow
                // ends (as active) before a direction's count would pass
                // 2^32 - 1, and this packet starts its continuation.
                self.finish(i, end_reason::ACTIVE, out);
                self.stats.active_expired += 1;
                continuation = true;
                idx = None;
            }
        }
        let q_now = self.now_ns;
        let i = match idx {
            Some(i) => {
                let requeue = self
                    .slot(i)
                    .is_some_and(|f| q_now.saturating_sub(f.q_ns) > self.grace_ns);
                if requeue {
                    self.unlink(i);
                    self.push_tail(i);
                    if let Some(f) = self.slot_mut(i) {
                        f.q_ns = q_now;
                    }
                }
                i
            }
            None => {
                while self.held >= self.cfg.max_flows.max(1) && self.head != NIL {
                    let h = self.head;
                    self.finish(h, end_reason::RESOURCE, out);
                    self.stats.resource_evictions += 1;
                }
                self.insert(key, pkt_is_a, ts_ns, continuation)
            }
        };
        let cfg_dpi = self.cfg.dpi.as_ref();
        let Some(f) = self
            .slots
            .get_mut(i as usize / CHUNK)
            .and_then(|c| c.get_mut(i as usize % CHUNK))
            .and_then(Option::as_mut)
        else {
            return;
        };
        let is_fwd = pkt_is_a == f.fwd_is_a;
        let late = ts_ns < now;
        f.last_ns = f.last_ns.max(ts_ns);
        if !is_fwd && f.rev.packets == 0 {
            f.rev_first_ns = ts_ns;
        }
        let d = if is_fwd { &mut f.fwd } else { &mut f.rev };
        if d.packets == 0 {
            d.tos = p.tos;
            d.vlan = p.vlan;
        }
        if late {
            // YAF drops packets older than the newest one seen unless
            // --force-read-all, and then marks the flow like this; we keep
            // every packet and mark it.
            d.attrs |= OUT_OF_SEQUENCE;
        }
        // Same-size attribute, YAF's rule: TCP compares application bytes
        // of packets that carry some (keep-alives excepted), other
        // protocols compare IP lengths; set on the second packet, cleared
        // for good by any different one.
        match p.tcp {
            Some(t) => {
                let td = &mut f.tcp.get_or_insert_with(Box::default)[usize::from(!is_fwd)];
                if p.app_len > 0 {
                    if td.appkt == 0 {
                        d.first_len = p.app_len;
                    } else if p.app_len == d.first_len {
                        if td.appkt == 1 {
                            d.attrs |= SAME_SIZE;
                        }
                    } else if td.last_seq != t.seq.wrapping_add(1) {
                        d.attrs &= !SAME_SIZE;
                    }
                    td.appkt = td.appkt.saturating_add(1);
                }
                // Initial flags/ISN come from the lowest sequence number
                // seen, so a reordered SYN still counts as initial (YAF).
                if d.packets > 0 && t.seq > td.isn {
                    td.union_flags |= t.flags;
                } else {
                    if d.packets > 0 {
                        td.union_flags |= td.init_flags;
                    }
                    td.init_flags = t.flags;
                    td.isn = t.seq;
                }
                td.last_seq = t.seq;
                if t.mp_capable {
                    d.attrs |= MP_CAPABLE;
                }
            }
            None => {
                if d.packets == 0 {
                    d.first_len = p.ip_len;
                } else if p.ip_len == d.first_len {
                    if d.packets == 1 {
                        d.attrs |= SAME_SIZE;
                    }
                } else {
                    d.attrs &= !SAME_SIZE;
                }
            }
        }
        d.packets += 1;
        d.octets += u64::from(p.ip_len);
        if p.fragmented {
            d.attrs |= FRAGMENTED;
        }
        if let Some(t) = p.tcp {
            // YAF's close rule: RST, or a FIN each way and each FIN
            // acknowledged by the other side.
            let (fin, peer_fin, ack_bit) = if is_fwd {
                (FFIN, RFIN, FFINACK)
            } else {
                (RFIN, FFIN, RFINACK)
            };
            if t.flags & tcp_flags::FIN != 0 {
                f.tcp_state |= fin;
            }
            if f.tcp_state & peer_fin != 0 && t.flags & tcp_flags::ACK != 0 {
                f.tcp_state |= ack_bit;
            }
            if t.flags & tcp_flags::RST != 0 {
                f.tcp_state |= RST;
            }
        }
        if let Some(cfg) = cfg_dpi {
            if p.proto == proto::UDP || p.proto == proto::TCP {
                if !f.dpi_on && !p.payload.is_empty() && f.dpi_tries < DPI_TRIES {
                    if dns_candidate(cfg, p.proto, p.sport, p.dport, p.payload) {
                        f.dpi_on = true;
                    } else if netbios_ns(cfg, p.proto, p.sport, p.dport, p.payload) {
                        // YAF has labelled the flow NetBIOS: no later
                        // DNS-shaped datagram makes it DNS.
                        f.dpi_tries = DPI_TRIES;
                    } else {
                        f.dpi_tries += 1;
                    }
                }
                if f.dpi_on {
                    match p.tcp {
                        Some(t) => f.dns.on_tcp(
                            cfg,
                            !is_fwd,
                            t.seq,
                            t.flags & tcp_flags::SYN != 0,
                            t.flags & (tcp_flags::FIN | tcp_flags::RST) != 0,
                            p.payload,
                            &mut self.dns_stats,
                        ),
                        None => f.dns.on_udp(cfg, !is_fwd, p.payload, &mut self.dns_stats),
                    }
                }
            }
        }
        if f.tcp_state & RST != 0 || f.tcp_state & ALL_FIN == ALL_FIN {
            self.finish(i, end_reason::END, out);
            self.stats.tcp_closed += 1;
        }
    }
}

/// A hash-table entry: slot index and the key's 32-bit hash.
#[derive(Debug, Clone, Copy)]
struct Entry {
    slot: u32,
    hash: u32,
}

/// The table's u64 hash from the stored 32 bits (hashbrown takes bucket
/// bits from the low end and its tag from the top 7 bits).
fn spread(h: u32) -> u64 {
    u64::from(h) << 32 | u64::from(h)
}

fn slot_in(slots: &[Box<[Option<Flow>]>], i: u32) -> Option<&Flow> {
    let i = i as usize;
    slots.get(i / CHUNK)?.get(i % CHUNK)?.as_ref()
}

fn build_record(f: Flow, reason: u8, decoding: &Arc<Decoding>) -> EndedFlow {
    let icmp = f.key.proto == proto::ICMP || f.key.proto == proto::ICMPV6;
    let (src, dst, sport, dport) = if f.fwd_is_a {
        (f.key.a, f.key.b, f.key.pa, f.key.pb)
    } else if icmp {
        (f.key.b, f.key.a, f.key.pa, f.key.pb)
    } else {
        (f.key.b, f.key.a, f.key.pb, f.key.pa)
    };
    let end_reason = if f.continuation {
        reason | end_reason::CONTINUATION
    } else {
        reason
    };
    let [t, rt] = f.tcp.as_deref().copied().unwrap_or_default();
    let tcp = (f.key.proto == proto::TCP).then_some(TcpInfo {
        isn: t.isn,
        rev_isn: rt.isn,
        initial_flags: t.init_flags,
        union_flags: t.union_flags,
        rev_initial_flags: rt.init_flags,
        rev_union_flags: rt.union_flags,
    });
    let rec = FlowRecord {
        start_ns: f.start_ns,
        end_ns: f.last_ns,
        src,
        dst,
        sport,
        dport,
        proto: f.key.proto,
        vlan: f.fwd.vlan,
        rev_vlan: f.rev.vlan,
        tos: f.fwd.tos,
        rev_tos: f.rev.tos,
        octets: f.fwd.octets,
        rev_octets: f.rev.octets,
        packets: f.fwd.packets,
        rev_packets: f.rev.packets,
        attributes: u16::from(f.fwd.attrs),
        rev_attributes: u16::from(f.rev.attrs),
        end_reason,
        // 53 once the DNS messages decode (EndedFlow::into_record).
        app_label: 0,
        rev_delta_ns: if f.rev.packets > 0 {
            f.rev_first_ns.saturating_sub(f.start_ns)
        } else {
            0
        },
        tcp,
        dns: Vec::new(),
    };
    EndedFlow::new(rec, f.dns.into_pending(decoding))
}

#[cfg(test)]
mod tests;
