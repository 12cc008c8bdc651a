//! Every IPFIX file real exporters wrote (YAF 2.16.4, softflowd, pmacct, python-ipfix, Cisco
//! and Huawei routers) decodes without error, re-encodes byte-identical, and yields as many
//! top-level data records as libfixbuf's ipfixDump finds.

mod common;

use std::path::PathBuf;

use common::*;

fn check_files(files: &[PathBuf]) -> (usize, usize) {
    assert!(!files.is_empty(), "no files to check");
    let mut failures = Vec::new();
    let mut total_records = 0;
    let mut compared = 0;
    for f in files {
        let bytes = std::fs::read(f).expect("read file");
        let stats = match decode_all(&bytes) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{}: {e}", f.display()));
                continue;
            }
        };
        if let Some(off) = stats.reencode_mismatch {
            failures.push(format!(
                "{}: re-encoding differs in message at {off}",
                f.display()
            ));
        }
        if !stats.warnings.is_empty() {
            failures.push(format!("{}: warnings {:?}", f.display(), stats.warnings));
        }
        if let Some(n) = reference_record_count(f) {
            compared += 1;
            if n != stats.records {
                failures.push(format!(
                    "{}: {} top-level records, ipfixDump says {n}",
                    f.display(),
                    stats.records
                ));
            }
        }
        total_records += stats.records;
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    (total_records, compared)
}

#[test]
fn corpus_yaf_files_decode_reencode_and_count() {
    let Some(c) = corpus() else {
        eprintln!("corpus not found, skipped");
        return;
    };
    let files = files_with_suffix(&c.join("yaf"), ".yaf");
    let (records, compared) = check_files(&files);
    eprintln!(
        "{} YAF files, {records} records, {compared} counts compared",
        files.len()
    );
    assert!(
        compared >= files.len() - 2,
        "too few reference counts: {compared}"
    );
}

#[test]
fn corpus_other_exporters_decode_reencode_and_count() {
    let Some(c) = corpus() else {
        eprintln!("corpus not found, skipped");
        return;
    };
    let files = files_with_suffix(&c.join("ipfix"), ".ipfix");
    let (records, compared) = check_files(&files);
    eprintln!(
        "{} IPFIX files, {records} records, {compared} counts compared",
        files.len()
    );
}

#[test]
fn fixture_files_decode_reencode_and_count() {
    let d = fixtures();
    let mut files = files_with_suffix(&d.join("yaf"), ".yaf");
    files.extend(files_with_suffix(&d.join("ipfix"), ".ipfix"));
    let (records, compared) = check_files(&files);
    eprintln!(
        "{} fixture files, {records} records, {compared} counts compared",
        files.len()
    );
    assert!(records > 0);
}

#[test]
fn file_reader_and_writer_reproduce_fixture_files() {
    use ipfix_model::{FileReader, FileWriter};
    let d = fixtures();
    let mut files = files_with_suffix(&d.join("yaf"), ".yaf");
    files.extend(files_with_suffix(&d.join("ipfix"), ".ipfix"));
    assert!(!files.is_empty());
    for f in files {
        let orig = std::fs::read(&f).expect("read fixture");
        let mut rd = FileReader::new(&orig[..]);
        let mut wr = FileWriter::new(Vec::new());
        let mut n = 0;
        while let Some(m) = rd.next_message().expect("decodes") {
            wr.write(&m).expect("writes");
            n += m.data_record_count();
        }
        assert_eq!(rd.offset(), orig.len() as u64);
        assert_eq!(wr.written(), orig.len() as u64);
        assert!(
            wr.into_inner() == orig,
            "{} differs after read/write",
            f.display()
        );
        assert_eq!(Some(n), reference_record_count(&f), "{}", f.display());
    }
}
