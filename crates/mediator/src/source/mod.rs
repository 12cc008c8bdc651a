//! Inputs: files (`--in-file`), spool directories (`--in-dir` and the network journal), and
//! the TCP/UDP listeners, which journal into the spool rather than write the database.
//!
//! # Delivery guarantees (what the README states)
//!
//! **Loading (every input ends here).** A file is decoded as one IPFIX session and cut into
//! chunks at message boundaries (first boundary after 4 MiB; content-determined). Each chunk's
//! rows, its passive-DNS aggregate updates and a ledger row keyed by (SHA-256 + size of the
//! file, chunk index) commit in one transaction; a chunk already in the ledger is skipped.
//! - Database restarted, connection killed, deadlock, lock timeout: the chunk is retried with
//!   backoff (200 ms doubling to 30 s) for as long as it takes. No loss, no duplicates.
//! - Mediator killed (any signal, power loss) mid-file: the file is still there (spool files
//!   are removed or archived only after their last chunk committed; `--in-file` inputs are never
//!   touched); the next run reloads it and the ledger skips the committed chunks.
//! - The same bytes offered again, under any name, load nothing. Not covered: a file that was
//!   loaded while still being written (no `.lock`, no rename) and later offered complete has
//!   different content, so its common prefix loads twice. Writers must use `--lock` (YAF,
//!   flowmeter) or write-then-rename.
//! - A file that is not valid IPFIX from some offset: every complete message before it is
//!   loaded; in a spool directory the file then moves to the error directory with
//!   `<name>.reason` (offset, error, what was loaded) and is never deleted.
//!
//! **Network input.** Each message is read whole, decoded (to validate it and track the
//! session's templates), and written to the session's journal file with `write(2)` before the
//! next one is read. Journal files rotate by size/age, start with the session's templates, are
//! fsynced (file and directory) before their `.lock` is removed, and only then are loaded.
//! - Mediator killed (`kill -9`, crash, OOM): every message it had read is in a journal; the
//!   next start on the same `--spool-dir` unlocks the dead process's journals (cutting a
//!   partial last message, if any) and loads them.
//! - Not covered: bytes the kernel had received but the mediator had not read, and messages the
//!   exporter had not sent: IPFIX over TCP has no acknowledgement, so only an exporter-side
//!   replay (flowmeter's replay window) closes that gap. A machine crash can lose what the page
//!   cache held of the journal file still open (at most `--rotate-seconds`, default 10 s).
//! - A session sending invalid IPFIX (wrong version, length < 16 or above
//!   `--max-message-size`, undecodable sets) is closed with a log line naming the peer and the
//!   byte offset; its earlier messages are kept, the rest is not. Other sessions carry on.
//! - UDP: the same journaling; invalid datagrams are dropped and counted; no back-pressure.
//!
//! **Back-pressure and memory.** Sessions never wait for the database: a slow or absent
//! database fills the spool, not memory. With `--spool-max-bytes`, sessions stop reading while
//! that many journal bytes wait, so TCP exporters block. Memory per TCP session is at most one
//! message plus a 64 KiB read buffer; per ingester about two chunks of rows.
//!
//! **Shutdown (SIGTERM/SIGINT).** Listeners stop accepting, sessions close their journals
//! (fsync, unlock), the ingester finishes the commit in flight (waiting at most 15 s when the
//! database is down) and stops; exit status 0. A partly loaded file stays and is completed by
//! the next run. A second signal exits at once, which is still safe.

pub mod file;
pub mod spool;
pub mod tcp;
pub mod udp;
