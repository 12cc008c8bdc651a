#!/usr/bin/env python3
"""Regenerate cert_pen6871.tsv from CERT's information model XML.

The XML (cert_ipfix.xml, shipped by libfixbuf, e.g. Debian's libfixbuf-tools at
/usr/share/libfixbuf/cert_ipfix.xml) is LGPL, so we do not vendor it: we keep
only the facts we need (ID, name, abstract type, semantics, units, reversible,
status), one element per line.

    gen_cert_tsv.py [XML] > cert_pen6871.tsv      # regenerate
    gen_cert_tsv.py --check [XML]                 # exit 1 if the checked-in file differs

Elements that YAF uses but this XML lacks go in cert_pen6871_extra.tsv, by hand.
"""
import os
import sys
import xml.etree.ElementTree as ET

DEFAULT_XML = "/usr/share/libfixbuf/cert_ipfix.xml"
HERE = os.path.dirname(os.path.abspath(__file__))
TSV = os.path.join(HERE, "cert_pen6871.tsv")
NS = {"i": "http://www.iana.org/assignments", "c": "http://www.cert.org/ipfix"}
COLUMNS = ["id", "name", "dataType", "semantics", "units", "reversible", "status"]


def text(rec, tag):
    node = rec.find(tag, NS)
    return "" if node is None or node.text is None else " ".join(node.text.split())


def generate(xml_path):
    root = ET.parse(xml_path).getroot()
    updated = text(root, "i:updated")
    lines = [
        "# CERT NetSA IPFIX elements, private enterprise number 6871.",
        "# Facts extracted by gen_cert_tsv.py from libfixbuf's cert_ipfix.xml"
        f" (registry updated {updated}); descriptions deliberately omitted.",
        "# Columns are tab-separated; empty semantics/units mean none given.",
        "\t".join(COLUMNS),
    ]
    rows = []
    for reg in root.iter("{%s}registry" % NS["i"]):
        for rec in reg.findall("i:record", NS):
            if text(rec, "c:enterpriseId") != "6871":
                continue
            elem_id = text(rec, "i:elementId")
            data_type = text(rec, "i:dataType")
            # Ranges ("1-11") are Unassigned/Reserved placeholders with no type.
            if not elem_id.isdigit() or not data_type:
                continue
            rows.append((int(elem_id), [
                elem_id,
                text(rec, "i:name"),
                data_type,
                text(rec, "i:dataTypeSemantics"),
                text(rec, "i:units"),
                "1" if text(rec, "c:reversible") == "true" else "0",
                text(rec, "i:status"),
            ]))
    rows.sort(key=lambda r: r[0])
    lines.extend("\t".join(r[1]) for r in rows)
    return "\n".join(lines) + "\n"


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    xml_path = args[0] if args else DEFAULT_XML
    out = generate(xml_path)
    if not check:
        sys.stdout.write(out)
        return 0
    with open(TSV, encoding="utf-8") as f:
        current = f.read()
    if current != out:
        sys.stderr.write(f"{TSV} is stale: rerun gen_cert_tsv.py {xml_path} > {TSV}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
