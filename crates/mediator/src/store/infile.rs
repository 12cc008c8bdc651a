//! LOAD DATA LOCAL INFILE from memory for the MySQL backend: the text encoding of rows and the
//! in-memory "files" the server asks for.
//!
//! Why: the raw rows (`flows`, `tcp`, `dns`) are most of the bytes of a batch. As tab-separated
//! text the server parses them with less work than bound binary parameters, and the client
//! builds no `Value` per cell (benches/store_load.rs compares both). No maintained crate
//! writes MySQL's LOAD DATA text format, hence the encoder here; it is small and its escaping is
//! tested against the server (tests/store_suite.rs, `hostile_text_round_trips`).
//!
//! The server can ask for a local file in reply to any statement, so the handler serves only
//! the in-memory files registered here for the duration of one statement, by name, and never
//! touches the filesystem.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use mysql_async::prelude::GlobalHandler;
use mysql_async::{InfileData, LocalInfileError};

use super::prep;

/// The text format, spelled out in every statement so that server defaults cannot change it.
/// Hex literals rather than '\t': they read the same under sql_mode NO_BACKSLASH_ESCAPES.
pub const FORMAT: &str = "CHARACTER SET utf8mb4 FIELDS TERMINATED BY X'09' ENCLOSED BY '' \
    ESCAPED BY X'5C' LINES STARTING BY '' TERMINATED BY X'0A'";

/// Upper bound of one data packet; the server's max_allowed_packet may lower it.
const MAX_CHUNK: usize = 1 << 20;
/// Lower bound, for a server configured with an absurdly small max_allowed_packet.
const MIN_CHUNK: usize = 256;

/// Rows of one table as LOAD DATA text: fields separated by tabs, rows ended by newlines, with
/// backslash escapes for the bytes that would otherwise end a field or row.
#[derive(Debug, Default)]
pub struct Tsv {
    buf: Vec<u8>,
    rows: usize,
    row_open: bool,
}

impl Tsv {
    pub fn with_capacity(bytes: usize) -> Tsv {
        Tsv {
            buf: Vec::with_capacity(bytes),
            ..Tsv::default()
        }
    }

    fn sep(&mut self) {
        if self.row_open {
            self.buf.push(b'\t');
        }
        self.row_open = true;
    }

    pub fn null(&mut self) {
        self.sep();
        self.buf.extend_from_slice(b"\\N");
    }

    pub fn uint(&mut self, v: u64) {
        self.sep();
        push_decimal(&mut self.buf, v, 1);
    }

    pub fn opt_uint(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.uint(v),
            None => self.null(),
        }
    }

    /// Any text, escaped so that the server reads back exactly these bytes.
    pub fn text(&mut self, s: &str) {
        self.sep();
        escape_into(&mut self.buf, s.as_bytes());
    }

    /// Binary as hex digits, for a column read through `UNHEX(@var)`.
    pub fn hex(&mut self, b: &[u8]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        self.sep();
        for &x in b {
            self.buf.push(DIGITS[usize::from(x >> 4)]);
            self.buf.push(DIGITS[usize::from(x & 15)]);
        }
    }

    /// A DATETIME(3) value, `\N` when out of range (as the bound parameters give NULL).
    pub fn datetime(&mut self, ms: i64) {
        let Some(c) = prep::civil_from_ms(ms) else {
            return self.null();
        };
        self.sep();
        let b = &mut self.buf;
        push_decimal(b, u64::from(c.year), 4);
        b.push(b'-');
        push_decimal(b, u64::from(c.month), 2);
        b.push(b'-');
        push_decimal(b, u64::from(c.day), 2);
        b.push(b' ');
        push_decimal(b, u64::from(c.hour), 2);
        b.push(b':');
        push_decimal(b, u64::from(c.minute), 2);
        b.push(b':');
        push_decimal(b, u64::from(c.second), 2);
        b.push(b'.');
        push_decimal(b, u64::from(c.milli), 3);
    }

    pub fn end_row(&mut self) {
        self.buf.push(b'\n');
        self.rows += 1;
        self.row_open = false;
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    #[cfg(test)]
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Decimal digits of `v`, left-padded with zeros to `width`. Hand-written: `write!` through
/// the formatting machinery was a visible share of the client's time for millions of cells.
fn push_decimal(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut tmp = [0u8; 20];
    let mut n = 0;
    for slot in tmp.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
        n += 1;
        if v == 0 && n >= width {
            break;
        }
    }
    out.extend_from_slice(&tmp[tmp.len() - n..]);
}

/// Escapes for LOAD DATA with ESCAPED BY '\\': the field and line terminators, the escape
/// character itself, and NUL, CR and Ctrl-Z (read literally by the server, escaped anyway so
/// that the text survives any tool that looks at it). UTF-8 continuation bytes are never ASCII,
/// so escaping byte by byte cannot split a character.
fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    let special = |b: u8| matches!(b, b'\\' | b'\t' | b'\n' | b'\r' | 0 | 26);
    if !s.iter().any(|&b| special(b)) {
        out.extend_from_slice(s);
        return;
    }
    for &b in s {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\0"),
            26 => out.extend_from_slice(b"\\Z"),
            b => out.push(b),
        }
    }
}

/// Bytes per data packet for a connection whose max_allowed_packet is `max_allowed_packet`.
pub fn chunk_size(max_allowed_packet: u64) -> usize {
    usize::try_from(max_allowed_packet / 2)
        .unwrap_or(MAX_CHUNK)
        .clamp(MIN_CHUNK, MAX_CHUNK)
}

struct File {
    data: Vec<u8>,
    chunk: usize,
}

/// The in-memory files a server may ask for, by name. Shared by every connection of a pool
/// (a global handler), so concurrent commits use distinct names.
#[derive(Default)]
pub struct Files {
    next: AtomicU64,
    files: Mutex<HashMap<String, File>>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("infile::Files")
    }
}

/// A registered file; dropping it unregisters the file if the server never asked for it (the
/// statement failed before), so nothing is kept past its statement.
pub struct Registered {
    files: Arc<Files>,
    name: String,
}

impl Registered {
    /// The file name for the statement's `LOAD DATA LOCAL INFILE '...'`: only `[a-z0-9-]`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut m) = self.files.files.lock() {
            m.remove(&self.name);
        }
    }
}

impl Files {
    /// Registers `data`, sent in packets of at most `chunk` bytes.
    pub fn register(self: &Arc<Self>, data: Vec<u8>, chunk: usize) -> Registered {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("pdns-mem-{n}");
        if let Ok(mut m) = self.files.lock() {
            m.insert(
                name.clone(),
                File {
                    data,
                    chunk: chunk.max(1),
                },
            );
        }
        Registered {
            files: Arc::clone(self),
            name,
        }
    }

    fn take(&self, name: &[u8]) -> Option<File> {
        let name = std::str::from_utf8(name).ok()?;
        self.files.lock().ok()?.remove(name)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the server asked for local file {0:?}, which this loader did not offer")]
struct NotOffered(String);

/// The pool-wide LOCAL INFILE handler: serves registered files once, refuses anything else.
#[derive(Debug, Clone)]
pub struct Handler(pub Arc<Files>);

impl GlobalHandler for Handler {
    fn handle(&self, file_name: &[u8]) -> BoxFuture<'static, Result<InfileData, LocalInfileError>> {
        let file = self.0.take(file_name);
        let name = String::from_utf8_lossy(file_name).into_owned();
        Box::pin(async move {
            let File { data, chunk } =
                file.ok_or_else(|| LocalInfileError::other(NotOffered(name)))?;
            // Each packet is a view into the one buffer: no copy per chunk.
            let data = bytes::Bytes::from(data);
            let len = data.len();
            let s = futures_util::stream::iter((0..len).step_by(chunk))
                .map(move |from| Ok(data.slice(from..(from + chunk).min(len))));
            Ok(s.boxed())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal() {
        let mut b = Vec::new();
        push_decimal(&mut b, 0, 1);
        b.push(b' ');
        push_decimal(&mut b, 7, 3);
        b.push(b' ');
        push_decimal(&mut b, u64::MAX, 1);
        b.push(b' ');
        push_decimal(&mut b, 2024, 4);
        assert_eq!(b, b"0 007 18446744073709551615 2024");
    }

    #[test]
    fn escapes_every_terminator() {
        let mut t = Tsv::default();
        t.uint(1);
        t.text("a\tb\nc\\d\re\0f\u{1a}g\\N");
        t.null();
        t.text("");
        t.text("NULL");
        t.hex(&[0x00, 0xab, 0xff]);
        t.end_row();
        t.datetime(1_700_000_000_123);
        t.datetime(-1);
        t.opt_uint(None);
        t.opt_uint(Some(5));
        t.end_row();
        assert_eq!(t.rows(), 2);
        assert_eq!(
            t.bytes(),
            b"1\ta\\tb\\nc\\\\d\\re\\0f\\Zg\\\\N\t\\N\t\tNULL\t00abff\n\
              2023-11-14 22:13:20.123\t\\N\t\\N\t5\n"
        );
    }

    #[test]
    fn utf8_passes_unescaped() {
        let mut t = Tsv::default();
        t.text("h\u{e9}llo.\u{4e2d}\u{6587}.\u{1f600}");
        assert_eq!(
            t.bytes(),
            "h\u{e9}llo.\u{4e2d}\u{6587}.\u{1f600}".as_bytes()
        );
    }

    #[test]
    fn chunk_sizes_fit_the_packet_limit() {
        assert_eq!(chunk_size(8192), 4096);
        assert_eq!(chunk_size(16 << 20), MAX_CHUNK);
        assert_eq!(chunk_size(0), MIN_CHUNK);
        assert_eq!(chunk_size(u64::MAX), MAX_CHUNK);
    }

    #[tokio::test]
    async fn handler_serves_registered_files_once_in_chunks() {
        let files = Arc::new(Files::default());
        let h = Handler(Arc::clone(&files));
        let data: Vec<u8> = (0..10u8).collect();
        let reg = files.register(data.clone(), 4);
        let s = h.handle(reg.name().as_bytes()).await.unwrap();
        let chunks: Vec<Vec<u8>> = s.map(|c| c.unwrap().to_vec()).collect().await;
        assert_eq!(chunks, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
        // Once only, and never anything that was not offered.
        assert!(h.handle(reg.name().as_bytes()).await.is_err());
        assert!(h.handle(b"/etc/passwd").await.is_err());
    }

    #[test]
    fn unregistered_on_drop() {
        let files = Arc::new(Files::default());
        let name = {
            let reg = files.register(vec![1], 4);
            reg.name().to_string()
        };
        assert!(files.take(name.as_bytes()).is_none());
    }
}
