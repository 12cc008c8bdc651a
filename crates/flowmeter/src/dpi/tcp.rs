//! DNS over TCP (RFC 7766): one direction's byte stream, reassembled by
//! sequence number and cut into length-prefixed messages.
//!
//! Bounds, so a hostile or lossy stream costs a fixed amount of memory:
//! - the message buffer holds at most `cap + 2` octets: a message longer
//!   than `cap` (DpiConfig::max_payload) is decoded from its first `cap`
//!   octets and the rest of it is skipped without buffering;
//! - out-of-order segments are kept up to `cap + 2` octets and
//!   [`MAX_OOO_SEGMENTS`] segments; beyond that the hole is declared lost.
//!
//! After a loss (hole never filled, buffer limit, nonsense length prefix)
//! the direction resynchronises on the next segment that starts like a
//! length prefix followed by a sane DNS header (clients and servers almost
//! always start a message at a segment boundary), instead of guessing
//! message boundaries in the middle of the stream.

use super::dns::{Header, HEADER_LEN};
use super::DnsStats;

/// Out-of-order segments kept per direction before giving the hole up.
pub const MAX_OOO_SEGMENTS: usize = 8;
/// A segment further ahead than this is not a reordering but a
/// desynchronised or forged sequence number.
const MAX_AHEAD: u32 = 1 << 20;

#[derive(Debug, Default)]
pub struct TcpDirection {
    /// Sequence number of the next in-order octet; None until known.
    next_seq: Option<u32>,
    /// Bytes lost: wait for a segment that starts a message.
    lost: bool,
    /// Current message: 2-byte prefix then up to `cap` octets.
    buf: Vec<u8>,
    /// Octets of an over-long message still to be discarded.
    skip: usize,
    /// Segments ahead of `next_seq`, by sequence number.
    ooo: Vec<(u32, Vec<u8>)>,
    ooo_bytes: usize,
    closed: bool,
}

/// Whether `payload` starts like a DNS-over-TCP message: length prefix of
/// at least a header, then a header that parses with a known opcode.
pub fn plausible_start(payload: &[u8]) -> bool {
    let Some(prefix) = payload.get(..2) else {
        return false;
    };
    let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
    if len < HEADER_LEN {
        return false;
    }
    match payload.get(2..) {
        // A prefix alone in its segment is common (some stacks write it
        // separately); accept it, the header check happens on the message.
        Some([]) => true,
        Some(rest) => match Header::parse(rest) {
            Some(h) => matches!(h.opcode(), 0 | 1 | 2 | 4 | 5) && (h.qdcount > 0 || h.qr() == 1),
            // Fewer than 12 header octets in the segment: not enough to judge.
            None => true,
        },
        None => false,
    }
}

impl TcpDirection {
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Octets held for this direction (buffer + out-of-order), for tests
    /// and memory accounting.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.ooo_bytes
    }

    /// Feeds one segment; every complete (or capped) message is passed to
    /// `emit(message, capped)`.
    #[allow(clippy::too_many_arguments)]
    pub fn on_segment(
        &mut self,
        cap: usize,
        seq: u32,
        syn: bool,
        fin_or_rst: bool,
        payload: &[u8],
        stats: &mut DnsStats,
        emit: &mut dyn FnMut(&[u8], bool),
    ) {
        if self.closed {
            return;
        }
        let mut seq = seq;
        if syn {
            // SYN occupies one sequence number; TFO data follows it.
            seq = seq.wrapping_add(1);
            self.next_seq = Some(seq);
            self.lost = false;
        }
        if !payload.is_empty() {
            self.data(cap, seq, payload, stats, emit);
        }
        if fin_or_rst {
            if !self.ooo.is_empty() {
                stats.tcp_gap += 1;
            }
            self.closed = true;
            self.ooo.clear();
            self.ooo_bytes = 0;
            self.buf = Vec::new();
        }
    }

    fn restart_at(&mut self, seq: u32) {
        self.next_seq = Some(seq);
        self.lost = false;
        self.buf.clear();
        self.skip = 0;
        self.ooo.clear();
        self.ooo_bytes = 0;
    }

    fn lose(&mut self) {
        self.lost = true;
        self.buf.clear();
        self.skip = 0;
        self.ooo.clear();
        self.ooo_bytes = 0;
    }

    fn data(
        &mut self,
        cap: usize,
        seq: u32,
        payload: &[u8],
        stats: &mut DnsStats,
        emit: &mut dyn FnMut(&[u8], bool),
    ) {
        let next = match self.next_seq {
            Some(n) if !self.lost => n,
            _ => {
                // Start of capture mid-connection, or after a loss.
                if !plausible_start(payload) {
                    return;
                }
                self.restart_at(seq);
                seq
            }
        };
        let rel = seq.wrapping_sub(next);
        if rel == 0 || rel > u32::MAX / 2 {
            // In order, or starting before `next` (retransmission/overlap).
            let overlap = if rel == 0 {
                0
            } else {
                usize::try_from(next.wrapping_sub(seq)).unwrap_or(usize::MAX)
            };
            if overlap >= payload.len() {
                return;
            }
            self.accept(cap, &payload[overlap..], stats, emit);
            self.drain_ooo(cap, stats, emit);
        } else if rel > MAX_AHEAD
            || self.ooo.len() >= MAX_OOO_SEGMENTS
            || self.ooo_bytes + payload.len() > cap + 2
        {
            stats.buffer_overflow += 1;
            self.lose();
            if plausible_start(payload) {
                self.restart_at(seq);
                self.accept(cap, payload, stats, emit);
            }
        } else {
            self.ooo_bytes += payload.len();
            self.ooo.push((seq, payload.to_vec()));
        }
    }

    /// Appends in-order octets and advances `next_seq`.
    fn accept(
        &mut self,
        cap: usize,
        bytes: &[u8],
        stats: &mut DnsStats,
        emit: &mut dyn FnMut(&[u8], bool),
    ) {
        if let Some(n) = self.next_seq.as_mut() {
            // TCP sequence space is modulo 2^32: truncation is the intent.
            *n = n.wrapping_add(bytes.len() as u32);
        }
        self.feed(cap, bytes, stats, emit);
    }

    /// Re-examines held segments after `next_seq` advanced.
    fn drain_ooo(&mut self, cap: usize, stats: &mut DnsStats, emit: &mut dyn FnMut(&[u8], bool)) {
        loop {
            let Some(next) = self.next_seq else { return };
            if self.lost {
                return;
            }
            // A held segment that now starts at or before `next`.
            let Some(i) = self.ooo.iter().position(|(s, _)| {
                let r = s.wrapping_sub(next);
                r == 0 || r > u32::MAX / 2
            }) else {
                return;
            };
            let (s, seg) = self.ooo.swap_remove(i);
            self.ooo_bytes -= seg.len();
            let overlap = usize::try_from(next.wrapping_sub(s)).unwrap_or(usize::MAX);
            if overlap < seg.len() {
                self.accept(cap, &seg[overlap..], stats, emit);
            }
        }
    }

    /// Splits contiguous stream octets into messages.
    fn feed(
        &mut self,
        cap: usize,
        mut data: &[u8],
        stats: &mut DnsStats,
        emit: &mut dyn FnMut(&[u8], bool),
    ) {
        while !data.is_empty() && !self.lost {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            if self.buf.len() < 2 {
                let n = (2 - self.buf.len()).min(data.len());
                self.buf.extend_from_slice(&data[..n]);
                data = &data[n..];
                continue;
            }
            let mlen = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
            if mlen < HEADER_LEN {
                // Not a DNS stream (or we are not at a message boundary).
                stats.tcp_desync += 1;
                self.lose();
                return;
            }
            let want = 2 + mlen.min(cap);
            let n = (want - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == want {
                emit(&self.buf[2..], mlen > cap);
                self.skip = mlen - mlen.min(cap);
                self.buf.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u8, body_len: usize) -> Vec<u8> {
        // prefix, header (query, 1 question), then filler to body_len
        let len = HEADER_LEN + body_len;
        let mut m = vec![
            (len >> 8) as u8,
            len as u8,
            0,
            id,
            1,
            0,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        m.extend(std::iter::repeat_n(id, body_len));
        m
    }

    fn run(segs: &[(u32, bool, bool, Vec<u8>)], cap: usize) -> (Vec<(Vec<u8>, bool)>, DnsStats) {
        let mut d = TcpDirection::default();
        let mut st = DnsStats::default();
        let mut got = Vec::new();
        for (seq, syn, fin, p) in segs {
            d.on_segment(cap, *seq, *syn, *fin, p, &mut st, &mut |m, c| {
                got.push((m.to_vec(), c))
            });
            assert!(d.buffered() <= 2 * (cap + 2));
        }
        (got, st)
    }

    #[test]
    fn several_messages_per_segment_and_split() {
        let mut stream = msg(1, 5);
        stream.extend(msg(2, 7));
        stream.extend(msg(3, 3));
        let base = 1000u32;
        let segs = vec![
            (base - 1, true, false, vec![]),
            (base, false, false, stream[..20].to_vec()),
            (base + 20, false, false, stream[20..21].to_vec()),
            (base + 21, false, false, stream[21..].to_vec()),
        ];
        let (got, st) = run(&segs, 4096);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].0, msg(2, 7)[2..].to_vec());
        assert_eq!(st.tcp_gap + st.buffer_overflow + st.tcp_desync, 0);
    }

    #[test]
    fn out_of_order_and_retransmitted() {
        let mut stream = msg(1, 30);
        stream.extend(msg(2, 30));
        let b = u32::MAX - 10; // wraps around zero
        let segs = vec![
            (b, true, false, vec![]),
            (b.wrapping_add(41), false, false, stream[40..].to_vec()),
            (b.wrapping_add(21), false, false, stream[20..40].to_vec()),
            (b.wrapping_add(1), false, false, stream[..25].to_vec()),
            (b.wrapping_add(1), false, false, stream[..10].to_vec()),
        ];
        let (got, st) = run(&segs, 4096);
        assert_eq!(got.iter().map(|m| m.0[1]).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(st.tcp_gap, 0);
    }

    #[test]
    fn oversize_message_is_capped_and_skipped() {
        let mut stream = msg(1, 100);
        stream.extend(msg(2, 4));
        let segs = vec![(0, true, false, vec![]), (1, false, false, stream)];
        let (got, _) = run(&segs, 32);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0.len(), got[0].1), (32, true));
        assert_eq!((got[1].0.len(), got[1].1), (16, false));
    }

    #[test]
    fn gap_then_resync_on_message_start() {
        let m1 = msg(1, 10);
        let m2 = msg(2, 10);
        let m3 = msg(3, 10);
        let mut segs = vec![
            (0, true, false, vec![]),
            (1, false, false, m1[..5].to_vec()),
        ];
        // The rest of m1 never arrives; many later segments overflow the hole.
        let mut seq = 1 + m1.len() as u32;
        for _ in 0..MAX_OOO_SEGMENTS + 1 {
            segs.push((seq, false, false, m2.clone()));
            seq += m2.len() as u32;
        }
        segs.push((seq, false, false, m3.clone()));
        let (got, st) = run(&segs, 4096);
        assert_eq!(st.buffer_overflow, 1);
        assert_eq!(got.iter().map(|m| m.0[1]).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn midstream_start_needs_a_message_boundary() {
        let m1 = msg(1, 10);
        let m2 = msg(2, 10);
        let segs = vec![
            (500, false, false, m1[3..].to_vec()),
            (520, false, false, m2.clone()),
        ];
        let (got, _) = run(&segs, 4096);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0[1], 2);
    }

    #[test]
    fn fin_with_hole_counts_gap() {
        let m1 = msg(1, 10);
        let segs = vec![(0, true, false, vec![]), (10, false, true, m1.clone())];
        let (got, st) = run(&segs, 4096);
        assert!(got.is_empty());
        assert_eq!(st.tcp_gap, 1);
    }

    #[test]
    fn bad_length_prefix_desyncs() {
        let segs = vec![
            (0, true, false, vec![]),
            (1, false, false, vec![0, 3, 1, 2, 3]),
        ];
        let (got, st) = run(&segs, 4096);
        assert!(got.is_empty());
        assert_eq!(st.tcp_desync, 1);
    }
}
