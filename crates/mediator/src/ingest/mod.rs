//! From IPFIX bytes to store batches: decode a file (or journal) message by message with one
//! template session, map every top-level data record, and cut the result into chunks whose
//! boundaries depend only on the file's content, so that a file offered again after a crash
//! yields the same `(key, chunk)` pairs and the store's ledger turns the reload into a no-op.

pub mod map;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use ipfix_model::ie::ids::{OBSERVATION_DOMAIN_ID, SYSTEM_INIT_TIME_MILLISECONDS};
use ipfix_model::{DecodeError, FileReader, SetContent};
use sha2::{Digest, Sha256};

use crate::store::model::{Batch, BatchSource, FlowRow};
use map::{MapStats, RecordContext};

/// A chunk ends at the first message boundary after this many bytes of messages. A constant,
/// not a flag: changing it between a crash and the restart would change the chunk boundaries
/// of a half-loaded file and let rows load twice. 4 MiB of YAF DNS flows is roughly 20k flow
/// rows, a transaction size both MariaDB and SQLite handle comfortably.
pub const CHUNK_BYTES: u64 = 4 << 20;

/// Exporters whose `systemInitTimeMilliseconds` a session remembers (bounded against a hostile
/// stream inventing domains).
const MAX_DOMAINS: usize = 4096;

/// Rows of one chunk of a file, with the byte range of the messages they came from.
#[derive(Debug)]
pub struct Chunk {
    pub index: u64,
    pub start_offset: u64,
    pub end_offset: u64,
    pub flows: Vec<FlowRow>,
}

impl Chunk {
    pub fn into_batch(self, source: &BatchSource) -> Batch {
        Batch {
            source: source.clone(),
            chunk: self.index,
            flows: self.flows,
        }
    }
}

/// Decodes a stream of IPFIX messages into [`Chunk`]s. After `next_chunk` returns `None`,
/// [`Decoder::error`] says whether the stream ended cleanly; the chunks returned before hold
/// every complete message up to the error.
pub struct Decoder<R> {
    reader: FileReader<R>,
    sensor: String,
    system_init: HashMap<u32, u64>,
    stats: MapStats,
    next_index: u64,
    finished: bool,
    error: Option<DecodeError>,
    messages: u64,
    undecoded_sets: u64,
    /// End of the last message that decoded. The reader's own offset can be past a message
    /// that framed but did not decode.
    consumed: u64,
}

impl<R: Read> Decoder<R> {
    pub fn new(inner: R, sensor: impl Into<String>) -> Self {
        Self {
            reader: FileReader::new(inner),
            sensor: sensor.into(),
            system_init: HashMap::new(),
            stats: MapStats::default(),
            next_index: 0,
            finished: false,
            error: None,
            messages: 0,
            undecoded_sets: 0,
            consumed: 0,
        }
    }

    pub fn error(&self) -> Option<&DecodeError> {
        self.error.as_ref()
    }

    pub fn stats(&self) -> &MapStats {
        &self.stats
    }

    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Data sets whose template was unknown (their records cannot be mapped).
    pub fn undecoded_sets(&self) -> u64 {
        self.undecoded_sets
    }

    /// Stream offset after the last message that decoded (where an error, if any, starts).
    pub fn offset(&self) -> u64 {
        self.consumed
    }

    /// The next chunk, or `None` at the end (clean or not: see [`Decoder::error`]).
    pub fn next_chunk(&mut self) -> Option<Chunk> {
        if self.finished {
            return None;
        }
        let start_offset = self.consumed;
        let mut flows = Vec::new();
        let mut any = false;
        loop {
            if self.consumed - start_offset >= CHUNK_BYTES {
                break;
            }
            let at = self.reader.offset();
            let msg = match self.reader.next_message() {
                Ok(Some(m)) => m,
                Ok(None) => {
                    self.finished = true;
                    break;
                }
                Err(e) => {
                    self.finished = true;
                    self.error = Some(e);
                    break;
                }
            };
            any = true;
            self.messages += 1;
            self.consumed = at + u64::from(msg.header.length);
            let domain = msg.header.domain_id;
            // Options records first: a router's systemInitTimeMilliseconds may come in the same
            // message as the flows that need it.
            for rec in msg.data_records().filter(|r| r.template.is_options()) {
                if let Some(init) = map::uint(rec, SYSTEM_INIT_TIME_MILLISECONDS) {
                    let d = map::uint(rec, OBSERVATION_DOMAIN_ID)
                        .and_then(|d| u32::try_from(d).ok())
                        .unwrap_or(domain);
                    if self.system_init.contains_key(&d) || self.system_init.len() < MAX_DOMAINS {
                        self.system_init.insert(d, init);
                    }
                }
            }
            let ctx = RecordContext {
                export_time: msg.header.export_time,
                domain_id: domain,
                system_init_ms: self.system_init.get(&domain).copied(),
                sensor: self.sensor.clone(),
            };
            for set in &msg.sets {
                match &set.content {
                    SetContent::Data { records, .. } => {
                        for rec in records {
                            if let Some(row) = map::map_record(rec, &ctx, &mut self.stats) {
                                flows.push(row);
                            }
                        }
                    }
                    SetContent::Undecoded(_) if set.id >= ipfix_model::message::MIN_DATA_SET_ID => {
                        self.undecoded_sets += 1;
                    }
                    _ => {}
                }
            }
        }
        if !any {
            return None;
        }
        let index = self.next_index;
        self.next_index += 1;
        Some(Chunk {
            index,
            start_offset,
            end_offset: self.consumed,
            flows,
        })
    }
}

/// Opens `path` for decoding.
pub fn open_file(path: &Path, sensor: &str) -> io::Result<Decoder<BufReader<File>>> {
    let f = File::open(path)?;
    Ok(Decoder::new(BufReader::with_capacity(1 << 16, f), sensor))
}

/// Stable identity of a file's content for the ledger: SHA-256 and size. The name is left out
/// on purpose: a file renamed, archived and put back, or copied into a second spool, is the
/// same data and must not load twice.
pub fn content_key(path: &Path) -> io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        size += n as u64;
        h.update(buf.get(..n).unwrap_or_default());
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((format!("ipfix-sha256:{hex}:{size}"), size))
}
