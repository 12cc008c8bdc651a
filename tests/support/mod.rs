//! Support shared by the cross-binary tests here (`tests/common/`) and the mediator's
//! integration tests (`crates/mediator/tests/e2e_support/`), both of which include it with
//! `#[path]`: where the fixtures and the shared corpus are, expected counts computed
//! independently of the code under test (ipfix-model's decoder, libfixbuf's ipfixDump text),
//! running the real binaries, and reading their Prometheus endpoints.
//!
//! A module rather than a crate: it needs only ipfix-model and tempfile, which both packages
//! already have as dev-dependencies, so no manifest or lock file changes. It uses nothing of
//! the mediator or the flowmeter, so expected values never come from the code under test.
//! The MariaDB harness (`crates/mediator/tests/common/`) is separate: it needs the mediator's
//! configuration types.
#![allow(dead_code, unused_imports)] // each test binary uses a different part
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

pub mod dump;
pub mod ipfix;
pub mod metrics;
pub mod paths;
pub mod process;

pub use dump::{dump_counts, yaf_dump, YafFlow, YafRr};
pub use ipfix::{
    complete_len, concat_file, data_set, expected_counts, ipfix_counts, is_flow_record, message,
    message_count, qname_records, template_set, IpfixCounts,
};
pub use metrics::{metric, scrape};
pub use paths::{
    all_inputs, corpus, corpus_inputs, files_under, fixture_dump, fixture_inputs, fixture_pcap,
    repo, tempdir, yaf_inputs,
};
pub use process::{
    flowmeter_summary, run, run_ok, s, sigterm, workspace_bin, Daemon, FlowmeterSummary,
};
