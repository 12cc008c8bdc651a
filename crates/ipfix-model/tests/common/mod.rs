//! Shared helpers for the integration tests: finding corpus files and asking libfixbuf's
//! ipfixDump (the reference reader) how many top-level records a file holds.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ipfix_model::{frame_len, Message, Session};

/// The repository root (crates/ipfix-model/../..).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared/corpus` beside the checkout, when present.
pub fn corpus() -> Option<PathBuf> {
    let p = repo_root().join("../shared/corpus");
    p.is_dir().then_some(p)
}

/// Fixtures committed in the repository (tests/data).
pub fn fixtures() -> PathBuf {
    repo_root().join("tests/data")
}

/// Files under `dir` (recursively) whose name ends with `suffix`, sorted.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Top-level data records according to ipfixDump: from the `.dump.txt` beside a `.yaf` file,
/// else by running `ipfixDump`. ipfixDump numbers nested records too, indented by tabs, so
/// only unindented "--- data record" lines count. `None` when neither is available.
pub fn reference_record_count(file: &Path) -> Option<usize> {
    let s = file.to_string_lossy();
    let dump = s
        .strip_suffix(".yaf")
        .map(|b| PathBuf::from(format!("{b}.dump.txt")));
    let text = match dump.filter(|d| d.is_file()) {
        Some(d) => std::fs::read_to_string(d).ok()?,
        None => {
            let out = Command::new("ipfixDump")
                .arg("--in")
                .arg(file)
                .arg("--out")
                .arg("-")
                .output()
                .ok()?;
            if !out.status.success() {
                return None;
            }
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    Some(
        text.lines()
            .filter(|l| l.starts_with("--- data record"))
            .count(),
    )
}

/// What decoding a whole file gave.
#[derive(Debug, Default)]
pub struct FileStats {
    pub messages: usize,
    pub records: usize,
    pub warnings: Vec<String>,
    pub reencode_mismatch: Option<u64>,
}

/// Decodes every message of `bytes` with one session, re-encodes each and compares.
pub fn decode_all(bytes: &[u8]) -> Result<FileStats, ipfix_model::DecodeError> {
    let mut session = Session::new();
    let mut stats = FileStats::default();
    let mut off = 0usize;
    while off < bytes.len() {
        let rest = &bytes[off..];
        let len = frame_len(rest, 65535, off as u64)?.expect("4 bytes");
        let msg: Message<'_> = session.decode(rest, off as u64)?;
        stats.messages += 1;
        stats.records += msg.data_record_count();
        stats.warnings.extend(
            msg.warnings
                .iter()
                .filter(|w| !matches!(w, ipfix_model::Warning::SequenceGap { .. }))
                .map(|w| w.to_string()),
        );
        let re = msg.to_bytes().expect("re-encode");
        if re != rest[..len] && stats.reencode_mismatch.is_none() {
            stats.reencode_mismatch = Some(off as u64);
        }
        off += len;
    }
    Ok(stats)
}
