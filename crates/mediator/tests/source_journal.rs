//! The journal's promise: every rotated file decodes on its own (it starts with the session's
//! templates), rotation loses and duplicates nothing, locks are gone after `finish`, and
//! recovery cuts a partial last message and unlocks a dead process's file.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;
mod e2e_support;

use std::collections::BTreeSet;
use std::time::Duration;

use e2e_support::*;
use ipfix_model::{FileReader, Session};
use mediator::ingest;
use mediator::journal::{self, Journal, JournalConfig};
use mediator::source::spool::ready_files;

/// Feeds `path`'s messages through a journal the way a TCP session does.
fn journal_file(path: &std::path::Path, cfg: JournalConfig) -> u64 {
    let peer = "192.0.2.7:40000".parse().unwrap();
    let mut j = Journal::new(cfg, "tcp", peer);
    let mut s = Session::new();
    let mut domains = BTreeSet::new();
    let mut rd = FileReader::new(std::fs::File::open(path).unwrap());
    let mut n = 0;
    while let Some((at, raw)) = rd.next_raw().unwrap() {
        let raw = raw.to_vec();
        j.prepare(&s, &domains).unwrap();
        let m = s.decode(&raw, at).unwrap();
        domains.insert(m.header.domain_id);
        j.append(&raw).unwrap();
        n += 1;
    }
    j.finish().unwrap();
    n
}

#[test]
fn source_journal_every_rotated_file_decodes_alone() {
    let mut inputs = fixture_inputs();
    inputs.retain(|p| p.extension().is_some_and(|e| e == "yaf"));
    let t = tempfile::tempdir().unwrap();
    let stream = t.path().join("stream.yaf");
    concat_file(&inputs, 1, &stream);
    let (ef, ed) = expected_counts(&stream);

    let dir = t.path().join("spool");
    std::fs::create_dir_all(&dir).unwrap();
    // Rotate after every message: the harshest case for template carry-over.
    let cfg = JournalConfig::new(dir.clone(), 1, Duration::from_secs(3600));
    let messages = journal_file(&stream, cfg.clone());
    let files = ready_files(&dir).unwrap();
    assert_eq!(files.len() as u64, messages, "one file per message");
    assert!(std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().ends_with(".lock")));
    assert_eq!(
        journal::journal_sensor(&files[0].file_name().unwrap().to_string_lossy()).as_deref(),
        Some("192.0.2.7")
    );

    let (mut flows, mut dns) = (0u64, 0u64);
    let mut total = 0u64;
    for f in &files {
        total += std::fs::metadata(f).unwrap().len();
        let mut dec = ingest::open_file(f, "x").unwrap();
        while let Some(c) = dec.next_chunk() {
            flows += c.flows.len() as u64;
            dns += c.flows.iter().map(|f| f.dns.len() as u64).sum::<u64>();
        }
        assert!(dec.error().is_none(), "{}: {:?}", f.display(), dec.error());
        assert_eq!(dec.undecoded_sets(), 0, "{} lacks a template", f.display());
    }
    assert_eq!((flows, dns), (ef, ed));
    assert_eq!(
        cfg.pending.load(std::sync::atomic::Ordering::Relaxed),
        total
    );
}

#[test]
fn source_journal_recovery_cuts_partial_message_and_unlocks() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().to_path_buf();
    let src = &fixture_inputs()[0];
    let bytes = std::fs::read(src).unwrap();
    let name = "mediator-20260101000000-00000000-1-tcp-192.0.2.1_1234.ipfix";
    // A dead writer's journal: complete messages plus half a message, lock still there.
    let mut data = bytes.clone();
    data.extend_from_slice(&bytes[..40]);
    std::fs::write(dir.join(name), &data).unwrap();
    std::fs::write(dir.join(format!("{name}.lock")), b"1\n").unwrap();
    // Someone else's locked file is not ours to touch.
    std::fs::write(dir.join("yaf-1.yaf"), &bytes[..40]).unwrap();
    std::fs::write(dir.join("yaf-1.yaf.lock"), b"").unwrap();
    std::fs::write(dir.join("mediator-orphan.ipfix.lock"), b"").unwrap();

    let lock = journal::lock_dir(&dir).unwrap();
    // A second mediator on the same spool is refused while the first holds it.
    assert!(matches!(
        journal::lock_dir(&dir),
        Err(journal::JournalError::Busy(_))
    ));
    let r = journal::recover(&dir).unwrap();
    drop(lock);
    assert_eq!(r.files, 1);
    assert_eq!(r.truncated_bytes, 40);
    assert_eq!(std::fs::read(dir.join(name)).unwrap(), bytes);
    assert!(!dir.join(format!("{name}.lock")).exists());
    assert!(!dir.join("mediator-orphan.ipfix.lock").exists());
    assert!(dir.join("yaf-1.yaf.lock").exists());
    let ready: Vec<_> = ready_files(&dir).unwrap();
    assert_eq!(ready, vec![dir.join(name)]);
}
