//! `ipfix-dump FILE...` (`-` = stdin): IPFIX files as JSON lines, one top-level data record
//! per line, with element names, typed values and nested lists; the debugging companion to
//! libfixbuf's ipfixDump. Exits non-zero, naming file and byte offset, when a file cannot be
//! decoded; warnings (unknown templates, sequence gaps) go to stderr.

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use ipfix_model::ie::DataType;
use ipfix_model::{DataRecord, Field, FileReader, Limits, Session, TypedValue, Warning};
use serde_json::{json, Value};

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
            let line = J::Obj(vec![
                ("file".into(), J::V(json!(name))),
                ("offset".into(), J::V(json!(msg.offset))),
                ("domain".into(), J::V(json!(msg.header.domain_id))),
                ("export_time".into(), J::V(json!(msg.header.export_time))),
                ("template_id".into(), J::V(json!(r.template_id()))),
                ("fields".into(), fields_json(r)),
            ]);
            line.write(&mut *out)?;
            out.write_all(b"\n")?;
        }
    }
}

/// JSON with object keys in insertion order, so fields print in template order as in
/// ipfixDump (serde_json's own map sorts keys unless a workspace-wide feature is turned on).
enum J {
    Obj(Vec<(String, J)>),
    Arr(Vec<J>),
    V(Value),
}

impl J {
    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            J::V(v) => serde_json::to_writer(&mut *out, v).map_err(io::Error::from),
            J::Arr(a) => {
                out.write_all(b"[")?;
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    x.write(out)?;
                }
                out.write_all(b"]")
            }
            J::Obj(o) => {
                out.write_all(b"{")?;
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    serde_json::to_writer(&mut *out, k).map_err(io::Error::from)?;
                    out.write_all(b":")?;
                    v.write(out)?;
                }
                out.write_all(b"}")
            }
        }
    }
}

fn obj(pairs: Vec<(&str, J)>) -> J {
    J::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn fields_json(r: &DataRecord<'_>) -> J {
    let mut m: Vec<(String, J)> = Vec::with_capacity(r.fields.len());
    // Counts per name, not a scan of `m`: a hostile template may repeat one element
    // thousands of times. Element names never contain '#', so suffixed keys cannot collide.
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for f in r.iter() {
        let base = f
            .name()
            .map_or_else(|| f.element().to_string(), str::to_string);
        // Repeated elements (e.g. two paddingOctets) keep every value: name, name#2, ...
        let n = seen.entry(base.clone()).or_insert(0);
        *n += 1;
        let key = if *n == 1 { base } else { format!("{base}#{n}") };
        m.push((key, value_json(&f)));
    }
    J::Obj(m)
}

fn records_json(recs: &[DataRecord<'_>]) -> J {
    J::Arr(recs.iter().map(fields_json).collect())
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * b.len());
    s.push_str("0x");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

fn value_json(f: &Field<'_, '_>) -> J {
    let v = match f.typed() {
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
            let values = J::Arr(f.list_elements().map(|e| value_json(&e)).collect());
            let element = l
                .field
                .name()
                .map_or_else(|| l.field.element.to_string(), str::to_string);
            return obj(vec![
                ("semantic", J::V(json!(l.semantic))),
                ("element", J::V(json!(element))),
                ("values", values),
            ]);
        }
        TypedValue::SubTemplateList(l) => {
            let mut o = vec![
                ("semantic", J::V(json!(l.semantic))),
                ("template_id", J::V(json!(l.template_id))),
                ("records", records_json(&l.records)),
            ];
            if !l.undecoded.is_empty() {
                o.push(("undecoded", J::V(json!(hex(&l.undecoded)))));
            }
            return obj(o);
        }
        TypedValue::SubTemplateMultiList(l) => {
            let entries = l
                .entries
                .iter()
                .map(|e| {
                    let mut o = vec![
                        ("template_id", J::V(json!(e.template_id))),
                        ("records", records_json(&e.records)),
                    ];
                    if !e.undecoded.is_empty() {
                        o.push(("undecoded", J::V(json!(hex(&e.undecoded)))));
                    }
                    obj(o)
                })
                .collect();
            return obj(vec![
                ("semantic", J::V(json!(l.semantic))),
                ("entries", J::Arr(entries)),
            ]);
        }
        // Value kinds added to the library later print as null until taught here.
        _ => Value::Null,
    };
    J::V(v)
}
