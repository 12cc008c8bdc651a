//! Domain names and character-strings as YAF 2.16 writes them.
//!
//! Hand-written rather than taken from `domain`: `domain::base::ParsedName`
//! accepts a pointer that lands inside the name it is part of (it only
//! requires the target to precede the pointer itself, and stops such loops
//! after 255 jumps, reporting a "long name"), and it reports every failure
//! as one opaque `ParseError`. We need the stricter hickory-style rule (no
//! loop is even expressible), one error kind per cause for `DnsStats`, and
//! the raw label octets in one pass to apply YAF's escaping while walking.

use super::dns::ErrorKind;

/// RFC 1035 3.1: a name is at most 255 octets in wire form, root included.
pub const MAX_NAME_WIRE_LEN: usize = 255;
/// RFC 1035 2.3.4.
pub const MAX_LABEL_LEN: usize = 63;

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `src` to `out` with YAF's escaping (YAF >= 2.14):
/// `\` -> `\\`, LF -> `\n`, `.` -> `\.` when `escape_dots`, other bytes
/// outside 32..=126 -> `\xHH` with uppercase hex digits. The result is
/// printable ASCII, so callers can write it as IPFIX string octets with no
/// UTF-8 check.
pub fn escape_into(out: &mut Vec<u8>, src: &[u8], escape_dots: bool) {
    // Nearly every label is plain hostname text: copy it in one go.
    let plain = |b: &u8| (32..=126).contains(b) && *b != b'\\' && !(escape_dots && *b == b'.');
    if src.iter().all(plain) {
        out.extend_from_slice(src);
        return;
    }
    for &b in src {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'.' if escape_dots => out.extend_from_slice(b"\\."),
            32..=126 => out.push(b),
            _ => out.extend_from_slice(&[
                b'\\',
                b'x',
                UPPER_HEX[usize::from(b >> 4)],
                UPPER_HEX[usize::from(b & 0x0f)],
            ]),
        }
    }
}

/// Text that [`escape_into`] (or a name walk) produced: printable ASCII,
/// so the conversion never replaces anything; it only makes the type.
pub fn ascii_string(v: Vec<u8>) -> String {
    String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A TXT character-string (or any opaque text) escaped as YAF does: dots kept.
pub fn escape_text(src: &[u8]) -> String {
    let mut s = Vec::with_capacity(src.len());
    escape_into(&mut s, src, false);
    ascii_string(s)
}

/// Failure while reading a name: what went wrong and at which byte offset
/// of the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameError {
    pub kind: ErrorKind,
    pub offset: usize,
}

/// Reads the (possibly compressed) name starting at `start` in `msg`.
///
/// `limit` is the end of the region the uncompressed part may occupy (the
/// message end, or the end of the rdata for names inside rdata). Returns the
/// YAF-formatted name (each label escaped and followed by '.', root = "")
/// and the offset just past the name's in-place part.
///
/// Compression rule (as hickory's `PointerNotPriorToLabel`): after a jump,
/// everything read must lie strictly before the pointer that was followed,
/// so each jump moves strictly backwards and the walk ends after at most
/// `msg.len()` steps: loops cannot be expressed, forward pointers are errors.
pub fn read_name(msg: &[u8], start: usize, limit: usize) -> Result<(String, usize), NameError> {
    // Most names fit; one allocation instead of several regrowths.
    let mut out = Vec::with_capacity(48);
    let end = walk::<true>(msg, start, limit, &mut out)?;
    Ok((ascii_string(out), end))
}

/// As [`read_name`], appending the escaped name to `out` (left with
/// partial content on error): what the decoder uses, into reused buffers.
pub fn read_name_into(
    msg: &[u8],
    start: usize,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<usize, NameError> {
    walk::<true>(msg, start, limit, out)
}

/// The name walk; `FORMAT` false only validates (no text is built).
fn walk<const FORMAT: bool>(
    msg: &[u8],
    start: usize,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<usize, NameError> {
    let limit = limit.min(msg.len());
    let mut pos = start;
    // Where reading may not reach: moves down to each followed pointer.
    let mut fence = limit;
    // Offset just past the in-place part, fixed at the first pointer.
    let mut end: Option<usize> = None;
    let mut wire_len = 0usize;
    let err = |kind, offset| NameError { kind, offset };
    loop {
        let Some(&len_byte) = msg.get(pos).filter(|_| pos < fence) else {
            // Running into the fence after a jump means the name reaches the
            // pointer that led here: a loop or a pointer into its own name.
            let kind = if end.is_some() && pos < limit {
                ErrorKind::PointerLoop
            } else {
                ErrorKind::Truncated
            };
            return Err(err(kind, pos));
        };
        match len_byte & 0xC0 {
            0x00 => {
                let len = usize::from(len_byte);
                wire_len += len + 1;
                if wire_len > MAX_NAME_WIRE_LEN {
                    return Err(err(ErrorKind::NameTooLong, pos));
                }
                if len == 0 {
                    return Ok(end.unwrap_or(pos + 1));
                }
                let label = msg
                    .get(pos + 1..pos + 1 + len)
                    .filter(|_| pos + 1 + len <= fence)
                    .ok_or_else(|| {
                        let kind = if end.is_some() && pos + 1 + len <= limit {
                            ErrorKind::PointerLoop
                        } else {
                            ErrorKind::Truncated
                        };
                        err(kind, pos)
                    })?;
                if FORMAT {
                    escape_into(out, label, true);
                    out.push(b'.');
                }
                pos += 1 + len;
            }
            0xC0 => {
                let Some(&low) = msg.get(pos + 1).filter(|_| pos + 1 < fence) else {
                    return Err(err(ErrorKind::Truncated, pos));
                };
                let target = (usize::from(len_byte & 0x3F) << 8) | usize::from(low);
                if target >= pos {
                    // Forward or self pointer (also past the end of message).
                    return Err(err(ErrorKind::BadPointer, pos));
                }
                if end.is_none() {
                    end = Some(pos + 2);
                }
                fence = pos;
                pos = target;
            }
            // 0x40 (EDNS extended label types, RFC 6891 deprecated them) and
            // 0x80 (reserved): a label length above 63 cannot be encoded.
            _ => return Err(err(ErrorKind::LabelTooLong, pos)),
        }
    }
}

/// Skips a name without formatting it: same checks as [`read_name`].
pub fn skip_name(msg: &[u8], start: usize, limit: usize) -> Result<usize, NameError> {
    // Same walk, so the rules are identical; an empty Vec never allocates.
    walk::<false>(msg, start, limit, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_yaf() {
        let mut s = Vec::new();
        escape_into(&mut s, b"a.b\\c\nd\x00\x7f\xffe", true);
        assert_eq!(s, b"a\\.b\\\\c\\nd\\x00\\x7F\\xFFe");
        assert_eq!(escape_text(b"v=spf1 a.b \x01"), "v=spf1 a.b \\x01");
    }

    #[test]
    fn plain_and_root_names() {
        // 12 bytes of fake header, then "www.ex." and root.
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[3, b'w', b'w', b'w', 2, b'e', b'x', 0, 0]);
        assert_eq!(
            read_name(&m, 12, m.len()).unwrap(),
            ("www.ex.".to_string(), 20)
        );
        assert_eq!(read_name(&m, 20, m.len()).unwrap(), (String::new(), 21));
    }

    #[test]
    fn backward_pointer_followed() {
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[2, b'e', b'x', 0]); // 12: "ex."
        m.extend_from_slice(&[1, b'a', 0xC0, 12]); // 16: "a." + ptr 12
        assert_eq!(
            read_name(&m, 16, m.len()).unwrap(),
            ("a.ex.".to_string(), 20)
        );
    }

    #[test]
    fn forward_and_self_pointers_rejected() {
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[0xC0, 14, 0]); // 12: ptr -> 14 (forward)
        assert_eq!(
            read_name(&m, 12, m.len()).unwrap_err().kind,
            ErrorKind::BadPointer
        );
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[0xC0, 12]); // points at itself
        assert_eq!(
            read_name(&m, 12, m.len()).unwrap_err().kind,
            ErrorKind::BadPointer
        );
    }

    #[test]
    fn pointer_into_own_name_is_a_loop() {
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[1, b'a', 0xC0, 12]); // "a." then ptr back to "a"
        assert_eq!(
            read_name(&m, 12, m.len()).unwrap_err().kind,
            ErrorKind::PointerLoop
        );
    }

    #[test]
    fn label_and_name_limits() {
        let mut m = vec![0u8; 12];
        m.push(0x40);
        assert_eq!(
            read_name(&m, 12, m.len()).unwrap_err().kind,
            ErrorKind::LabelTooLong
        );
        // 4 labels of 63 = 256 octets with length bytes, plus root: too long.
        let mut m = vec![0u8; 12];
        for _ in 0..4 {
            m.push(63);
            m.extend_from_slice(&[b'x'; 63]);
        }
        m.push(0);
        assert_eq!(
            read_name(&m, 12, m.len()).unwrap_err().kind,
            ErrorKind::NameTooLong
        );
        // 3 x 63 + 1 x 61 = 254 + root = 255: the longest legal name.
        let mut m = vec![0u8; 12];
        for _ in 0..3 {
            m.push(63);
            m.extend_from_slice(&[b'x'; 63]);
        }
        m.push(61);
        m.extend_from_slice(&[b'y'; 61]);
        m.push(0);
        assert!(read_name(&m, 12, m.len()).is_ok());
    }

    #[test]
    fn truncated_name() {
        let m = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, b'a', b'b'];
        assert_eq!(
            read_name(&m, 12, m.len()).unwrap_err().kind,
            ErrorKind::Truncated
        );
        // A limit (rdata end) shorter than the message also truncates.
        let m = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, b'a', 0];
        assert_eq!(
            read_name(&m, 12, 14).unwrap_err().kind,
            ErrorKind::Truncated
        );
    }
}
