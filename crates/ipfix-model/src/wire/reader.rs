/// A read past the end of the current slice: where it happened and how much was missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Short {
    /// Absolute offset (in the stream or file) of the first byte that was wanted.
    pub offset: u64,
    pub needed: usize,
    pub available: usize,
}

/// Cursor over a borrowed slice that knows its absolute position in the input stream.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], base: u64) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte to be read.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end.and_then(|e| self.buf.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(Short {
                offset: self.offset(),
                needed: n,
                available: self.remaining(),
            }),
        }
    }

    /// Narrows to the next `n` bytes: a sub-parser cannot read past its own length field.
    pub(crate) fn sub(&mut self, n: usize) -> Result<Reader<'a>, Short> {
        let base = self.offset();
        let buf = self.take(n)?;
        Ok(Reader::new(buf, base))
    }

    pub(crate) fn take_all(&mut self) -> &'a [u8] {
        let r = self.rest();
        self.pos = self.buf.len();
        r
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Short> {
        let s = self.take(1)?;
        Ok(s.first().copied().unwrap_or_default())
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Short> {
        let s = self.take(2)?;
        let mut a = [0u8; 2];
        a.copy_from_slice(s);
        Ok(u16::from_be_bytes(a))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Short> {
        let s = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(s);
        Ok(u32::from_be_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_reports_absolute_offsets() {
        let mut r = Reader::new(&[0x00, 0x0a, 0x01, 0x02, 0x03], 100);
        assert_eq!(r.u16().unwrap(), 10);
        let mut sub = r.sub(2).unwrap();
        assert_eq!(sub.offset(), 102);
        assert_eq!(sub.u8().unwrap(), 1);
        let e = sub.u16().unwrap_err();
        assert_eq!(
            e,
            Short {
                offset: 103,
                needed: 2,
                available: 1
            }
        );
        assert_eq!(r.remaining(), 1);
        let e = r.take(usize::MAX).unwrap_err();
        assert_eq!(e.offset, 104);
        assert_eq!(r.take_all(), &[3]);
        assert!(r.is_empty());
    }
}
