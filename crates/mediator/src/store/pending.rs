//! Write-behind aggregates: the `pdns_rr` and `pdns_resolver` keys of committed batches, merged
//! in memory and applied later in one transaction, and their durable form in `pdns_pending`.
//!
//! Why: on a long load most of the server's extra work over a plain load is aggregate upserts
//! (benches/store_load.rs), and the same popular keys are upserted by batch after batch. Merged
//! over a file, pdns_rr falls from 0.56 upserts per DNS row to 0.13 on the flowmeter's generated
//! capture. Each batch's transaction writes its pre-aggregated keys as a few `pdns_pending` rows
//! (appends) instead of upserting them, so a crash between the batch's commit and the flush
//! loses nothing: the pending rows are applied at the next start. The flush deletes exactly the
//! pending rows whose keys it applies, in the same transaction, so each is applied once.
//!
//! The payload is ours and read back only by us, but it comes from a database another program
//! could write, so decoding checks every length and never panics.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::prep::{reverse_name, truncate_chars, Hash16, ResolverAgg, RrAgg, MAX_TEXT};

/// First byte of every payload: the encoding below. A payload with another version came from a
/// newer mediator and is refused rather than misread.
pub const PAYLOAD_VERSION: u8 = 1;

/// Upper bound of one payload (one `pdns_pending` row); smaller when the connection's
/// max_allowed_packet is (see [`part_bytes`]).
pub const PART_BYTES: usize = 512 * 1024;

/// Payload size for a connection whose max_allowed_packet is `max_packet`: the INSERT that
/// carries it, and the row read back, must each fit in one packet.
pub fn part_bytes(max_packet: u64) -> usize {
    let room = usize::try_from(max_packet.saturating_sub(1024)).unwrap_or(usize::MAX);
    room.clamp(512, PART_BYTES)
}

/// One aggregate key as stored in a payload (`RrAgg` without its `rrname_rev`, which is the
/// costliest string to store and the cheapest to derive again). `EntryRef` writes the same
/// encoding from borrowed keys: the variants must stay in the same order.
#[derive(Debug, Deserialize)]
enum Entry {
    Rr(RrAgg),
    Resolver(ResolverAgg),
}

#[derive(Serialize)]
enum EntryRef<'a> {
    Rr(&'a RrAgg),
    Resolver(&'a ResolverAgg),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("empty payload")]
    Empty,
    #[error("payload version {0} is not {PAYLOAD_VERSION} (written by a newer mediator?)")]
    Version(u8),
    #[error("undecodable entry at byte {offset}: {reason}")]
    Entry { offset: usize, reason: String },
    #[error("entry at byte {offset} is out of range: {reason}")]
    Range { offset: usize, reason: &'static str },
}

/// Encodes the keys as payloads of at most `part_bytes` each (an entry is never split; a
/// single entry is at most a few KiB, the column limits being 1024 characters); none for no
/// keys.
pub fn encode(
    rr: &[RrAgg],
    resolvers: &[ResolverAgg],
    part_bytes: usize,
) -> Result<Vec<Vec<u8>>, postcard::Error> {
    let mut parts = Vec::new();
    let mut cur = vec![PAYLOAD_VERSION];
    let entries = rr
        .iter()
        .map(EntryRef::Rr)
        .chain(resolvers.iter().map(EntryRef::Resolver));
    for e in entries {
        let bytes = postcard::to_stdvec(&e)?;
        if cur.len() > 1 && cur.len() + bytes.len() > part_bytes {
            parts.push(std::mem::replace(&mut cur, vec![PAYLOAD_VERSION]));
        }
        cur.extend_from_slice(&bytes);
    }
    if cur.len() > 1 {
        parts.push(cur);
    }
    Ok(parts)
}

/// Keys of any number of batches, merged: what one flush applies.
#[derive(Debug, Default)]
pub struct Merged {
    rr: HashMap<Hash16, RrAgg>,
    resolvers: HashMap<(Vec<u8>, Vec<u8>, u16), ResolverAgg>,
}

impl Merged {
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.rr.is_empty() && self.resolvers.is_empty()
    }

    /// Distinct keys held (the memory bound counts these).
    pub fn keys(&self) -> usize {
        self.rr.len() + self.resolvers.len()
    }

    pub fn add_rr(&mut self, a: RrAgg) {
        match self.rr.get_mut(&a.hash) {
            Some(e) => {
                e.first_ms = e.first_ms.min(a.first_ms);
                e.last_ms = e.last_ms.max(a.last_ms);
                e.count = e.count.saturating_add(a.count);
                e.ttl_min = e.ttl_min.min(a.ttl_min);
                e.ttl_max = e.ttl_max.max(a.ttl_max);
            }
            None => {
                self.rr.insert(a.hash, a);
            }
        }
    }

    pub fn add_resolver(&mut self, a: ResolverAgg) {
        let key = (a.client.clone(), a.resolver.clone(), a.port);
        match self.resolvers.get_mut(&key) {
            Some(e) => {
                e.first_ms = e.first_ms.min(a.first_ms);
                e.last_ms = e.last_ms.max(a.last_ms);
                e.count = e.count.saturating_add(a.count);
            }
            None => {
                self.resolvers.insert(key, a);
            }
        }
    }

    /// Another batch's (or flush's) keys into these.
    pub fn absorb(&mut self, other: Merged) {
        for a in other.rr.into_values() {
            self.add_rr(a);
        }
        for a in other.resolvers.into_values() {
            self.add_resolver(a);
        }
    }

    /// Decodes one payload into these keys. On error nothing of the payload is kept, so a
    /// caller that refuses the payload has not half-applied it.
    pub fn add_payload(&mut self, payload: &[u8]) -> Result<(), PayloadError> {
        let (&version, mut rest) = payload.split_first().ok_or(PayloadError::Empty)?;
        if version != PAYLOAD_VERSION {
            return Err(PayloadError::Version(version));
        }
        let mut decoded = Merged::default();
        while !rest.is_empty() {
            let offset = payload.len() - rest.len();
            let (e, tail) =
                postcard::take_from_bytes::<Entry>(rest).map_err(|e| PayloadError::Entry {
                    offset,
                    reason: e.to_string(),
                })?;
            rest = tail;
            let range = |reason| PayloadError::Range { offset, reason };
            match e {
                Entry::Rr(mut a) => {
                    if a.rrname.chars().count() > MAX_TEXT || a.rrval.chars().count() > MAX_TEXT {
                        return Err(range("name or value longer than the columns"));
                    }
                    let mut rev = reverse_name(&a.rrname);
                    rev.truncate(truncate_chars(&rev, MAX_TEXT).len());
                    a.rrname_rev = rev;
                    decoded.add_rr(a);
                }
                Entry::Resolver(a) => {
                    if !matches!(a.client.len(), 4 | 16) || !matches!(a.resolver.len(), 4 | 16) {
                        return Err(range("address is neither 4 nor 16 bytes"));
                    }
                    decoded.add_resolver(a);
                }
            }
        }
        self.absorb(decoded);
        Ok(())
    }

    /// The keys in the order every writer locks them (see prep.rs): no lock cycles between two
    /// flushes.
    pub fn into_sorted(self) -> (Vec<RrAgg>, Vec<ResolverAgg>) {
        let mut rr: Vec<RrAgg> = self.rr.into_values().collect();
        rr.sort_unstable_by_key(|a| a.hash);
        let mut resolvers: Vec<ResolverAgg> = self.resolvers.into_values().collect();
        resolvers.sort_unstable_by(|a, b| {
            (&a.client, &a.resolver, a.port).cmp(&(&b.client, &b.resolver, b.port))
        });
        (rr, resolvers)
    }
}

/// What the store holds between flushes.
#[derive(Debug, Default)]
pub struct Behind {
    /// `pdns_pending` rows of committed batches whose keys are all in `merged`.
    pub ids: Vec<u64>,
    pub merged: Merged,
    /// Rows whose keys are only in the table (a flush failed after taking them out of
    /// `merged`): applied from their payloads.
    pub unmerged: Vec<u64>,
    /// A batch's COMMIT failed without an answer, so it may have committed pending rows whose
    /// ids this store never learned (its retry finds the batch in the ledger): the next flush
    /// applies every row left in the table.
    pub orphans: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rr(name: &str, val: &str, first: i64, last: i64, count: u64, ttl: u32) -> RrAgg {
        RrAgg {
            hash: super::super::prep::rr_hash(name, 1, val),
            rrname: name.to_string(),
            rrname_rev: reverse_name(name),
            rrtype: 1,
            rrval: val.to_string(),
            first_ms: first,
            last_ms: last,
            count,
            ttl_min: ttl,
            ttl_max: ttl,
        }
    }

    fn resolver(c: u8, first: i64, count: u64) -> ResolverAgg {
        ResolverAgg {
            client: vec![10, 0, 0, c],
            resolver: vec![192, 0, 2, 53],
            port: 53,
            first_ms: first,
            last_ms: first + 10,
            count,
        }
    }

    #[test]
    fn payload_round_trip_merges_like_the_batches() {
        let a = [
            rr("a.example.", "192.0.2.1", 100, 200, 2, 60),
            rr("b.example.", "192.0.2.2", 150, 160, 1, 30),
        ];
        let b = [rr("a.example.", "192.0.2.1", 50, 120, 3, 300)];
        let mut m = Merged::default();
        for p in encode(&a, &[resolver(1, 100, 4)], PART_BYTES)
            .unwrap()
            .iter()
            .chain(
                encode(&b, &[resolver(1, 90, 1), resolver(2, 5, 1)], PART_BYTES)
                    .unwrap()
                    .iter(),
            )
        {
            m.add_payload(p).unwrap();
        }
        let (rrs, res) = m.into_sorted();
        assert_eq!(rrs.len(), 2);
        let merged = rrs.iter().find(|r| r.rrname == "a.example.").unwrap();
        assert_eq!(
            (
                merged.first_ms,
                merged.last_ms,
                merged.count,
                merged.ttl_min,
                merged.ttl_max
            ),
            (50, 200, 5, 60, 300)
        );
        assert_eq!(merged.rrname_rev, "example.a.");
        assert!(rrs.windows(2).all(|w| w[0].hash < w[1].hash));
        assert_eq!(res.len(), 2);
        let one = res.iter().find(|r| r.client == [10, 0, 0, 1]).unwrap();
        assert_eq!((one.first_ms, one.last_ms, one.count), (90, 110, 5));
    }

    #[test]
    fn large_batches_split_into_bounded_parts() {
        let long = "x".repeat(1000);
        let many: Vec<RrAgg> = (0..2000)
            .map(|i| rr(&format!("n{i}.example."), &long, 0, 1, 1, 1))
            .collect();
        let parts = encode(&many, &[], PART_BYTES).unwrap();
        assert!(parts.len() >= 4, "{} parts", parts.len());
        assert!(parts.iter().all(|p| p.len() <= PART_BYTES && p[0] == 1));
        // A server with a 16 KiB max_allowed_packet gets parts that fit it.
        let small = part_bytes(16 * 1024);
        assert_eq!(small, 15 * 1024);
        let parts = encode(&many, &[], small).unwrap();
        assert!(parts.iter().all(|p| p.len() <= small), "parts over {small}");
        assert_eq!(part_bytes(0), 512);
        assert_eq!(part_bytes(1 << 30), PART_BYTES);
        let mut m = Merged::default();
        for p in &parts {
            m.add_payload(p).unwrap();
        }
        assert_eq!(m.keys(), 2000);
        assert!(encode(&[], &[], PART_BYTES).unwrap().is_empty());
        // A payload of no entries (the version byte alone) is valid and adds nothing.
        let mut m = Merged::default();
        m.add_payload(&[PAYLOAD_VERSION]).unwrap();
        assert!(m.is_empty());
    }

    #[test]
    fn bad_payloads_are_refused_whole() {
        let good = encode(
            &[rr("a.", "v", 1, 2, 1, 1)],
            &[resolver(1, 1, 1)],
            PART_BYTES,
        )
        .unwrap()
        .remove(0);
        let mut m = Merged::default();
        assert_eq!(m.add_payload(&[]), Err(PayloadError::Empty));
        assert_eq!(m.add_payload(&[9, 0]), Err(PayloadError::Version(9)));
        // Every truncation of a valid payload inside an entry is refused, and leaves nothing
        // behind (a cut between entries is a valid payload of the entries before it).
        let boundary = encode(&[rr("a.", "v", 1, 2, 1, 1)], &[], PART_BYTES).unwrap()[0].len();
        for cut in (2..good.len()).filter(|&c| c != boundary) {
            let r = m.add_payload(&good[..cut]);
            assert!(r.is_err(), "cut at {cut} accepted");
        }
        assert!(m.is_empty());
        m.add_payload(&good[..boundary]).unwrap();
        assert_eq!(m.keys(), 1);
        // Arbitrary bytes never panic.
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let len = (x % 64) as usize;
            let bytes: Vec<u8> = std::iter::once(PAYLOAD_VERSION)
                .chain((0..len).map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                }))
                .collect();
            let _ = Merged::default().add_payload(&bytes);
        }
        // A resolver address of the wrong length is a range error, not a key.
        let bad = encode(
            &[],
            &[ResolverAgg {
                client: vec![1, 2, 3],
                ..resolver(1, 1, 1)
            }],
            PART_BYTES,
        )
        .unwrap()
        .remove(0);
        assert!(matches!(
            Merged::default().add_payload(&bad),
            Err(PayloadError::Range { offset: 1, .. })
        ));
    }
}
