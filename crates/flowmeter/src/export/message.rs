//! IPFIX message framing the way libfixbuf 2.4 frames YAF's output: a message holds either
//! templates or data, never both; consecutive records of one template share a set; a message
//! is closed when the next record would not fit. The sequence number of a message is the
//! number of data records sent before it (RFC 7011 §3.1).

/// IPFIX message header length.
pub const HEADER_LEN: usize = 16;
const SET_HEADER_LEN: usize = 4;

/// A finished message, ready for a file or a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub bytes: Vec<u8>,
    /// Data records in it (0 for a template message).
    pub records: u32,
    pub is_template: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Template,
    Data,
}

/// Builds messages; finished ones are collected in [`MessageBuilder::take`].
#[derive(Debug)]
pub struct MessageBuilder {
    domain: u32,
    /// Data records in finished messages.
    seq: u32,
    /// A message is closed when the next record would push it past this size...
    target: usize,
    buf: Vec<u8>,
    kind: Option<Kind>,
    /// (set ID, offset of the set header in `buf`).
    set: Option<(u16, usize)>,
    records: u32,
    finished: Vec<Finished>,
    clock: fn() -> u32,
}

/// Wall-clock seconds since the UNIX epoch (YAF stamps messages with `time(NULL)`).
pub fn now_secs() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

impl MessageBuilder {
    /// `target` is the usual maximum message size (65535 for files and TCP, a path-MTU-sized
    /// value for UDP); a single record larger than it still gets a message of its own, up to
    /// 65535 octets.
    pub fn new(domain: u32, target: usize) -> Self {
        Self {
            domain,
            seq: 0,
            target: target.clamp(HEADER_LEN + SET_HEADER_LEN + 4, 65_535),
            buf: Vec::new(),
            kind: None,
            set: None,
            records: 0,
            finished: Vec::new(),
            clock: now_secs,
        }
    }

    /// Replaces the export-time clock (tests).
    pub fn with_clock(mut self, clock: fn() -> u32) -> Self {
        self.clock = clock;
        self
    }

    /// Data records in all finished messages so far.
    pub fn sequence(&self) -> u32 {
        self.seq
    }

    /// Sets the sequence number of the next message (a network session's template messages
    /// take the number of the data message that follows them).
    pub fn set_sequence(&mut self, seq: u32) {
        self.seq = seq;
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.kind.is_none()
    }

    /// True when the open message carries templates only.
    pub fn in_template_message(&self) -> bool {
        self.kind == Some(Kind::Template)
    }

    /// Appends one template record (set ID 2) or options template record (set ID 3).
    pub fn add_template(&mut self, set_id: u16, record: &[u8]) {
        self.add(Kind::Template, set_id, 0, record);
    }

    /// Appends one data record of template `tid`.
    pub fn add_record(&mut self, tid: u16, record: &[u8]) {
        self.add(Kind::Data, tid, 0, record);
    }

    /// Like [`MessageBuilder::add_record`], for a template whose smallest record is `min_len`
    /// octets: libfixbuf opens a new set only when the set header and that much fit.
    pub fn add_record_min(&mut self, tid: u16, min_len: usize, record: &[u8]) {
        self.add(Kind::Data, tid, min_len, record);
    }

    fn add(&mut self, kind: Kind, set_id: u16, min_len: usize, record: &[u8]) {
        if self.kind.is_some() && self.kind != Some(kind) {
            self.finish();
        }
        if self.kind.is_none() {
            self.start(kind);
        }
        if !matches!(self.set, Some((id, _)) if id == set_id) {
            self.close_set();
            if self.buf.len() + SET_HEADER_LEN + min_len > self.target {
                self.finish();
                self.start(kind);
            }
            self.open_set(set_id);
        }
        let only_this_set = self.buf.len() == HEADER_LEN + SET_HEADER_LEN;
        if self.buf.len() + record.len() > self.target && !only_this_set {
            // libfixbuf opens the new set before it finds the record does not fit, so the
            // message it sends ends with an empty set (length 4); we do the same, to the byte.
            self.finish();
            self.start(kind);
            self.open_set(set_id);
        }
        self.buf.extend_from_slice(record);
        if kind == Kind::Data {
            self.records += 1;
        }
    }

    fn start(&mut self, kind: Kind) {
        self.buf.clear();
        // A finished message takes the buffer with it: allocate the next one at its usual size
        // at once instead of doubling it up to there (a dozen copies of a growing message).
        self.buf.reserve_exact(self.target);
        self.buf.resize(HEADER_LEN, 0);
        self.kind = Some(kind);
        self.records = 0;
    }

    fn open_set(&mut self, set_id: u16) {
        let at = self.buf.len();
        self.buf.extend_from_slice(&set_id.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        self.set = Some((set_id, at));
    }

    fn close_set(&mut self) {
        if let Some((_, at)) = self.set.take() {
            let len = (self.buf.len() - at).min(65_535) as u16;
            if let Some(slot) = self.buf.get_mut(at + 2..at + 4) {
                slot.copy_from_slice(&len.to_be_bytes());
            }
        }
    }

    /// Closes the open message, if any.
    pub fn finish(&mut self) {
        let Some(kind) = self.kind.take() else {
            return;
        };
        self.close_set();
        let len = self.buf.len().min(65_535) as u16;
        let mut header = [0u8; HEADER_LEN];
        header[0..2].copy_from_slice(&10u16.to_be_bytes());
        header[2..4].copy_from_slice(&len.to_be_bytes());
        header[4..8].copy_from_slice(&(self.clock)().to_be_bytes());
        header[8..12].copy_from_slice(&self.seq.to_be_bytes());
        header[12..16].copy_from_slice(&self.domain.to_be_bytes());
        if let Some(h) = self.buf.get_mut(..HEADER_LEN) {
            h.copy_from_slice(&header);
        }
        self.seq = self.seq.wrapping_add(self.records);
        self.finished.push(Finished {
            bytes: std::mem::take(&mut self.buf),
            records: self.records,
            is_template: kind == Kind::Template,
        });
        self.records = 0;
    }

    /// Finished messages, oldest first.
    pub fn take(&mut self) -> std::vec::Drain<'_, Finished> {
        self.finished.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> u32 {
        0x6b08_ef27
    }

    #[test]
    fn templates_and_data_never_share_a_message() {
        let mut b = MessageBuilder::new(7, 65_535).with_clock(clock);
        b.add_template(2, &[0xCE, 0x01, 0, 1, 0, 8, 0, 4]);
        b.add_template(3, &[1; 10]);
        b.add_record(0xCE01, &[1, 2, 3, 4]);
        b.add_record(0xCE01, &[5, 6, 7, 8]);
        b.add_template(2, &[2; 8]);
        b.finish();
        let m: Vec<Finished> = b.take().collect();
        assert_eq!(m.len(), 3);
        #[rustfmt::skip]
        let first: &[u8] = &[
            0, 10, 0, 16 + 12 + 14, 0x6b, 0x08, 0xef, 0x27, 0, 0, 0, 0, 0, 0, 0, 7, // header
            0, 2, 0, 12, 0xCE, 0x01, 0, 1, 0, 8, 0, 4, // template set
            0, 3, 0, 14, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, // options template set
        ];
        assert_eq!(m[0].bytes, first);
        assert!(m[0].is_template);
        // one data set with both records; sequence number 0
        assert_eq!(&m[1].bytes[2..4], &[0, 28]);
        assert_eq!(&m[1].bytes[8..12], &[0, 0, 0, 0]);
        assert_eq!(&m[1].bytes[16..20], &[0xCE, 0x01, 0, 12]);
        assert_eq!(m[1].records, 2);
        // template message after two records: sequence number 2
        assert_eq!(&m[2].bytes[8..12], &[0, 0, 0, 2]);
        assert_eq!(b.sequence(), 2);
    }

    #[test]
    fn message_closes_when_full_and_oversize_record_goes_alone() {
        let mut b = MessageBuilder::new(0, 100).with_clock(clock);
        for _ in 0..5 {
            b.add_record(0x100, &[0; 30]);
        }
        b.add_record(0x100, &[0; 500]);
        b.add_record(0x100, &[0; 30]);
        b.finish();
        let m: Vec<Finished> = b.take().collect();
        let lens: Vec<usize> = m.iter().map(|f| f.bytes.len()).collect();
        // 16 + 4 + 2*30 = 80; a third would be 110 > 100.
        assert_eq!(lens, vec![80, 80, 50, 520, 50]);
        let seqs: Vec<u32> = m
            .iter()
            .map(|f| u32::from_be_bytes(f.bytes[8..12].try_into().unwrap()))
            .collect();
        assert_eq!(seqs, vec![0, 2, 4, 5, 6]);
    }

    #[test]
    fn template_change_at_a_full_message_leaves_an_empty_set_like_libfixbuf() {
        let mut b = MessageBuilder::new(0, 100).with_clock(clock);
        b.add_record(0x100, &[0; 60]);
        b.add_record(0x200, &[0; 30]);
        b.finish();
        let m: Vec<Finished> = b.take().collect();
        // 16 + (4 + 60) + empty set 0x200 (4) = 84; then 16 + 4 + 30.
        assert_eq!(m[0].bytes.len(), 84);
        assert_eq!(&m[0].bytes[80..84], &[0x02, 0x00, 0, 4]);
        assert_eq!(m[1].bytes.len(), 50);
        assert_eq!(&m[1].bytes[16..20], &[0x02, 0x00, 0, 34]);
    }
}
