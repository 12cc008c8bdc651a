//! File output: YAF's `--lock` protocol and `--rotate` file names, each file self-contained.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod export_support;

use std::path::{Path, PathBuf};

use export_support::*;
use flowmeter::config::ExportConfig;
use flowmeter::export::file::FileSink;
use flowmeter::export::{ExportError, SinkOptions};
use flowmeter::flow::{FlowSink, MeterStats};
use ipfix_model::Session;

fn cfg(out: &Path, rotate_s: Option<u64>, lock: bool) -> ExportConfig {
    ExportConfig {
        rotate_s,
        lock,
        stats_interval_s: 0,
        ..ExportConfig::file(out.to_string_lossy())
    }
}

fn lock_of(p: &Path) -> PathBuf {
    PathBuf::from(format!("{}.lock", p.display()))
}

fn read_log(p: &Path) -> ConnLog {
    let bytes = std::fs::read(p).unwrap();
    let mut log = ConnLog::default();
    let used = decode_stream(&bytes, &mut Session::new(), &mut log);
    assert_eq!(used, bytes.len(), "{}: trailing bytes", p.display());
    assert_eq!(
        log.undecoded_sets,
        0,
        "{}: data without templates",
        p.display()
    );
    log
}

#[test]
fn lock_exists_while_writing_and_is_removed_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.yaf");
    let mut sink = FileSink::open(&cfg(&out, None, true), &SinkOptions::default()).unwrap();
    assert!(
        lock_of(&out).exists(),
        "lock must exist before/while the file is written"
    );
    for i in 0..100 {
        sink.emit(synthetic_flow(i)).unwrap();
    }
    sink.flush().unwrap();
    assert!(lock_of(&out).exists(), "flush does not close the file");
    sink.on_stats(&MeterStats::default()).unwrap();
    sink.close().unwrap();
    assert!(!lock_of(&out).exists(), "lock must be gone after close");
    let log = read_log(&out);
    assert_eq!(log.flows, (0..100).collect::<Vec<_>>());
    assert_eq!((log.stats_records, log.tombstones), (1, 1));
}

#[test]
fn dropping_the_sink_also_closes_and_unlocks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dropped.yaf");
    {
        let mut sink = FileSink::open(&cfg(&out, None, true), &SinkOptions::default()).unwrap();
        sink.emit(synthetic_flow(1)).unwrap();
    }
    assert!(!lock_of(&out).exists());
    assert_eq!(read_log(&out).flows, vec![1]);
}

#[test]
fn existing_lock_is_an_error_and_the_file_is_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("busy.yaf");
    std::fs::write(&out, b"someone else's data").unwrap();
    std::fs::write(lock_of(&out), b"").unwrap();
    let err = FileSink::open(&cfg(&out, None, true), &SinkOptions::default()).unwrap_err();
    assert!(matches!(err, ExportError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("busy.yaf.lock"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"someone else's data");
    assert!(lock_of(&out).exists(), "a lock we did not create must stay");
}

#[test]
fn empty_run_still_writes_a_readable_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("empty.yaf");
    let sink = FileSink::open(&cfg(&out, None, false), &SinkOptions::default()).unwrap();
    sink.close().unwrap();
    let log = read_log(&out);
    assert!(log.flows.is_empty());
    assert!(log.template_messages >= 1);
}

fn wall() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn rotation_uses_yaf_names_packet_time_and_locks_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("yaf");
    let t_before = wall();
    let mut sink = FileSink::open(&cfg(&prefix, Some(60), true), &SinkOptions::default()).unwrap();
    // 240 flows one second apart in packet time: 4 files of 60 s (the wall clock barely moves).
    let mut current = Vec::new();
    for i in 0..240u32 {
        let mut f = synthetic_flow(i);
        f.start_ns = 1_700_000_000_000_000_000 + u64::from(i) * 1_000_000_000;
        f.end_ns = f.start_ns + 1000;
        sink.emit(f).unwrap();
        let cur = sink.current_path().unwrap().to_path_buf();
        assert!(lock_of(&cur).exists(), "current file must be locked");
        for closed in sink.closed_files() {
            assert!(!lock_of(closed).exists(), "closed file still locked");
        }
        if current.last() != Some(&cur) {
            current.push(cur);
        }
    }
    let mut files = sink.closed_files().to_vec();
    sink.close().unwrap();
    files.push(current.last().unwrap().clone());
    let t_after = wall();
    assert_eq!(files, current);
    assert_eq!(files.len(), 4, "{files:?}");

    let mut serials = Vec::new();
    let mut all = Vec::new();
    for f in &files {
        assert!(!lock_of(f).exists());
        let name = f.file_name().unwrap().to_str().unwrap();
        // yaf-YYYYMMDDhhmmss-NNNNN.yaf
        let rest = name
            .strip_prefix("yaf-")
            .unwrap()
            .strip_suffix(".yaf")
            .unwrap();
        let (stamp, serial) = rest.split_once('-').unwrap();
        assert_eq!(stamp.len(), 14, "{name}");
        assert_eq!(serial.len(), 5, "{name}");
        serials.push(serial.parse::<u32>().unwrap());
        let lo = flowmeter::export::file::rotated_name("yaf", t_before, 0);
        let hi = flowmeter::export::file::rotated_name("yaf", t_after, 0);
        assert!(
            &lo[4..18] <= stamp && stamp <= &hi[4..18],
            "{name}: time stamp not the wall clock at open"
        );
        let log = read_log(f);
        assert_eq!(log.tombstones, 1);
        all.extend(log.flows);
    }
    assert!(
        serials.windows(2).all(|w| w[0] < w[1]),
        "serials {serials:?}"
    );
    assert_eq!(
        all,
        (0..240).collect::<Vec<_>>(),
        "flows split across files without loss"
    );
    // 60 s of packet time per file: 60 flows each.
    let per_file: Vec<usize> = files.iter().map(|f| read_log(f).flows.len()).collect();
    assert_eq!(per_file, vec![60, 60, 60, 60]);
}
