//! The deployment files (systemd units, docker-compose.yml) start the binaries with flags; a
//! renamed or removed flag would only show when an operator's service fails to start. Check
//! every flag they use against the binaries' own --help.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "flowmeter", "-p", "mediator"])
            .current_dir(repo())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
    });
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    target.join("debug").join(name)
}

fn help(args: &[&str]) -> String {
    let (name, rest) = args.split_first().unwrap();
    let out = Command::new(bin(name))
        .args(rest)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// `--flag` tokens in `text` (values such as `--in eth0` are not flags).
fn flags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',') {
        if let Some(rest) = word.strip_prefix("--") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if !name.is_empty() {
                out.push(format!("--{name}"));
            }
        }
    }
    out
}

fn assert_flags_exist(what: &str, text: &str, cmd: &[&str]) {
    let used = flags(text);
    assert!(
        !used.is_empty(),
        "{what}: no flags found; did the file change shape?"
    );
    let help = help(cmd);
    for flag in used {
        let known = help
            .split(|c: char| {
                c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == ']' || c == '<'
            })
            .any(|w| w == flag);
        assert!(
            known,
            "{what} uses {flag}, which `{} --help` does not list",
            cmd.join(" ")
        );
    }
}

/// The lines of a systemd unit's ExecStart, with continuation lines joined.
fn exec_start(unit: &str) -> String {
    let mut out = String::new();
    let mut in_exec = false;
    for line in unit.lines() {
        if line.starts_with("ExecStart=") {
            in_exec = true;
        }
        if in_exec {
            out.push_str(line.trim_end_matches('\\'));
            out.push(' ');
            if !line.ends_with('\\') {
                break;
            }
        }
    }
    out
}

#[test]
fn systemd_units_use_existing_flags() {
    let fm = std::fs::read_to_string(repo().join("deploy/systemd/flowmeter.service")).unwrap();
    assert_flags_exist("flowmeter.service", &exec_start(&fm), &["flowmeter"]);
    let md = std::fs::read_to_string(repo().join("deploy/systemd/mediator.service")).unwrap();
    assert_flags_exist("mediator.service", &exec_start(&md), &["mediator", "run"]);
}

#[test]
fn compose_services_use_existing_flags() {
    let compose = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    // A service's block: its "  name:" line and the deeper-indented lines after it.
    let block = |name: &str| -> String {
        let header = format!("  {name}:");
        let mut lines = compose.lines().skip_while(|l| *l != header);
        assert!(lines.next().is_some(), "service {name} missing");
        lines
            .take_while(|l| l.starts_with("    ") || l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_flags_exist("compose mediator", &block("mediator"), &["mediator", "run"]);
    assert_flags_exist("compose flowmeter", &block("flowmeter"), &["flowmeter"]);
    // The database gets the deployment's server settings (checked against a real mariadbd in
    // crates/mediator/tests/deploy_server.rs), from a file that exists, where the image reads
    // its configuration.
    let db = block("mariadb");
    let mount = db
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("- ./deploy/mariadb/"))
        .unwrap_or_else(|| panic!("mariadb mounts nothing from deploy/mariadb/:\n{db}"));
    let (file, target) = mount.split_once(':').expect("a bind mount SRC:DST");
    assert!(
        repo().join("deploy/mariadb").join(file).is_file(),
        "{file} missing"
    );
    assert!(target.starts_with("/etc/mysql/conf.d/"), "{mount}");
    assert!(target.trim_end_matches(":ro").ends_with(".cnf"), "{mount}");
}
