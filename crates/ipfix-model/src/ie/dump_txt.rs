//! Test support: reads the template records out of `ipfixDump --yaf` text dumps in the shared
//! corpus (`../shared/corpus/yaf/**/*.dump.txt`), which are our reference for YAF's templates.

use std::path::{Path, PathBuf};

use super::DataType;

/// One field line: `ent:  6871  id:   179  type: string    len: 65535     dnsQName`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DumpField {
    pub pen: u32,
    pub id: u16,
    pub type_name: String,
    pub len: u16,
    pub scope: bool,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DumpTemplate {
    pub tid: u16,
    pub scope_count: u16,
    pub fields: Vec<DumpField>,
}

/// The corpus root, if this checkout sits next to `../shared/corpus`.
pub(crate) fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    dir.is_dir().then_some(dir)
}

/// All `*.dump.txt` under `corpus/yaf`, sorted; `None` (with a note on stderr) without corpus.
pub(crate) fn yaf_dump_files(test: &str) -> Option<Vec<PathBuf>> {
    let Some(corpus) = corpus_dir() else {
        eprintln!("{test}: SKIPPED, ../shared/corpus not present");
        return None;
    };
    let mut out = Vec::new();
    let mut stack = vec![corpus.join("yaf")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".dump.txt") {
                out.push(path);
            }
        }
    }
    out.sort();
    assert!(
        !out.is_empty(),
        "corpus present but no yaf/**/*.dump.txt found"
    );
    Some(out)
}

/// ipfixDump's short type names (libfixbuf 2.4 `ipfixDump`) to abstract data types.
pub(crate) fn dump_type(name: &str) -> Option<DataType> {
    Some(match name {
        "octet" => DataType::OctetArray,
        "uint8" => DataType::Unsigned8,
        "uint16" => DataType::Unsigned16,
        "uint32" => DataType::Unsigned32,
        "uint64" => DataType::Unsigned64,
        "int8" => DataType::Signed8,
        "int16" => DataType::Signed16,
        "int32" => DataType::Signed32,
        "int64" => DataType::Signed64,
        "float32" => DataType::Float32,
        "float64" => DataType::Float64,
        "bool" => DataType::Boolean,
        "mac" => DataType::MacAddress,
        "string" => DataType::String,
        "sec" => DataType::DateTimeSeconds,
        "millisec" => DataType::DateTimeMilliseconds,
        "microsec" => DataType::DateTimeMicroseconds,
        "nanosec" => DataType::DateTimeNanoseconds,
        "ipv4" => DataType::Ipv4Address,
        "ipv6" => DataType::Ipv6Address,
        "bl" => DataType::BasicList,
        "stl" => DataType::SubTemplateList,
        "stml" => DataType::SubTemplateMultiList,
        _ => return None,
    })
}

/// Parses every template and options template record in one dump text.
pub(crate) fn parse_templates(text: &str, file: &Path) -> Vec<DumpTemplate> {
    let mut out: Vec<DumpTemplate> = Vec::new();
    let mut in_template = false;
    for (n, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", file.display(), n + 1);
        let t = line.trim();
        if t.starts_with("--- ") {
            in_template = t == "--- template record ---" || t == "--- options template record ---";
            continue;
        }
        if !in_template {
            continue;
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        match words.first() {
            Some(&"tid:") => {
                // tid: 49155 (0xc003)    field count:     3    scope:     0
                let tid = words[1].parse().unwrap_or_else(|_| panic!("{}: tid", at()));
                let scope_count = words[7]
                    .parse()
                    .unwrap_or_else(|_| panic!("{}: scope", at()));
                assert_eq!((words[3], words[6]), ("field", "scope:"), "{}", at());
                out.push(DumpTemplate {
                    tid,
                    scope_count,
                    fields: Vec::new(),
                });
            }
            Some(&"ent:") => {
                // ent: 0 id: 149 type: uint32 len: 4 (S) observationDomainId
                assert_eq!(
                    (words[2], words[4], words[6]),
                    ("id:", "type:", "len:"),
                    "{}",
                    at()
                );
                let scope = words.get(8) == Some(&"(S)");
                let name = words.last().unwrap().to_string();
                let field = DumpField {
                    pen: words[1].parse().unwrap_or_else(|_| panic!("{}: ent", at())),
                    id: words[3].parse().unwrap_or_else(|_| panic!("{}: id", at())),
                    type_name: words[5].to_string(),
                    len: words[7].parse().unwrap_or_else(|_| panic!("{}: len", at())),
                    scope,
                    name,
                };
                out.last_mut()
                    .unwrap_or_else(|| panic!("{}: field before tid", at()))
                    .fields
                    .push(field);
            }
            _ => {}
        }
    }
    out
}
