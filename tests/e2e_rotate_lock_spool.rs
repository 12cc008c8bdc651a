//! flowmeter --rotate --lock into a spool directory -> `mediator run --in-dir DIR --once`
//! (the cron job that replaced `for f in *.yaf; do mediator --in-file $f && rm $f; done`).
//! Files with a `.lock` beside them are left alone until unlocked, loaded files are archived or
//! deleted, a second --once loads nothing, and the database ends with exactly what the
//! flowmeter exported (ipfix-model's count of its files) and the seed's query results (YAF).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};

use common::seed::{corpus_case, fixture_case, Case};
use common::*;
use mysql_async::prelude::Queryable;

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn db_counts(url: &str) -> (u64, u64) {
    block_on(async {
        let mut opts =
            mysql_async::OptsBuilder::from_opts(mysql_async::Opts::from_url(url).unwrap());
        if let Ok(p) = std::env::var("MYSQL_PWD") {
            opts = opts.pass(Some(p));
        }
        let mut conn = mysql_async::Conn::new(opts).await.unwrap();
        let f: u64 = conn
            .query_first("SELECT COUNT(*) FROM flows")
            .await
            .unwrap()
            .unwrap();
        let d: u64 = conn
            .query_first("SELECT COUNT(*) FROM dns")
            .await
            .unwrap()
            .unwrap();
        conn.disconnect().await.unwrap();
        (f, d)
    })
}

#[test]
fn rotate_lock_files_load_once_through_in_dir() {
    // wikipedia.pcap spans 6.4 s of packet time: one file per second.
    run_case(fixture_case(), 4);
}

#[test]
fn rotate_lock_files_seed_queries_corpus() {
    let Some(c) = corpus() else {
        eprintln!("NOTE: ../shared/corpus not found: www.google.com/youtube.com variant skipped");
        return;
    };
    run_case(corpus_case(&c), 2);
}

fn run_case(case: Case<'_>, min_files: usize) {
    let tmp = tempdir("e2e-rotate.");
    let spool = tmp.path().join("spool");
    let archive = tmp.path().join("archive");
    std::fs::create_dir_all(&spool).unwrap();

    let mut args = vec!["--in".to_string()];
    args.extend(case.pcaps.iter().map(s));
    args.extend([
        "--out".into(),
        s(&spool.join("dns")),
        "--rotate".into(),
        "1".into(),
        "--lock".into(),
    ]);
    let summary = flowmeter(&args);
    let files: Vec<PathBuf> = names(&spool).iter().map(|n| spool.join(n)).collect();
    assert!(
        files.len() >= min_files,
        "expected several rotated files: {files:?}"
    );
    for f in &files {
        let n = f.file_name().unwrap().to_string_lossy();
        // <prefix>-YYYYMMDDhhmmss-NNNNN.yaf, as YAF names them; no lock left behind.
        assert!(
            n.starts_with("dns-") && n.ends_with(".yaf") && n.len() == "dns-".len() + 14 + 6 + 4,
            "{n}"
        );
    }
    let all = ipfix_counts(&files);
    assert_eq!(
        (all.flows, all.dns),
        (summary.flows, summary.dns_records),
        "flowmeter's summary vs its rotated files"
    );
    assert_eq!(
        all.flows,
        case.yaf().len() as u64,
        "flows: flowmeter vs YAF"
    );

    // The last file is "still being written": a .lock beside it. A stray lock file too.
    let last = files.last().unwrap().clone();
    let last_lock = PathBuf::from(format!("{}.lock", last.display()));
    std::fs::write(&last_lock, b"").unwrap();
    std::fs::write(spool.join("dns-99999999999999-99999.yaf.lock"), b"").unwrap();
    let first_part = ipfix_counts(&files[..files.len() - 1]);

    let cfg = mariadb::fresh_config("e2e_rotate");
    let url = format!(
        "mysql://{}@{}:{}/{}",
        cfg.user, cfg.host, cfg.port, cfg.database
    );
    let once = |archive: Option<&Path>| {
        let mut a = vec![
            "run".to_string(),
            "--database-url".into(),
            url.clone(),
            "--in-dir".into(),
            s(&spool),
            "--once".into(),
            "--error-dir".into(),
            s(&tmp.path().join("error")),
        ];
        if let Some(d) = archive {
            a.extend(["--archive-dir".into(), s(d)]);
        }
        mediator(&a);
    };

    once(Some(&archive));
    assert_eq!(db_counts(&url), (first_part.flows, first_part.dns));
    let mut want_archived: Vec<String> = files[..files.len() - 1]
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    want_archived.sort();
    assert_eq!(
        names(&archive),
        want_archived,
        "loaded files are moved to --archive-dir"
    );
    let mut left = names(&spool);
    left.retain(|n| !n.starts_with('.'));
    assert_eq!(
        left,
        vec![
            last.file_name().unwrap().to_string_lossy().into_owned(),
            last_lock
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            "dns-99999999999999-99999.yaf.lock".to_string(),
        ],
        "the locked file and the lock files stay"
    );
    assert!(!tmp.path().join("error").exists() || names(&tmp.path().join("error")).is_empty());

    // Nothing new: a second run loads nothing.
    once(None);
    assert_eq!(db_counts(&url), (first_part.flows, first_part.dns));
    assert!(last.exists());

    // Unlocked: the next run loads it and, without --archive-dir, deletes it.
    std::fs::remove_file(&last_lock).unwrap();
    once(None);
    assert_eq!(db_counts(&url), (all.flows, all.dns));
    assert!(!last.exists(), "loaded file deleted");
    once(None);
    assert_eq!(
        db_counts(&url),
        (all.flows, all.dns),
        "a further --once adds nothing"
    );

    // Loading an archived file again by name adds nothing either (the ledger).
    let mut a = vec![
        "run".to_string(),
        "--database-url".into(),
        url.clone(),
        "--in-file".into(),
    ];
    a.extend(names(&archive).iter().map(|n| s(&archive.join(n))));
    mediator(&a);
    assert_eq!(
        db_counts(&url),
        (all.flows, all.dns),
        "ledger: no file loads twice"
    );

    case.check_mysql(&url, all);
}
