//! libfixbuf's `ipfixDump --yaf` text (an independent decoder) as expected values: the YAF
//! dumps that sit beside the corpus's and tests/data's `.yaf` files.

use std::path::Path;

/// One DNS record (0xCF00) as YAF exported it, with the columns the seed's queries read.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct YafRr {
    pub rrname: String,
    /// Address or target name of the rdata; "" for questions and types without rdata.
    pub rrval: String,
    pub qr: u8,
    pub rtype: u16,
    pub auth: u8,
    pub nx: u8,
    pub section: u8,
    pub ttl: u32,
}

/// One top-level flow record of a YAF dump.
#[derive(Debug, Clone, Default)]
pub struct YafFlow {
    pub src: String,
    pub dst: String,
    /// flowStartMilliseconds as ipfixDump prints it: "2011-03-18 19:06:07.096" (UTC).
    pub start: String,
    pub rrs: Vec<YafRr>,
}

/// Parses `ipfixDump --yaf` text (libfixbuf's decoder, independent of ours): every flow
/// record (options records are left out) with its DNS records.
pub fn yaf_dump(path: &Path) -> Vec<YafFlow> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut flows: Vec<YafFlow> = Vec::new();
    let mut in_flow = false;
    let mut cur_rr: Option<YafRr> = None;
    let mut rdata: Option<String> = None;
    let value = |t: &str| -> String {
        let v = t.split_once(" : ").map(|(_, v)| v).unwrap_or("");
        match v.split_once(") ") {
            Some((len, s)) if len.starts_with("(len:") => s.to_string(),
            _ => v.to_string(),
        }
    };
    let key = |t: &str| -> String {
        t.split_once(" : ")
            .map(|(k, _)| k.split_whitespace().last().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    for line in text.lines() {
        let t = line.trim_start_matches('\t');
        let depth = line.len() - t.len();
        if depth == 0 && t.starts_with("--- ") {
            in_flow = false;
        }
        if depth == 1 && t.starts_with("count:") && t.contains("tid:") {
            // The top-level data record's header: flows are 0xB0xx/0xB4xx in YAF.
            let tid = t.split("(0x").nth(1).unwrap_or("");
            in_flow = tid.starts_with('b');
            if in_flow {
                flows.push(YafFlow::default());
            }
            continue;
        }
        if !in_flow {
            continue;
        }
        let flow = flows.last_mut().unwrap();
        if depth == 1 {
            match key(t).as_str() {
                "sourceIPv4Address" | "sourceIPv6Address" => flow.src = value(t),
                "destinationIPv4Address" | "destinationIPv6Address" => flow.dst = value(t),
                "flowStartMilliseconds" => flow.start = value(t),
                _ => {}
            }
            continue;
        }
        if t.starts_with("count:") && t.contains("(0xcf00)") && !t.contains("semantic") {
            cur_rr = Some(YafRr::default());
            rdata = None;
            continue;
        }
        let Some(rr) = cur_rr.as_mut() else { continue };
        let k = key(t);
        match k.as_str() {
            "sourceIPv4Address" | "sourceIPv6Address" | "dnsCName" | "dnsNSDName"
            | "dnsPTRDName" | "dnsMXExchange" | "dnsSRVTarget" | "dnsSOAMName" | "dnsTXTData"
                if rdata.is_none() =>
            {
                rdata = Some(value(t))
            }
            "dnsQName" => rr.rrname = value(t),
            "dnsTTL" => rr.ttl = value(t).parse().unwrap(),
            "dnsQRType" => rr.rtype = value(t).parse().unwrap(),
            "dnsQueryResponse" => rr.qr = value(t).parse().unwrap(),
            "dnsAuthoritative" => rr.auth = value(t).parse().unwrap(),
            "dnsNXDomain" => rr.nx = value(t).parse().unwrap(),
            "dnsRRSection" => rr.section = value(t).parse().unwrap(),
            "dnsID" => {
                // Last field before the padding: the record is complete.
                let mut done = cur_rr.take().unwrap();
                done.rrval = rdata.take().unwrap_or_default();
                flow.rrs.push(done);
            }
            _ => {}
        }
    }
    flows
}

/// (flows, DNS records) of an ipfixDump text: top-level records of YAF's flow templates
/// (0xBxxx) and 0xCF00 record headers at any depth.
pub fn dump_counts(dump: &Path) -> (u64, u64) {
    let text =
        std::fs::read_to_string(dump).unwrap_or_else(|e| panic!("reading {}: {e}", dump.display()));
    let mut flows = 0;
    let mut dns = 0;
    for line in text.lines() {
        let t = line.trim_start_matches('\t');
        let depth = line.len() - t.len();
        if !t.starts_with("count:") || t.contains("semantic") {
            continue;
        }
        if depth == 1 && t.contains("(0xb") {
            flows += 1;
        }
        if t.contains("(0xcf00)") {
            dns += 1;
        }
    }
    (flows, dns)
}
