//! The exporter carries real YAF data: every record decoded from YAF's files, pushed through
//! `Exporter` with the session's templates (and, separately, with the information model's
//! YAF 2.16 template definitions), decodes back to equal records.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use ipfix_model::{DataRecord, Exporter, FileReader, SetContent, Template, TemplateRecord};

#[test]
fn yaf_fixture_records_survive_reexport() {
    let files = files_with_suffix(&fixtures().join("yaf"), ".yaf");
    assert!(!files.is_empty());
    let mut total = 0;
    for f in files {
        let bytes = std::fs::read(&f).expect("read fixture");
        let mut rd = FileReader::new(&bytes[..]);
        let mut templates: BTreeMap<u16, Arc<Template>> = BTreeMap::new();
        let mut records: Vec<DataRecord<'static>> = Vec::new();
        while let Some(m) = rd.next_message().expect("fixture decodes") {
            for s in &m.sets {
                if let SetContent::Templates(t) | SetContent::OptionsTemplates(t) = &s.content {
                    for r in t {
                        if let TemplateRecord::Define(t) = r {
                            templates.insert(t.id(), Arc::clone(t));
                        }
                    }
                }
            }
            records.extend(m.data_records().cloned().map(DataRecord::into_owned));
        }
        let mut ex = Exporter::new(0, 65535);
        for t in templates.values() {
            ex.add_template(Arc::clone(t)).expect("template");
        }
        for r in &records {
            ex.add_record(r).expect("record");
        }
        ex.flush();
        let mut out = Vec::new();
        while let Some(m) = ex.take_message() {
            out.extend_from_slice(&m);
        }
        let mut rd = FileReader::new(&out[..]);
        let mut back = Vec::new();
        while let Some(m) = rd.next_message().expect("re-export decodes") {
            assert!(m.warnings.is_empty(), "{}: {:?}", f.display(), m.warnings);
            back.extend(m.data_records().cloned().map(DataRecord::into_owned));
        }
        assert!(
            back == records,
            "{}: records differ after re-export",
            f.display()
        );
        total += records.len();
    }
    assert!(total > 100);
}

#[test]
fn yaf_216_template_definitions_build_and_match_yaf_output() {
    let defs = ipfix_model::ie::yaf::yaf_templates().expect("definitions parse");
    let mut ex = Exporter::new(0, 65535);
    let mut ours = BTreeMap::new();
    for d in &defs {
        let t = Arc::new(Template::try_from(d).expect("valid template"));
        ex.add_template(Arc::clone(&t)).expect("fits");
        ours.insert(t.id(), t);
    }
    // Every template YAF itself wrote in a fixture with the same ID has the same fields.
    let f = fixtures().join("yaf/dns-stats+compactor/test-scripts/gold.yaf");
    let bytes = std::fs::read(f).expect("read fixture");
    let mut rd = FileReader::new(&bytes[..]);
    let mut compared = 0;
    while let Some(m) = rd.next_message().expect("decodes") {
        for s in &m.sets {
            if let SetContent::Templates(t) | SetContent::OptionsTemplates(t) = &s.content {
                for r in t {
                    if let TemplateRecord::Define(t) = r {
                        if let Some(o) = ours.get(&t.id()) {
                            assert_eq!(o.fields(), t.fields(), "template {:#06x}", t.id());
                            compared += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(compared >= 10, "only {compared} templates compared");
}
