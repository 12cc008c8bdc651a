//! `--in-dir --once` with the airlock convention, archive and error directories, a truncated
//! file, a garbage file, and the same file offered twice; real binary, real MariaDB.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;
mod e2e_support;

use std::path::Path;
use std::time::Duration;

use e2e_support::*;

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_spool_once_lock_archive_error_truncated_and_reload() {
    let cfg = mysql(common::mariadb::fresh_config("spool"));
    let t = tempfile::tempdir().unwrap();
    let (spool, archive, errors) = (
        t.path().join("spool"),
        t.path().join("archive"),
        t.path().join("error"),
    );
    std::fs::create_dir_all(&spool).unwrap();
    let fx = fixture_inputs();
    let yafs: Vec<_> = fx
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaf"))
        .collect();
    assert!(yafs.len() >= 4);
    let (a, b, c, d) = (yafs[0], yafs[1], yafs[2], yafs[3]);
    std::fs::copy(a, spool.join("a.yaf")).unwrap();
    std::fs::copy(b, spool.join("b.yaf")).unwrap();
    std::fs::copy(c, spool.join("c.yaf")).unwrap();
    std::fs::write(spool.join("c.yaf.lock"), b"").unwrap();
    std::fs::write(spool.join("orphan.lock"), b"").unwrap();
    // Truncated inside its last message, as a writer killed mid-write leaves it.
    let mut tr = std::fs::read(d).unwrap();
    tr.truncate(tr.len() - 7);
    std::fs::write(spool.join("trunc.yaf"), &tr).unwrap();
    std::fs::write(
        spool.join("garbage.yaf"),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();

    let mut args = vec!["run".to_string()];
    args.extend(db_args(&cfg));
    let dirs = |archive: bool| {
        let mut v: Vec<String> = vec![
            "--in-dir".into(),
            spool.display().to_string(),
            "--once".into(),
        ];
        if archive {
            v.extend([
                "--archive-dir".into(),
                t.path().join("archive").display().to_string(),
            ]);
        }
        v.extend(["--error-dir".into(), errors.display().to_string()]);
        v
    };
    let mut first = args.clone();
    first.extend(dirs(true));
    let out = run_mediator(&first);
    // Files went to the error directory: --once reports it in its exit status.
    assert!(!out.status.success());

    let exp = |p: &Path| expected_counts(p);
    let trunc_path = errors.join("trunc.yaf");
    let (fa, da) = exp(a);
    let (fb, db) = exp(b);
    let (ft, dt) = exp(&trunc_path);
    assert!(ft > 0, "the truncated file still has complete messages");
    let c1 = counts(&cfg).await;
    assert_eq!((c1.flows, c1.dns), (fa + fb + ft, da + db + dt));

    assert_eq!(names(&archive), vec!["a.yaf", "b.yaf"]);
    assert_eq!(names(&spool), vec!["c.yaf", "c.yaf.lock", "orphan.lock"]);
    assert_eq!(
        names(&errors),
        vec![
            "garbage.yaf",
            "garbage.yaf.reason",
            "trunc.yaf",
            "trunc.yaf.reason"
        ]
    );
    let reason = std::fs::read_to_string(errors.join("trunc.yaf.reason")).unwrap();
    let good = complete_len(&trunc_path);
    assert!(good > 0 && good < tr.len() as u64);
    assert!(
        reason.contains(&format!("from byte offset {good} ")),
        "reason {reason:?} should name offset {good}"
    );
    let reason = std::fs::read_to_string(errors.join("garbage.yaf.reason")).unwrap();
    assert!(reason.contains("from byte offset 0 "), "{reason}");
    // Error files are kept byte for byte.
    assert_eq!(std::fs::read(&trunc_path).unwrap(), tr);

    // The writer finishes c; a is offered again (same content): no duplicate rows. Without
    // --archive-dir loaded files are deleted.
    std::fs::remove_file(spool.join("c.yaf.lock")).unwrap();
    std::fs::copy(a, spool.join("a-again.yaf")).unwrap();
    let mut second = args.clone();
    second.extend(dirs(false));
    let out = run_mediator(&second);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (fc, dc) = exp(c);
    let c2 = counts(&cfg).await;
    assert_eq!((c2.flows, c2.dns), (c1.flows + fc, c1.dns + dc));
    assert_eq!(names(&spool), vec!["orphan.lock"]);
    assert_eq!(names(&archive), vec!["a.yaf", "b.yaf"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_in_file_never_touches_input_and_is_idempotent_sqlite() {
    let t = tempfile::tempdir().unwrap();
    let cfg = sqlite(&t.path().join("db.sqlite3"));
    let f = t.path().join("x.yaf");
    let src = &fixture_inputs()[0];
    std::fs::copy(src, &f).unwrap();
    let before = std::fs::read(&f).unwrap();
    let mut args = vec!["run".to_string()];
    args.extend(db_args(&cfg));
    args.extend(["--in-file".into(), f.display().to_string()]);
    for _ in 0..2 {
        assert!(run_mediator(&args).status.success());
    }
    assert_eq!(std::fs::read(&f).unwrap(), before);
    let (fl, dn) = expected_counts(&f);
    let c = counts(&cfg).await;
    assert_eq!((c.flows, c.dns), (fl, dn));
}

/// A running `--in-dir` (no --once) picks up files that appear later, but only once their
/// writer removed the `.lock` (YAF's and flowmeter's `--lock`), then deletes them.
#[tokio::test(flavor = "multi_thread")]
async fn e2e_spool_polls_for_new_files_and_waits_for_their_lock() {
    let t = tempfile::tempdir().unwrap();
    let cfg = sqlite(&t.path().join("db.sqlite3"));
    let spool = t.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let mut args = vec!["run".to_string()];
    args.extend(db_args(&cfg));
    args.extend([
        "--in-dir".into(),
        spool.display().to_string(),
        "--poll-interval".into(),
        "0.2".into(),
    ]);
    let log = t.path().join("mediator.log");
    let child = start_mediator(&args, &log);
    let src = fixture_inputs()
        .into_iter()
        .find(|p| expected_counts(p).0 > 0)
        .unwrap();
    let (ef, ed) = expected_counts(&src);
    // The writer is still at it: lock first, then the file.
    std::fs::write(spool.join("late.yaf.lock"), b"").unwrap();
    std::fs::copy(&src, spool.join("late.yaf")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(counts(&cfg).await.flows, 0, "a locked file was loaded");
    assert!(spool.join("late.yaf").exists());
    std::fs::remove_file(spool.join("late.yaf.lock")).unwrap();
    let c = wait_counts(&cfg, Duration::from_secs(30), |c| c.flows >= ef).await;
    assert_eq!((c.flows, c.dns), (ef, ed));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while spool.join("late.yaf").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!spool.join("late.yaf").exists(), "loaded file not deleted");
    assert!(child.terminate().success());
}
