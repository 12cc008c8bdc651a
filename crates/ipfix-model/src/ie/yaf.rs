//! YAF 2.16's templates as data (`templates/ipfix/yaf-2.16.txt` at the repository root), so the
//! flowmeter can announce exactly YAF's layout and tests can compare against it.
//!
//! The file format is documented at the top of that file. Names resolve through the
//! information model, so a typo or an unknown element is an error naming the line.

use super::{lookup_name, DataType, ElementId};

/// The variable-length marker in a field specifier (RFC 7011 section 7).
pub const VARLEN: u16 = 65535;

/// Template IDs YAF 2.16 uses (see the file for the layouts).
pub mod tid {
    /// Flow record base; YAF ORs in feature flags (biflow 0x0010, IPv6 0x0400, ...).
    pub const FLOW_IP4_UNIFLOW: u16 = 0xB000;
    pub const FLOW_IP4_BIFLOW: u16 = 0xB010;
    pub const FLOW_IP6_UNIFLOW: u16 = 0xB400;
    pub const FLOW_IP6_BIFLOW: u16 = 0xB410;
    pub const TCP: u16 = 0xC003;
    pub const TCP_REV: u16 = 0xC013;
    pub const MAC: u16 = 0xC004;
    pub const FLOW_STATS: u16 = 0xC005;
    pub const FLOW_STATS_REV: u16 = 0xC015;
    pub const PAYLOAD: u16 = 0xC008;
    pub const PAYLOAD_REV: u16 = 0xC018;
    pub const MPTCP: u16 = 0xC009;
    pub const DNS: u16 = 0xCE00;
    pub const DNS_QR: u16 = 0xCF00;
    pub const DNS_A: u16 = 0xCE01;
    pub const DNS_AAAA: u16 = 0xCE02;
    pub const DNS_CNAME: u16 = 0xCE03;
    pub const DNS_MX: u16 = 0xCE04;
    pub const DNS_NS: u16 = 0xCE05;
    pub const DNS_PTR: u16 = 0xCE06;
    pub const DNS_TXT: u16 = 0xCE07;
    pub const DNS_SRV: u16 = 0xCE08;
    pub const DNS_SOA: u16 = 0xCE09;
    pub const DNS_DS: u16 = 0xCE0E;
    pub const DNS_RRSIG: u16 = 0xCE0F;
    pub const DNS_NSEC: u16 = 0xCE11;
    pub const DNS_DNSKEY: u16 = 0xCE12;
    pub const DNS_NSEC3: u16 = 0xCE13;
    pub const PROCESS_STATS: u16 = 0xD003;
    pub const TOMBSTONE: u16 = 0xD004;
    pub const TOMBSTONE_ACCESS: u16 = 0xD005;

    /// Every constant above, for tests and tooling.
    pub const ALL: [u16; 31] = [
        FLOW_IP4_UNIFLOW,
        FLOW_IP4_BIFLOW,
        FLOW_IP6_UNIFLOW,
        FLOW_IP6_BIFLOW,
        TCP,
        TCP_REV,
        MAC,
        FLOW_STATS,
        FLOW_STATS_REV,
        PAYLOAD,
        PAYLOAD_REV,
        MPTCP,
        DNS,
        DNS_QR,
        DNS_A,
        DNS_AAAA,
        DNS_CNAME,
        DNS_MX,
        DNS_NS,
        DNS_PTR,
        DNS_TXT,
        DNS_SRV,
        DNS_SOA,
        DNS_DS,
        DNS_RRSIG,
        DNS_NSEC,
        DNS_DNSKEY,
        DNS_NSEC3,
        PROCESS_STATS,
        TOMBSTONE,
        TOMBSTONE_ACCESS,
    ];
}

const YAF_2_16: &str = include_str!("../../../../templates/ipfix/yaf-2.16.txt");

/// One template (or options template, when `scope_count > 0`) as a list of field specifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateDef {
    pub id: u16,
    pub name: String,
    /// Number of leading scope fields; 0 for an ordinary template.
    pub scope_count: u16,
    /// (element, length) in wire order; length [`VARLEN`] is variable length.
    pub fields: Vec<(ElementId, u16)>,
}

/// What is wrong with a template definition file, and on which (1-based) line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateDefError {
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    #[error("line {line}: unknown information element {name:?}")]
    UnknownElement { line: usize, name: String },
    #[error("line {line}: length {len} is not valid for {name} ({data_type})")]
    BadLength {
        line: usize,
        name: String,
        data_type: DataType,
        len: u16,
    },
    #[error("line {line}: template {id:#06x} defined twice")]
    DuplicateId { line: usize, id: u16 },
    #[error("line {line}: template {id:#06x} must be >= 256 (RFC 7011 section 3.4.1)")]
    ReservedId { line: usize, id: u16 },
    #[error("template {id:#06x}: {reason}")]
    BadTemplate { id: u16, reason: String },
}

/// YAF 2.16.4's templates, parsed from the file compiled into this crate.
pub fn yaf_templates() -> Result<Vec<TemplateDef>, TemplateDefError> {
    parse_template_defs(YAF_2_16)
}

/// Parses text in the `templates/ipfix/*.txt` format.
pub fn parse_template_defs(text: &str) -> Result<Vec<TemplateDef>, TemplateDefError> {
    let mut out: Vec<TemplateDef> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or("");
        let words: Vec<&str> = content.split_whitespace().collect();
        let syntax = |reason: &str| TemplateDefError::Syntax {
            line,
            reason: reason.to_string(),
        };
        match words.as_slice() {
            [] => {}
            ["template", id, name, rest @ ..] => {
                if let Some(prev) = out.last() {
                    check_complete(prev)?;
                }
                let id = parse_u16(id).ok_or_else(|| syntax("template ID must be a u16"))?;
                if id < 256 {
                    return Err(TemplateDefError::ReservedId { line, id });
                }
                if out.iter().any(|t| t.id == id) {
                    return Err(TemplateDefError::DuplicateId { line, id });
                }
                let scope_count = match rest {
                    [] => 0,
                    ["scope", n] => match parse_u16(n) {
                        Some(n) if n > 0 => n,
                        _ => return Err(syntax("scope count must be a u16 > 0")),
                    },
                    _ => return Err(syntax("expected `template <ID> <name> [scope <N>]`")),
                };
                out.push(TemplateDef {
                    id,
                    name: (*name).to_string(),
                    scope_count,
                    fields: Vec::new(),
                });
            }
            ["template", ..] => return Err(syntax("expected `template <ID> <name> [scope <N>]`")),
            [name, len] => {
                let template = out
                    .last_mut()
                    .ok_or_else(|| syntax("field before the first `template` line"))?;
                let len = parse_u16(len).ok_or_else(|| syntax("field length must be a u16"))?;
                let element =
                    lookup_name(name).ok_or_else(|| TemplateDefError::UnknownElement {
                        line,
                        name: (*name).to_string(),
                    })?;
                if !length_fits(element.data_type, len) {
                    return Err(TemplateDefError::BadLength {
                        line,
                        name: (*name).to_string(),
                        data_type: element.data_type,
                        len,
                    });
                }
                template.fields.push((element.element_id(), len));
            }
            _ => return Err(syntax("expected `<element name> <length>`")),
        }
    }
    if let Some(last) = out.last() {
        check_complete(last)?;
    }
    Ok(out)
}

fn check_complete(t: &TemplateDef) -> Result<(), TemplateDefError> {
    let bad = |reason: String| Err(TemplateDefError::BadTemplate { id: t.id, reason });
    if t.fields.is_empty() {
        return bad("no fields".to_string());
    }
    if usize::from(t.scope_count) > t.fields.len() {
        return bad(format!(
            "scope {} but only {} fields",
            t.scope_count,
            t.fields.len()
        ));
    }
    Ok(())
}

/// Whether a template may carry `data_type` in `len` octets: variable length only for types
/// that are variable-length by nature, otherwise the full size or (where RFC 7011 section 6.2
/// allows) a reduced size. octetArray also takes any fixed length (paddingOctets).
fn length_fits(data_type: DataType, len: u16) -> bool {
    match data_type.default_length() {
        None => len == VARLEN || (len > 0 && !is_list(data_type)),
        Some(full) => len == full || (data_type.allows_reduced_size() && len > 0 && len < full),
    }
}

fn is_list(t: DataType) -> bool {
    matches!(
        t,
        DataType::BasicList | DataType::SubTemplateList | DataType::SubTemplateMultiList
    )
}

fn parse_u16(s: &str) -> Option<u16> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ie::{dump_txt, ids, lookup, CERT_PEN, REVERSE_PEN};

    fn find(templates: &[TemplateDef], id: u16) -> &TemplateDef {
        templates
            .iter()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("{id:#06x} missing"))
    }

    #[test]
    fn file_parses_and_has_every_constant() {
        let templates = yaf_templates().unwrap();
        assert_eq!(templates.len(), tid::ALL.len());
        for id in tid::ALL {
            find(&templates, id);
        }
    }

    #[test]
    fn dns_layouts_as_documented() {
        let t = yaf_templates().unwrap();
        let srv = find(&t, tid::DNS_SRV);
        assert_eq!(srv.name, "yaf_dns_srv");
        assert_eq!(
            srv.fields,
            [
                (ids::DNS_SRV_TARGET, VARLEN),
                (ids::DNS_SRV_PRIORITY, 2),
                (ids::DNS_SRV_WEIGHT, 2),
                (ids::DNS_SRV_PORT, 2),
                (ids::PADDING_OCTETS, 2),
            ]
        );
        let qr = find(&t, tid::DNS_QR);
        assert_eq!(qr.fields.first(), Some(&(ids::SUB_TEMPLATE_LIST, VARLEN)));
        assert_eq!(qr.fields.get(1), Some(&(ids::DNS_QNAME, VARLEN)));
        assert_eq!(qr.fields.last(), Some(&(ids::PADDING_OCTETS, 4)));
        let bi = find(&t, tid::FLOW_IP4_BIFLOW);
        assert!(bi.fields.contains(&(ElementId::new(REVERSE_PEN, 85), 4)));
        assert!(bi
            .fields
            .contains(&(ElementId::new(CERT_PEN, 0x4000 | 40), 2)));
        assert_eq!(
            bi.fields.last(),
            Some(&(ids::SUB_TEMPLATE_MULTI_LIST, VARLEN))
        );
        let stats = find(&t, tid::PROCESS_STATS);
        assert_eq!((stats.scope_count, stats.fields.len()), (3, 16));
        let tomb = find(&t, tid::TOMBSTONE);
        assert_eq!(tomb.scope_count, 3);
        assert_eq!(tomb.fields.get(2), Some(&(ids::EXPORTER_CONFIGURED_ID, 2)));
        let nsec3 = find(&t, tid::DNS_NSEC3);
        assert_eq!(nsec3.fields.last(), Some(&(ids::PADDING_OCTETS, 5)));
    }

    /// Every template of the file that YAF also wrote into the corpus must match it exactly:
    /// same ID, scope count, and (PEN, ID, length) per field in order.
    #[test]
    fn corpus_templates_match_file() {
        let Some(files) = dump_txt::yaf_dump_files("corpus_templates_match_file") else {
            return;
        };
        let ours = yaf_templates().unwrap();
        let mut compared = std::collections::BTreeSet::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for theirs in dump_txt::parse_templates(&text, file) {
                let at = format!("{} template {:#06x}", file.display(), theirs.tid);
                let mine = ours
                    .iter()
                    .find(|t| t.id == theirs.tid)
                    .unwrap_or_else(|| panic!("{at}: not in yaf-2.16.txt"));
                assert_eq!(mine.scope_count, theirs.scope_count, "{at}: scope");
                let expected: Vec<(ElementId, u16)> = theirs
                    .fields
                    .iter()
                    .map(|f| (ElementId::new(f.pen, f.id), f.len))
                    .collect();
                assert_eq!(mine.fields, expected, "{at}: fields");
                let scoped = theirs.fields.iter().filter(|f| f.scope).count();
                assert_eq!(scoped, usize::from(theirs.scope_count), "{at}: (S) marks");
                compared.insert(theirs.tid);
            }
        }
        // Only the DNSSEC rdata templates are absent from the corpus (no DNSSEC plugin option).
        let missing: Vec<u16> = tid::ALL
            .into_iter()
            .filter(|id| !compared.contains(id))
            .collect();
        assert_eq!(
            missing,
            [
                tid::DNS_DS,
                tid::DNS_RRSIG,
                tid::DNS_NSEC,
                tid::DNS_DNSKEY,
                tid::DNS_NSEC3
            ]
        );
    }

    #[test]
    fn every_field_resolves_with_a_fitting_length() {
        for t in yaf_templates().unwrap() {
            for (id, len) in &t.fields {
                let e = lookup(*id).unwrap_or_else(|| panic!("{:#06x}: {id}", t.id));
                assert!(
                    length_fits(e.data_type, *len),
                    "{:#06x}: {} {len}",
                    t.id,
                    e.name
                );
            }
        }
    }

    #[test]
    fn parser_accepts_format_details() {
        let t = parse_template_defs(
            "# c\n\ntemplate 256 a scope 1 # trailing\n  observationDomainId 4\npaddingOctets 3\n\
             template 0x0101 b\ndnsQName 65535\n",
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].id, t[0].name.as_str(), t[0].scope_count),
            (256, "a", 1)
        );
        assert_eq!(
            t[0].fields,
            [(ids::OBSERVATION_DOMAIN_ID, 4), (ids::PADDING_OCTETS, 3)]
        );
        assert_eq!((t[1].id, t[1].fields.len()), (0x101, 1));
        assert_eq!(parse_template_defs(""), Ok(vec![]));
    }

    #[test]
    fn parser_rejects_bad_input_with_line_numbers() {
        use TemplateDefError as E;
        let err = |s: &str| parse_template_defs(s).unwrap_err();
        assert!(matches!(err("dnsQName 65535"), E::Syntax { line: 1, .. }));
        assert!(matches!(
            err("template 0xB000 x\nnoSuchThing 4"),
            E::UnknownElement { line: 2, .. }
        ));
        assert!(matches!(
            err("template 300 x\ndnsQName abc"),
            E::Syntax { line: 2, .. }
        ));
        assert!(matches!(
            err("template 300 x\ndnsQName 4 5"),
            E::Syntax { line: 2, .. }
        ));
        assert!(matches!(err("template 70000 x"), E::Syntax { line: 1, .. }));
        assert!(matches!(
            err("template 2 x\nvlanId 2"),
            E::ReservedId { line: 1, id: 2 }
        ));
        assert!(matches!(
            err("template 300 x scope 0\nvlanId 2"),
            E::Syntax { line: 1, .. }
        ));
        assert!(matches!(
            err("template 300 x scope\nvlanId 2"),
            E::Syntax { line: 1, .. }
        ));
        assert!(matches!(
            err("template 300 x\nvlanId 2\ntemplate 300 y\nvlanId 2"),
            E::DuplicateId { line: 3, id: 300 }
        ));
        assert!(matches!(
            err("template 300 x\ntemplate 301 y\nvlanId 2"),
            E::BadTemplate { id: 300, .. }
        ));
        assert!(matches!(
            err("template 300 x"),
            E::BadTemplate { id: 300, .. }
        ));
        assert!(matches!(
            err("template 300 x scope 2\nvlanId 2"),
            E::BadTemplate { id: 300, .. }
        ));
        // Lengths the type cannot take.
        for bad in [
            "sourceIPv4Address 2",
            "vlanId 3",
            "vlanId 65535",
            "subTemplateList 4",
            "octetTotalCount 0",
        ] {
            let text = format!("template 300 x\n{bad}");
            assert!(matches!(err(&text), E::BadLength { line: 2, .. }), "{bad}");
        }
        // Reduced-size and fixed-length octetArray are fine.
        assert!(parse_template_defs(
            "template 300 x\noctetTotalCount 4\ninitialTCPFlags 1\npaddingOctets 7"
        )
        .is_ok());
        let msg = err("template 300 x\nnoSuchThing 4").to_string();
        assert_eq!(msg, "line 2: unknown information element \"noSuchThing\"");
    }
}
