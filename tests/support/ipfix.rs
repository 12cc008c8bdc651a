//! Expected values from IPFIX files, computed with ipfix-model's decoder and nothing of the
//! mediator's mapping code.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use ipfix_model::ie::ids::{
    DESTINATION_IPV4_ADDRESS, DESTINATION_IPV6_ADDRESS, DNS_QNAME, SOURCE_IPV4_ADDRESS,
    SOURCE_IPV6_ADDRESS,
};
use ipfix_model::{DataRecord, ElementId, FieldData, FileReader};

fn has(rec: &DataRecord<'_>, e: ElementId) -> bool {
    rec.template.position(e).is_some()
}

/// A flow, as the tests count them: a data (not options) record with an IPv4 or IPv6 address.
/// What is left (YAF's statistics and tombstone options records) is "other".
pub fn is_flow_record(rec: &DataRecord<'_>) -> bool {
    !rec.template.is_options()
        && [
            SOURCE_IPV4_ADDRESS,
            DESTINATION_IPV4_ADDRESS,
            SOURCE_IPV6_ADDRESS,
            DESTINATION_IPV6_ADDRESS,
        ]
        .iter()
        .any(|&e| has(rec, e))
}

/// DNS resource records under `rec`: records with a dnsQName, however deeply nested in
/// subTemplateLists and subTemplateMultiLists (YAF's 0xCF00 under 0xCE00 under the flow).
pub fn qname_records(rec: &DataRecord<'_>) -> u64 {
    if has(rec, DNS_QNAME) {
        return 1;
    }
    let mut n = 0;
    for f in &rec.fields {
        match &f.data {
            FieldData::SubTemplateList(l) => n += l.records.iter().map(qname_records).sum::<u64>(),
            FieldData::SubTemplateMultiList(l) => {
                n += l
                    .entries
                    .iter()
                    .flat_map(|e| &e.records)
                    .map(qname_records)
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    n
}

/// IPFIX contents counted with ipfix-model.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IpfixCounts {
    pub messages: u64,
    pub flows: u64,
    pub dns: u64,
    /// Top-level data records that are not flows (YAF's statistics and tombstone records).
    pub other: u64,
}

impl IpfixCounts {
    /// Adds the messages of an IPFIX file or TCP stream (the same framing, RFC 5655/7011);
    /// panics, naming `what`, if any of it does not decode.
    pub fn add_stream(&mut self, bytes: &[u8], what: &str) {
        let mut rd = FileReader::new(bytes);
        while let Some(m) = rd.next_message().unwrap_or_else(|e| panic!("{what}: {e}")) {
            self.add_message(&m);
        }
    }

    /// Adds the complete, valid messages before the first bad or incomplete one; returns the
    /// byte offset where they end (what a loader must take from a truncated file).
    pub fn add_prefix(&mut self, bytes: &[u8]) -> u64 {
        let mut rd = FileReader::new(bytes);
        let mut end = 0;
        while let Ok(Some(m)) = rd.next_message() {
            self.add_message(&m);
            end = rd.offset();
        }
        end
    }

    fn add_message(&mut self, m: &ipfix_model::Message<'_>) {
        self.messages += 1;
        for r in m.data_records() {
            if is_flow_record(r) {
                self.flows += 1;
                self.dns += qname_records(r);
            } else {
                self.other += 1;
            }
        }
    }
}

/// Counts of whole files; panics if one does not decode completely.
pub fn ipfix_counts(paths: &[PathBuf]) -> IpfixCounts {
    let mut c = IpfixCounts::default();
    for path in paths {
        let bytes = std::fs::read(path).unwrap();
        c.add_stream(&bytes, &path.display().to_string());
    }
    c
}

/// (flows, DNS rows) of the complete messages of `path`: what loading it must produce.
pub fn expected_counts(path: &Path) -> (u64, u64) {
    let mut c = IpfixCounts::default();
    c.add_prefix(&std::fs::read(path).unwrap());
    (c.flows, c.dns)
}

/// Offset after the last complete message of `path` (framing only).
pub fn complete_len(path: &Path) -> u64 {
    let mut rd = FileReader::new(BufReader::new(std::fs::File::open(path).unwrap()));
    while let Ok(Some(_)) = rd.next_raw() {}
    rd.offset()
}

/// Messages in an IPFIX byte stream (framing only, up to the first bad frame).
pub fn message_count(bytes: &[u8]) -> u64 {
    let mut rd = FileReader::new(bytes);
    let mut n = 0;
    while let Ok(Some(_)) = rd.next_raw() {
        n += 1;
    }
    n
}

/// Writes `inputs` concatenated, the whole sequence `times` times, to `out`. YAF files share
/// their template IDs and layouts, so the concatenation decodes as one session.
pub fn concat_file(inputs: &[PathBuf], times: usize, out: &Path) {
    let mut data = Vec::new();
    for p in inputs {
        data.extend(std::fs::read(p).unwrap());
    }
    let mut all = Vec::with_capacity(data.len() * times);
    for _ in 0..times {
        all.extend_from_slice(&data);
    }
    std::fs::write(out, all).unwrap();
}

/// Hand-built IPFIX (RFC 7011) for tests that need exact control of templates: a message of
/// `sets` with the given observation domain and sequence number (export time fixed).
pub fn message(domain: u32, seq: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let len = 16 + sets.iter().map(Vec::len).sum::<usize>();
    let mut m = Vec::with_capacity(len);
    m.extend(10u16.to_be_bytes());
    m.extend(u16::try_from(len).unwrap().to_be_bytes());
    m.extend(1_700_000_000u32.to_be_bytes());
    m.extend(seq.to_be_bytes());
    m.extend(domain.to_be_bytes());
    for s in sets {
        m.extend(s);
    }
    m
}

/// A template set (set ID 2) defining `id` with IANA elements `(element id, length)`.
pub fn template_set(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(id.to_be_bytes());
    body.extend(u16::try_from(fields.len()).unwrap().to_be_bytes());
    for (e, l) in fields {
        body.extend(e.to_be_bytes());
        body.extend(l.to_be_bytes());
    }
    set(2, &body)
}

/// A data set for template `id` holding `records` (already encoded).
pub fn data_set(id: u16, records: &[Vec<u8>]) -> Vec<u8> {
    set(id, &records.concat())
}

fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(4 + body.len());
    s.extend(id.to_be_bytes());
    s.extend(u16::try_from(4 + body.len()).unwrap().to_be_bytes());
    s.extend(body);
    s
}
