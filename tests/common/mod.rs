//! Support for the cross-binary tests: the shared helpers (`tests/support`, also used by the
//! mediator's tests), the MariaDB harness (shared with the mediator's tests), the seed's
//! queries, and this package's way to the binaries (it cannot depend on another package's
//! binaries, so they are built on demand).
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

#[path = "../../crates/mediator/tests/common/mariadb.rs"]
pub mod mariadb;
pub mod seed;
#[path = "../support/mod.rs"]
pub mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

pub use support::*;

pub fn flowmeter_bin() -> PathBuf {
    workspace_bin("flowmeter")
}

pub fn mediator_bin() -> PathBuf {
    workspace_bin("mediator")
}

/// Runs `mediator ARGS` to completion; panics with its output if it fails.
pub fn mediator(args: &[String]) -> Output {
    run_ok(&mediator_bin(), args)
}

/// Runs `flowmeter ARGS` to completion; panics if it fails; returns its summary line.
pub fn flowmeter(args: &[String]) -> FlowmeterSummary {
    let out = run_ok(&flowmeter_bin(), args);
    flowmeter_summary(&String::from_utf8_lossy(&out.stderr))
}

/// `mediator run --in-host 127.0.0.1 --in-port 0 EXTRA...` in the background, once it reports
/// its listeners.
pub fn mediator_daemon(extra: &[String], log: &Path) -> Daemon {
    let mut args: Vec<String> = ["run", "--in-host", "127.0.0.1", "--in-port", "0"]
        .map(String::from)
        .to_vec();
    args.extend_from_slice(extra);
    Daemon::start(&mediator_bin(), &args, log)
}

/// Runs a future to completion on a small runtime (the tests themselves are synchronous).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
