//! `ipfix-dump FILE...` (`-` = stdin): IPFIX files as JSON lines, one top-level data record
//! per line, with element names, typed values and nested lists; the debugging companion to
//! libfixbuf's ipfixDump. Exits non-zero, naming file and byte offset, when a file cannot be
//! decoded; warnings (unknown templates, sequence gaps) go to stderr.

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use ipfix_model::ie::DataType;
use ipfix_model::{DataRecord, Field, FileReader, Limits, Session, TypedValue, Warning};
use serde_json::{json, Map, Value};

const USAGE: &str = "usage: ipfix-dump [--strict] [--no-seq-warnings] FILE... (- = stdin)
  Prints one JSON object per top-level data record:
  {\"file\",\"offset\" (message byte offset),\"domain\",\"export_time\",\"template_id\",\"fields\"}
  --strict            treat warnings (unknown templates, sequence gaps) as errors
  --no-seq-warnings   do not print sequence-number warnings";

struct Opts {
    strict: bool,
    seq_warnings: bool,
    files: Vec<String>,
}

fn main() -> ExitCode {
    let mut opts = Opts {
        strict: false,
        seq_warnings: true,
        files: Vec::new(),
    };
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--strict" => opts.strict = true,
            "--no-seq-warnings" => opts.seq_warnings = false,
            s if s.starts_with("--") => {
                eprintln!("ipfix-dump: unknown option {s}\n{USAGE}");
                return ExitCode::from(2);
            }
            _ => opts.files.push(a),
        }
    }
    if opts.files.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = false;
    for f in &opts.files {
        if let Err(e) = dump_file(f, &opts, &mut out) {
            // A closed pipe (`ipfix-dump f | head`) is not a decoding failure.
            if e.downcast_ref::<io::Error>().map(|e| e.kind()) == Some(io::ErrorKind::BrokenPipe) {
                return ExitCode::SUCCESS;
            }
            eprintln!("ipfix-dump: {e:#}");
            failed = true;
        }
    }
    if let Err(e) = out.flush() {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("ipfix-dump: writing output: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn dump_file(name: &str, opts: &Opts, out: &mut impl Write) -> anyhow::Result<()> {
    let input: Box<dyn Read> = if name == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(io::BufReader::new(
            std::fs::File::open(name).with_context(|| format!("{name}: cannot open"))?,
        ))
    };
    let mut rd = FileReader::with_session(input, Session::with_limits(Limits::default()));
    loop {
        let msg = match rd.next_message() {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(()),
            Err(e) => anyhow::bail!("{name}: {e}"),
        };
        for w in &msg.warnings {
            let seq = matches!(w, Warning::SequenceGap { .. });
            if opts.strict {
                anyhow::bail!("{name}: {w}");
            }
            if !seq || opts.seq_warnings {
                eprintln!("ipfix-dump: warning: {name}: {w}");
            }
        }
        for r in msg.data_records() {
            let line = json!({
                "file": name,
                "offset": msg.offset,
                "domain": msg.header.domain_id,
                "export_time": msg.header.export_time,
                "template_id": r.template_id(),
                "fields": fields_json(r),
            });
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
    }
}

fn fields_json(r: &DataRecord<'_>) -> Value {
    let mut m = Map::new();
    for f in r.iter() {
        let base = f
            .name()
            .map_or_else(|| f.element().to_string(), str::to_string);
        // Repeated elements (e.g. two paddingOctets) keep every value: name, name#2, ...
        let mut key = base.clone();
        let mut n = 1;
        while m.contains_key(&key) {
            n += 1;
            key = format!("{base}#{n}");
        }
        m.insert(key, value_json(&f));
    }
    Value::Object(m)
}

fn records_json(recs: &[DataRecord<'_>]) -> Value {
    Value::Array(recs.iter().map(fields_json).collect())
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * b.len());
    s.push_str("0x");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

fn value_json(f: &Field<'_, '_>) -> Value {
    match f.typed() {
        TypedValue::Unsigned(v) => json!(v),
        TypedValue::Signed(v) => json!(v),
        TypedValue::Float(v) => json!(v),
        TypedValue::Bool(v) => json!(v),
        TypedValue::Mac(m) => json!(m
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")),
        TypedValue::Ipv4(a) => json!(a.to_string()),
        TypedValue::Ipv6(a) => json!(a.to_string()),
        TypedValue::String(s) => json!(s),
        TypedValue::Bytes(b) => json!(hex(b)),
        TypedValue::Time(t) => {
            let digits = match f.spec.data_type() {
                Some(DataType::DateTimeSeconds) => 0,
                Some(DataType::DateTimeMilliseconds) => 3,
                Some(DataType::DateTimeMicroseconds) => 6,
                _ => 9,
            };
            json!(t.to_rfc3339(digits))
        }
        TypedValue::BasicList(l) => {
            let values: Vec<Value> = f.list_elements().map(|e| value_json(&e)).collect();
            json!({
                "semantic": l.semantic,
                "element": l.field.name().map_or_else(|| l.field.element.to_string(), str::to_string),
                "values": values,
            })
        }
        TypedValue::SubTemplateList(l) => {
            let mut o = json!({
                "semantic": l.semantic,
                "template_id": l.template_id,
                "records": records_json(&l.records),
            });
            if !l.undecoded.is_empty() {
                o["undecoded"] = json!(hex(&l.undecoded));
            }
            o
        }
        TypedValue::SubTemplateMultiList(l) => {
            let entries: Vec<Value> = l
                .entries
                .iter()
                .map(|e| {
                    let mut o =
                        json!({"template_id": e.template_id, "records": records_json(&e.records)});
                    if !e.undecoded.is_empty() {
                        o["undecoded"] = json!(hex(&e.undecoded));
                    }
                    o
                })
                .collect();
            json!({"semantic": l.semantic, "entries": entries})
        }
        // Value kinds added to the library later print as null until taught here.
        _ => Value::Null,
    }
}
