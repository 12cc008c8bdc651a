//! The fixtures in tests/data are what a fresh clone tests with: each must be present, listed
//! with its provenance, and under a licence we may redistribute.

use std::path::{Path, PathBuf};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

#[test]
fn every_fixture_capture_is_listed_with_a_permissive_licence() {
    let manifest = std::fs::read_to_string(data_dir().join("MANIFEST.tsv")).unwrap();
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (file_col, lic_col) = (col("file"), col("license"));
    let mut listed = Vec::new();
    for line in lines {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, lic) = (cols[file_col], cols[lic_col]);
        assert!(
            ["MIT", "BSD", "Apache", "MPL"]
                .iter()
                .any(|p| lic.contains(p)),
            "{file}: licence {lic:?} is not permissive"
        );
        assert!(
            data_dir().join("pcap").join(file).is_file(),
            "{file} listed but missing"
        );
        listed.push(file.to_string());
    }
    // And nothing unlisted slipped in.
    let mut found = Vec::new();
    collect(
        &data_dir().join("pcap"),
        &data_dir().join("pcap"),
        &mut found,
    );
    found.sort();
    listed.sort();
    assert_eq!(found, listed, "tests/data/pcap and MANIFEST.tsv disagree");
    assert!(
        listed.len() >= 20,
        "expected the fixture set, found {}",
        listed.len()
    );
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}
