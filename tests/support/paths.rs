//! The repository, its fixtures (tests/data) and the shared corpus next to the checkout.

use std::path::{Path, PathBuf};

/// The repository root: the nearest directory above the including package that holds the
/// workspace's Cargo.lock (this module is compiled into more than one package).
pub fn repo() -> PathBuf {
    let pkg = Path::new(env!("CARGO_MANIFEST_DIR"));
    pkg.ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(pkg)
        .to_path_buf()
}

/// `../shared/corpus` next to the checkout, if this machine has it (a clone does not).
pub fn corpus() -> Option<PathBuf> {
    let c = repo().join("../shared/corpus");
    c.is_dir().then_some(c)
}

/// Files under `dir` (recursively) whose extension is `ext`, appended to `out`.
pub fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// tests/data's YAF (`.yaf`) and other exporters' (`.ipfix`) files, sorted.
pub fn fixture_inputs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    files_under(&repo().join("tests/data/yaf"), "yaf", &mut v);
    files_under(&repo().join("tests/data/ipfix"), "ipfix", &mut v);
    v.sort();
    v
}

/// The corpus's YAF and IPFIX files, sorted; empty, with a note, when the corpus is absent.
pub fn corpus_inputs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    match corpus() {
        Some(c) => {
            files_under(&c.join("yaf"), "yaf", &mut v);
            files_under(&c.join("ipfix"), "ipfix", &mut v);
        }
        None => eprintln!("NOTE: ../shared/corpus not found: whole-corpus part skipped"),
    }
    v.sort();
    v
}

/// Fixtures and (when present) corpus files together, sorted.
pub fn all_inputs() -> Vec<PathBuf> {
    let mut v = fixture_inputs();
    v.extend(corpus_inputs());
    v.sort();
    v
}

/// YAF files to build load from: the corpus's when present, else tests/data's.
pub fn yaf_inputs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    match corpus() {
        Some(c) => files_under(&c.join("yaf"), "yaf", &mut v),
        None => files_under(&repo().join("tests/data/yaf"), "yaf", &mut v),
    }
    v.sort();
    v
}

/// A capture under tests/data/pcap.
pub fn fixture_pcap(rel: &str) -> PathBuf {
    repo().join("tests/data/pcap").join(rel)
}

/// YAF's ipfixDump text for a capture under tests/data/pcap (same relative path, .dump.txt).
pub fn fixture_dump(rel_pcap: &str) -> PathBuf {
    let rel = Path::new(rel_pcap).with_extension("dump.txt");
    repo().join("tests/data/yaf").join(rel)
}

/// A fresh temporary directory for one test.
pub fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().unwrap()
}
