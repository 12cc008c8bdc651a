//! Generates the information-element tables (`$OUT_DIR/ie_tables.rs`, included by `src/ie/mod.rs`)
//! from the vendored registry files in `registry/`.
//!
//! Generated at build time rather than checked in: the inputs are vendored anyway, so updating
//! the model is "replace the XML/TSV, rebuild", and reviews never wade through thousands of
//! generated lines. The build fails loudly on malformed or contradictory input (duplicate names
//! or IDs), because a silently wrong information model would mislabel every field on the wire.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

const IANA_XML: &str = "registry/iana_ipfix_information_elements.xml";
const CERT_TSV: &str = "registry/cert_pen6871.tsv";
const CERT_EXTRA_TSV: &str = "registry/cert_pen6871_extra.tsv";

const IANA_PEN: u32 = 0;
const REVERSE_PEN: u32 = 29305;
const CERT_PEN: u32 = 6871;
/// CERT's convention for its own reverse elements: same PEN, ID with bit 14 set.
const CERT_REVERSE_BIT: u16 = 0x4000;

/// IANA elements that RFC 5103 section 6.1 declares non-reversible (they describe the
/// exporting/metering process, not the flow), plus biflowDirection (239), which RFC 5103
/// section 6.3 defines and which is meaningless reversed. Cross-checked against libfixbuf
/// 2.4.1's built-in model: exactly these IANA elements lack a PEN 29305 twin there.
/// Every other IANA element, including ones registered after RFC 5103, is reversible.
const RFC5103_NON_REVERSIBLE: &[u16] = &[
    40, 41, 42, // exported{Octet,Message,FlowRecord}TotalCount
    130, 131, // exporterIPv{4,6}Address
    137, // commonPropertiesId
    145, // templateId
    148, // flowId
    149, // observationDomainId
    163, 164, 165, 166, 167, 168, // observed/ignored/notSent counters
    173, // flowKeyIndicator
    210, // paddingOctets
    211, 212, 213, 214, 215, 216, 217, // collector/export transport details
    239, // biflowDirection
];

struct Element {
    name: String,
    pen: u32,
    id: u16,
    data_type: &'static str,
    semantics: &'static str,
    units: Option<String>,
    reverse: bool,
}

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    for f in [IANA_XML, CERT_TSV, CERT_EXTRA_TSV] {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-changed=build.rs");

    let mut elements = Vec::new();
    let iana = read_iana(&dir.join(IANA_XML));
    let non_rev: HashSet<u16> = RFC5103_NON_REVERSIBLE.iter().copied().collect();
    for e in &iana {
        if !non_rev.contains(&e.id) {
            elements.push(reversed(e, REVERSE_PEN, e.id));
        }
    }
    elements.extend(iana);

    let mut cert = read_cert_tsv(&dir.join(CERT_TSV));
    cert.extend(read_cert_tsv(&dir.join(CERT_EXTRA_TSV)));
    for (e, reversible) in cert {
        if reversible {
            assert!(
                e.id < CERT_REVERSE_BIT,
                "CERT element {} has the reverse bit",
                e.name
            );
            elements.push(reversed(&e, CERT_PEN, e.id | CERT_REVERSE_BIT));
        }
        elements.push(e);
    }

    let out = render(elements);
    let out_path = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("ie_tables.rs");
    std::fs::write(&out_path, out).expect("write ie_tables.rs");
}

/// RFC 5103 section 6.1 naming: "reverse" + the forward name with its first letter upper-cased.
fn reversed(e: &Element, pen: u32, id: u16) -> Element {
    let mut chars = e.name.chars();
    let first = chars.next().expect("element names are non-empty");
    Element {
        name: format!("reverse{}{}", first.to_ascii_uppercase(), chars.as_str()),
        pen,
        id,
        data_type: e.data_type,
        semantics: e.semantics,
        units: e.units.clone(),
        reverse: true,
    }
}

fn read_iana(path: &Path) -> Vec<Element> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc =
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let registry = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("registry") && n.attribute("id") == Some("ipfix-information-elements")
        })
        .expect("ipfix-information-elements registry in IANA XML");
    let mut out = Vec::new();
    for rec in registry.children().filter(|n| n.has_tag_name("record")) {
        let field = |tag: &str| {
            rec.children()
                .find(|n| n.has_tag_name(tag))
                .and_then(|n| n.text())
                .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|t| !t.is_empty())
        };
        // Records without a type are Reserved/Unassigned ranges ("105-127"), not elements.
        let Some(data_type) = field("dataType") else {
            continue;
        };
        let name = field("name").expect("IANA record without name");
        let id_text = field("elementId").expect("IANA record without elementId");
        let id: u16 = id_text
            .parse()
            .unwrap_or_else(|_| panic!("{name}: bad elementId {id_text}"));
        assert!(id < 0x8000, "{name}: IANA ID {id} has the enterprise bit");
        out.push(Element {
            data_type: data_type_variant(&data_type, &name),
            semantics: semantics_variant(field("dataTypeSemantics").as_deref(), &name),
            units: field("units").filter(|u| u != "none"),
            name,
            pen: IANA_PEN,
            id,
            reverse: false,
        });
    }
    assert!(
        out.len() > 400,
        "suspiciously few IANA elements ({})",
        out.len()
    );
    out
}

/// Returns each element with its reversible flag.
fn read_cert_tsv(path: &Path) -> Vec<(Element, bool)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut header_seen = false;
    for (lineno, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let at = format!("{}:{}", path.display(), lineno + 1);
        if !header_seen {
            assert_eq!(
                cols,
                [
                    "id",
                    "name",
                    "dataType",
                    "semantics",
                    "units",
                    "reversible",
                    "status"
                ],
                "{at}: unexpected header"
            );
            header_seen = true;
            continue;
        }
        assert_eq!(cols.len(), 7, "{at}: expected 7 tab-separated columns");
        let id: u16 = cols[0]
            .parse()
            .unwrap_or_else(|_| panic!("{at}: bad id {}", cols[0]));
        let name = cols[1].to_string();
        let reversible = match cols[5] {
            "1" => true,
            "0" => false,
            other => panic!("{at}: reversible must be 0 or 1, not {other}"),
        };
        out.push((
            Element {
                data_type: data_type_variant(cols[2], &name),
                semantics: semantics_variant(Some(cols[3]).filter(|s| !s.is_empty()), &name),
                units: Some(cols[4]).filter(|u| !u.is_empty()).map(str::to_string),
                name,
                pen: CERT_PEN,
                id,
                reverse: false,
            },
            reversible,
        ));
    }
    assert!(header_seen, "{}: no header line", path.display());
    out
}

/// Maps an RFC 7012 abstract data type name to the `DataType` variant.
fn data_type_variant(name: &str, element: &str) -> &'static str {
    match name {
        "octetArray" => "OctetArray",
        // RFC 9740's unsigned256 (bit masks of IPv6 extension headers / TCP options) has no
        // arithmetic use here; carried as its raw 32 octets.
        "unsigned256" => "OctetArray",
        "unsigned8" => "Unsigned8",
        "unsigned16" => "Unsigned16",
        "unsigned32" => "Unsigned32",
        "unsigned64" => "Unsigned64",
        "signed8" => "Signed8",
        "signed16" => "Signed16",
        "signed32" => "Signed32",
        "signed64" => "Signed64",
        "float32" => "Float32",
        "float64" => "Float64",
        "boolean" => "Boolean",
        "macAddress" => "MacAddress",
        "string" => "String",
        "dateTimeSeconds" => "DateTimeSeconds",
        "dateTimeMilliseconds" => "DateTimeMilliseconds",
        "dateTimeMicroseconds" => "DateTimeMicroseconds",
        "dateTimeNanoseconds" => "DateTimeNanoseconds",
        "ipv4Address" => "Ipv4Address",
        "ipv6Address" => "Ipv6Address",
        "basicList" => "BasicList",
        "subTemplateList" => "SubTemplateList",
        "subTemplateMultiList" => "SubTemplateMultiList",
        other => panic!("{element}: unknown abstract data type {other:?}"),
    }
}

fn semantics_variant(name: Option<&str>, element: &str) -> &'static str {
    match name {
        None | Some("default") => "Default",
        Some("quantity") => "Quantity",
        Some("totalCounter") => "TotalCounter",
        Some("deltaCounter") => "DeltaCounter",
        Some("identifier") => "Identifier",
        Some("flags") => "Flags",
        Some("list") => "List",
        Some("snmpCounter") => "SnmpCounter",
        Some("snmpGauge") => "SnmpGauge",
        Some(other) => {
            println!("cargo:warning={element}: unknown semantics {other:?}, using Other");
            "Other"
        }
    }
}

fn render(mut elements: Vec<Element>) -> String {
    elements.sort_by_key(|e| (e.pen, e.id));
    for w in elements.windows(2) {
        assert!(
            (w[0].pen, w[0].id) != (w[1].pen, w[1].id),
            "duplicate element {}/{}: {} and {}",
            w[0].pen,
            w[0].id,
            w[0].name,
            w[1].name
        );
    }
    // Names are unique within a registry but not across them: CERT registered httpUserAgent and
    // httpContentType before IANA did (468/469). By name, the IANA element wins (it is the
    // standard one, and `elements` is sorted with PEN 0 first); the CERT one stays reachable by
    // ID. Any other clash is an input error.
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, e) in elements.iter().enumerate() {
        if let Some(&prev) = by_name.get(e.name.as_str()) {
            let p = &elements[prev];
            assert!(
                p.pen == IANA_PEN && e.pen != IANA_PEN,
                "duplicate element name {}: {}/{} and {}/{}",
                e.name,
                p.pen,
                p.id,
                e.pen,
                e.id
            );
            continue;
        }
        by_name.insert(&e.name, i);
    }
    assert!(
        elements.len() <= usize::from(u16::MAX),
        "too many elements for u16 indices"
    );

    let mut s = String::new();
    s.push_str("// @generated by build.rs from registry/; do not edit.\n");
    s.push_str("/// Every known element, sorted by (pen, id).\n");
    s.push_str(&format!(
        "pub(super) static ELEMENTS: [InfoElement; {}] = [",
        elements.len()
    ));
    s.push('\n');
    for e in &elements {
        let units = match &e.units {
            Some(u) => format!("Some({u:?})"),
            None => "None".to_string(),
        };
        s.push_str(&format!("    InfoElement {{ name: {:?}, pen: {}, id: {}, data_type: DataType::{}, semantics: Semantics::{}, units: {}, reverse: {} }},",
            e.name, e.pen, e.id, e.data_type, e.semantics, units, e.reverse
        ));
        s.push('\n');
    }
    s.push_str("];\n");
    s.push_str("/// Indices into `ELEMENTS`, sorted by name (byte order).\n");
    s.push_str(&format!(
        "pub(super) static BY_NAME: [u16; {}] = [",
        by_name.len()
    ));
    s.push('\n');
    for chunk in by_name.values().collect::<Vec<_>>().chunks(16) {
        let line: Vec<String> = chunk.iter().map(|i| i.to_string()).collect();
        s.push_str(&format!("    {},", line.join(", ")));
        s.push('\n');
    }
    s.push_str("];\n");
    s
}
