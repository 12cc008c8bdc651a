//! deploy/mariadb/pdns.cnf, the database host's server settings, as a real mariadbd reads them.

mod common;

use common::mariadb::{deployment_options, server_reading};

#[test]
fn deployment_settings_are_read_by_the_server() {
    let opts = deployment_options().unwrap();
    let read = server_reading(&opts).unwrap();
    let gib = (1u64 << 30).to_string();
    for (name, want) in [
        ("innodb-buffer-pool-size", gib.as_str()),
        ("innodb-log-file-size", gib.as_str()),
        ("local-infile", "TRUE"),
        // Left at the durable default: a commit must survive a host crash once the mediator
        // has deleted the file it came from.
        ("innodb-flush-log-at-trx-commit", "1"),
    ] {
        assert_eq!(
            read.get(name).map(String::as_str),
            Some(want),
            "{name} as the server reads {opts:?}"
        );
    }
}

#[test]
fn a_bad_setting_is_refused() {
    // The check above means something only if the server refuses what it does not know.
    let err = server_reading(&["--innodb-buffer-pool-sise=1G".to_string()]).unwrap_err();
    assert!(err.contains("unknown variable"), "{err}");
}
