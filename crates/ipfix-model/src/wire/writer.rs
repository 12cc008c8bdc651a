/// Append-only output buffer with back-patched length fields (hickory's `Place` idea): a
/// length is reserved before the body is written and filled in once the body size is known.
#[derive(Debug)]
pub(crate) struct Writer<'o> {
    out: &'o mut Vec<u8>,
}

/// A reserved 16-bit length field; must be resolved with [`Writer::fill_len`].
#[must_use = "the reserved length must be filled in"]
#[derive(Debug)]
pub(crate) struct LengthPlace {
    at: usize,
    /// Length counting starts here (e.g. at the set header, which the set length includes).
    from: usize,
}

impl<'o> Writer<'o> {
    pub(crate) fn new(out: &'o mut Vec<u8>) -> Self {
        Self { out }
    }

    pub(crate) fn len(&self) -> usize {
        self.out.len()
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }

    /// Reserves a u16 length at the current position; the length counts from `from`.
    pub(crate) fn place_u16(&mut self, from: usize) -> LengthPlace {
        let at = self.len();
        self.u16(0);
        LengthPlace { at, from }
    }

    /// Fills a reserved length with the bytes written since its `from`; `None` if > 65535.
    pub(crate) fn fill_len(&mut self, place: LengthPlace) -> Option<u16> {
        let len = u16::try_from(self.out.len().checked_sub(place.from)?).ok()?;
        let slot = self.out.get_mut(place.at..place.at.checked_add(2)?)?;
        slot.copy_from_slice(&len.to_be_bytes());
        Some(len)
    }

    /// Truncates back to `len` (used to roll back a partly written message).
    pub(crate) fn truncate(&mut self, len: usize) {
        self.out.truncate(len);
    }
}
