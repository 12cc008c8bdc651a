//! The decoder: message -> sets -> records -> RFC 6313 lists. Each length read from the wire
//! narrows a [`Reader`] before anything below it is parsed, so no level can read past its
//! container, and every `Vec` grows only by items already parsed from bytes in hand.

use std::borrow::Cow;
use std::sync::Arc;

use crate::error::{DecodeError, Warning};
use crate::ie::ElementId;
use crate::message::{
    Message, MessageHeader, Set, SetContent, HEADER_LEN, MIN_DATA_SET_ID, OPTIONS_TEMPLATE_SET_ID,
    TEMPLATE_SET_ID, VERSION,
};
use crate::record::{
    BasicList, DataRecord, FieldData, FieldValue, StmlEntry, SubTemplateList, SubTemplateMultiList,
    VarLen,
};
use crate::session::Session;
use crate::template::{FieldKind, FieldSpec, Template, TemplateRecord, VARLEN};
use crate::wire::{Reader, Short};

/// Where we are, for error reports, plus the budget shared by the whole message.
struct Ctx<'s> {
    session: &'s Session,
    msg_offset: u64,
    set_offset: u64,
    domain_id: u32,
    fields_left: usize,
    warnings: Vec<Warning>,
}

impl Ctx<'_> {
    fn bad_record(&self, offset: u64, template_id: u16, reason: &'static str) -> DecodeError {
        DecodeError::BadRecord {
            msg_offset: self.msg_offset,
            set_offset: self.set_offset,
            offset,
            template_id,
            reason,
        }
    }
}

/// Reads and checks the 16-byte header; shared with the stream framer.
pub(crate) fn read_header(
    buf: &[u8],
    offset: u64,
    max_len: usize,
) -> Result<MessageHeader, DecodeError> {
    let mut r = Reader::new(buf, offset);
    let short = |s: Short| DecodeError::Truncated {
        msg_offset: offset,
        offset: s.offset,
        what: "message header",
        needed: s.needed,
        available: s.available,
    };
    let version = r.u16().map_err(short)?;
    if version != VERSION {
        return Err(DecodeError::BadVersion {
            msg_offset: offset,
            version,
        });
    }
    let length = r.u16().map_err(short)?;
    if usize::from(length) < HEADER_LEN || usize::from(length) > max_len {
        return Err(DecodeError::BadMessageLength {
            msg_offset: offset,
            length: usize::from(length),
            max: max_len,
        });
    }
    let export_time = r.u32().map_err(short)?;
    let sequence_number = r.u32().map_err(short)?;
    let domain_id = r.u32().map_err(short)?;
    Ok(MessageHeader {
        version,
        length,
        export_time,
        sequence_number,
        domain_id,
    })
}

pub(crate) fn decode_message<'a>(
    session: &mut Session,
    buf: &'a [u8],
    offset: u64,
) -> Result<Message<'a>, DecodeError> {
    let header = read_header(buf, offset, session.limits.max_message_len)?;
    let mut whole = Reader::new(buf, offset);
    let mut r = whole
        .sub(usize::from(header.length))
        .map_err(|s| DecodeError::Truncated {
            msg_offset: offset,
            offset: s.offset,
            what: "message",
            needed: s.needed,
            available: s.available,
        })?;
    // Header already validated above.
    let _ = r.take(HEADER_LEN);

    let mut sets = Vec::new();
    let mut fields_left = session.limits.max_fields_per_message;
    let mut warnings = Vec::new();
    while !r.is_empty() {
        let set_offset = r.offset();
        let short = |s: Short| DecodeError::Truncated {
            msg_offset: offset,
            offset: s.offset,
            what: "set header",
            needed: s.needed,
            available: s.available,
        };
        let set_id = r.u16().map_err(short)?;
        let set_len = r.u16().map_err(short)?;
        let body_len = usize::from(set_len)
            .checked_sub(4)
            .filter(|&l| l <= r.remaining());
        let Some(body_len) = body_len else {
            return Err(DecodeError::BadSetLength {
                msg_offset: offset,
                set_offset,
                set_id,
                length: set_len,
            });
        };
        let Ok(body) = r.sub(body_len) else {
            return Err(DecodeError::BadSetLength {
                msg_offset: offset,
                set_offset,
                set_id,
                length: set_len,
            });
        };
        let set = match set_id {
            TEMPLATE_SET_ID | OPTIONS_TEMPLATE_SET_ID => {
                let (content, padding) = decode_template_set(
                    session,
                    body,
                    offset,
                    set_offset,
                    header.domain_id,
                    set_id,
                    &mut warnings,
                )?;
                Set {
                    id: set_id,
                    offset: set_offset,
                    content,
                    padding,
                }
            }
            id if id >= MIN_DATA_SET_ID => {
                match session.templates.get(header.domain_id, id).cloned() {
                    Some(template) => {
                        let mut ctx = Ctx {
                            session,
                            msg_offset: offset,
                            set_offset,
                            domain_id: header.domain_id,
                            fields_left,
                            warnings: std::mem::take(&mut warnings),
                        };
                        let mut body = body;
                        let records = decode_records(&mut ctx, &mut body, &template, 0)?;
                        fields_left = ctx.fields_left;
                        warnings = ctx.warnings;
                        Set {
                            id,
                            offset: set_offset,
                            content: SetContent::Data { template, records },
                            padding: Cow::Borrowed(body.rest()),
                        }
                    }
                    None => {
                        warnings.push(Warning::UnknownTemplate {
                            msg_offset: offset,
                            set_offset,
                            domain_id: header.domain_id,
                            template_id: id,
                        });
                        undecoded_set(id, set_offset, body)
                    }
                }
            }
            id => {
                warnings.push(Warning::ReservedSetId {
                    msg_offset: offset,
                    set_offset,
                    set_id: id,
                });
                undecoded_set(id, set_offset, body)
            }
        };
        sets.push(set);
    }
    Ok(Message {
        header,
        offset,
        sets,
        warnings,
    })
}

fn undecoded_set<'a>(id: u16, offset: u64, body: Reader<'a>) -> Set<'a> {
    Set {
        id,
        offset,
        content: SetContent::Undecoded(Cow::Borrowed(body.rest())),
        padding: Cow::Borrowed(&[]),
    }
}

#[allow(clippy::too_many_arguments)]
fn decode_template_set<'a>(
    session: &mut Session,
    mut r: Reader<'a>,
    msg_offset: u64,
    set_offset: u64,
    domain_id: u32,
    set_id: u16,
    warnings: &mut Vec<Warning>,
) -> Result<(SetContent<'a>, Cow<'a, [u8]>), DecodeError> {
    let options = set_id == OPTIONS_TEMPLATE_SET_ID;
    let mut records = Vec::new();
    // Padding: fewer bytes than the smallest record (a 4-byte withdrawal), or all zeros
    // (template ID 0 is never valid, so zeros cannot be a record).
    while r.remaining() >= 4 && r.rest().iter().any(|&b| b != 0) {
        let rec_offset = r.offset();
        let bad = |offset: u64, template_id: u16, reason: &'static str| DecodeError::BadTemplate {
            msg_offset,
            set_offset,
            offset,
            template_id,
            reason,
        };
        let short = |s: Short| DecodeError::Truncated {
            msg_offset,
            offset: s.offset,
            what: "template record",
            needed: s.needed,
            available: s.available,
        };
        let template_id = r.u16().map_err(short)?;
        let field_count = r.u16().map_err(short)?;
        if field_count == 0 {
            if template_id == set_id {
                session.templates.remove_all(domain_id, options);
            } else if template_id >= MIN_DATA_SET_ID {
                session.templates.remove(domain_id, template_id);
            } else {
                return Err(bad(
                    rec_offset,
                    template_id,
                    "withdrawal of a reserved template ID",
                ));
            }
            records.push(TemplateRecord::Withdraw { template_id });
            continue;
        }
        if template_id < MIN_DATA_SET_ID {
            return Err(bad(
                rec_offset,
                template_id,
                "template IDs below 256 are reserved",
            ));
        }
        let scope_count = if options {
            let sc = r.u16().map_err(short)?;
            if sc == 0 || sc > field_count {
                return Err(bad(
                    rec_offset,
                    template_id,
                    "scope field count must be 1..=field count",
                ));
            }
            sc
        } else {
            0
        };
        // Each specifier takes at least 4 bytes, so this capacity is backed by input.
        let mut fields = Vec::with_capacity(usize::from(field_count).min(r.remaining() / 4));
        for _ in 0..field_count {
            let raw_id = r.u16().map_err(short)?;
            let length = r.u16().map_err(short)?;
            let enterprise = raw_id & 0x8000 != 0;
            let pen = if enterprise {
                r.u32().map_err(short)?
            } else {
                0
            };
            fields.push(FieldSpec::with_enterprise_bit(
                ElementId::new(pen, raw_id & 0x7FFF),
                length,
                enterprise,
            ));
        }
        let template = Arc::new(Template::from_parts(
            template_id,
            options,
            scope_count,
            fields,
        ));
        if !session.templates.insert(domain_id, Arc::clone(&template)) {
            warnings.push(Warning::TemplateLimit {
                msg_offset,
                offset: rec_offset,
                template_id,
                limit: session.limits.max_templates,
            });
        }
        records.push(TemplateRecord::Define(template));
    }
    let content = if options {
        SetContent::OptionsTemplates(records)
    } else {
        SetContent::Templates(records)
    };
    Ok((content, Cow::Borrowed(r.take_all())))
}

/// Decodes records of `template` until fewer bytes than its smallest record remain; the
/// rest is left in `r` (set padding, or undecodable list tail).
fn decode_records<'a>(
    ctx: &mut Ctx<'_>,
    r: &mut Reader<'a>,
    template: &Arc<Template>,
    depth: usize,
) -> Result<Vec<DataRecord<'a>>, DecodeError> {
    let mut records = Vec::new();
    let min = template.min_record_len().max(1);
    while r.remaining() >= min {
        let before = r.remaining();
        let save = r.clone();
        let rec = decode_record(ctx, r, template, depth)?;
        if r.remaining() == before {
            // A record of zero bytes (all fields fixed at length 0) would loop forever.
            *r = save;
            break;
        }
        records.push(rec);
    }
    Ok(records)
}

fn decode_record<'a>(
    ctx: &mut Ctx<'_>,
    r: &mut Reader<'a>,
    template: &Arc<Template>,
    depth: usize,
) -> Result<DataRecord<'a>, DecodeError> {
    let n = template.fields().len();
    ctx.fields_left = ctx
        .fields_left
        .checked_sub(n)
        .ok_or(DecodeError::LimitExceeded {
            msg_offset: ctx.msg_offset,
            offset: r.offset(),
            what: "field values in one message",
            limit: ctx.session.limits.max_fields_per_message,
        })?;
    let mut fields = Vec::with_capacity(n);
    for spec in template.fields() {
        fields.push(decode_value(ctx, r, spec, template.id(), depth)?);
    }
    Ok(DataRecord {
        template: Arc::clone(template),
        fields,
    })
}

/// One value of `spec` (a record field or a basicList element).
fn decode_value<'a>(
    ctx: &mut Ctx<'_>,
    r: &mut Reader<'a>,
    spec: &FieldSpec,
    template_id: u16,
    depth: usize,
) -> Result<FieldValue<'a>, DecodeError> {
    let at = r.offset();
    let (varlen, len) = if spec.length == VARLEN {
        let first = r.u8().map_err(|_| {
            ctx.bad_record(at, template_id, "variable-length prefix past end of record")
        })?;
        if first == 255 {
            let l = r.u16().map_err(|_| {
                ctx.bad_record(at, template_id, "3-byte length prefix past end of record")
            })?;
            (Some(VarLen::Long), usize::from(l))
        } else {
            (Some(VarLen::Short), usize::from(first))
        }
    } else {
        (None, usize::from(spec.length))
    };
    let mut content = r.sub(len).map_err(|_| {
        ctx.bad_record(
            at,
            template_id,
            "field value runs past end of its container",
        )
    })?;
    let data = match spec.kind() {
        FieldKind::Plain => FieldData::Raw(Cow::Borrowed(content.take_all())),
        // An empty list field carries no header at all; keep it as bytes.
        _ if content.is_empty() => FieldData::Raw(Cow::Borrowed(&[])),
        kind => {
            if depth >= ctx.session.limits.max_depth {
                return Err(DecodeError::TooDeep {
                    msg_offset: ctx.msg_offset,
                    offset: at,
                    limit: ctx.session.limits.max_depth,
                });
            }
            match kind {
                FieldKind::BasicList => decode_basic_list(ctx, content, template_id, depth + 1)?,
                FieldKind::SubTemplateList => decode_stl(ctx, content, template_id, depth + 1)?,
                _ => decode_stml(ctx, content, template_id, depth + 1)?,
            }
        }
    };
    Ok(FieldValue { varlen, data })
}

fn decode_basic_list<'a>(
    ctx: &mut Ctx<'_>,
    mut r: Reader<'a>,
    template_id: u16,
    depth: usize,
) -> Result<FieldData<'a>, DecodeError> {
    let at = r.offset();
    let short = |_| ctx.bad_record(at, template_id, "basicList header truncated");
    let semantic = r.u8().map_err(short)?;
    let raw_id = r.u16().map_err(short)?;
    let length = r.u16().map_err(short)?;
    let enterprise = raw_id & 0x8000 != 0;
    let pen = if enterprise {
        r.u32().map_err(short)?
    } else {
        0
    };
    let field =
        FieldSpec::with_enterprise_bit(ElementId::new(pen, raw_id & 0x7FFF), length, enterprise);
    let mut elements = Vec::new();
    if field.min_value_len() == 0 && !r.is_empty() {
        return Err(ctx.bad_record(
            at,
            template_id,
            "basicList of zero-length elements has content",
        ));
    }
    while !r.is_empty() {
        ctx.fields_left = ctx
            .fields_left
            .checked_sub(1)
            .ok_or(DecodeError::LimitExceeded {
                msg_offset: ctx.msg_offset,
                offset: r.offset(),
                what: "field values in one message",
                limit: ctx.session.limits.max_fields_per_message,
            })?;
        elements.push(decode_value(ctx, &mut r, &field, template_id, depth)?);
    }
    Ok(FieldData::BasicList(BasicList {
        semantic,
        field,
        elements,
    }))
}

fn decode_stl<'a>(
    ctx: &mut Ctx<'_>,
    mut r: Reader<'a>,
    template_id: u16,
    depth: usize,
) -> Result<FieldData<'a>, DecodeError> {
    let at = r.offset();
    let short = |_| ctx.bad_record(at, template_id, "subTemplateList header truncated");
    let semantic = r.u8().map_err(short)?;
    let tid = r.u16().map_err(short)?;
    let (records, undecoded) = decode_list_records(ctx, r, tid, depth)?;
    Ok(FieldData::SubTemplateList(SubTemplateList {
        semantic,
        template_id: tid,
        records,
        undecoded,
    }))
}

fn decode_stml<'a>(
    ctx: &mut Ctx<'_>,
    mut r: Reader<'a>,
    template_id: u16,
    depth: usize,
) -> Result<FieldData<'a>, DecodeError> {
    let at = r.offset();
    let semantic = r
        .u8()
        .map_err(|_| ctx.bad_record(at, template_id, "subTemplateMultiList header truncated"))?;
    let mut entries = Vec::new();
    while !r.is_empty() {
        let eat = r.offset();
        let short = |_| {
            ctx.bad_record(
                eat,
                template_id,
                "subTemplateMultiList entry header truncated",
            )
        };
        let tid = r.u16().map_err(short)?;
        let len = r.u16().map_err(short)?;
        let body = usize::from(len)
            .checked_sub(4)
            .and_then(|l| r.sub(l).ok())
            .ok_or_else(|| {
                ctx.bad_record(
                    eat,
                    template_id,
                    "subTemplateMultiList entry length out of bounds",
                )
            })?;
        let (records, undecoded) = decode_list_records(ctx, body, tid, depth)?;
        entries.push(StmlEntry {
            template_id: tid,
            records,
            undecoded,
        });
    }
    Ok(FieldData::SubTemplateMultiList(SubTemplateMultiList {
        semantic,
        entries,
    }))
}

fn decode_list_records<'a>(
    ctx: &mut Ctx<'_>,
    mut r: Reader<'a>,
    tid: u16,
    depth: usize,
) -> Result<(Vec<DataRecord<'a>>, Cow<'a, [u8]>), DecodeError> {
    match ctx.session.templates.get(ctx.domain_id, tid).cloned() {
        Some(t) => {
            let records = decode_records(ctx, &mut r, &t, depth)?;
            Ok((records, Cow::Borrowed(r.take_all())))
        }
        None => {
            // An empty list naming an unknown template loses nothing; only warn with content.
            if !r.is_empty() {
                ctx.warnings.push(Warning::UnknownListTemplate {
                    msg_offset: ctx.msg_offset,
                    offset: r.offset(),
                    domain_id: ctx.domain_id,
                    template_id: tid,
                });
            }
            Ok((Vec::new(), Cow::Borrowed(r.take_all())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeError;
    use crate::record::FieldData;
    use crate::session::Limits;

    /// Template 0x0100 (IANA, CERT varlen, reduced-size) then two data records + padding.
    #[rustfmt::skip]
    const FLAT: &[u8] = &[
        // header: version 10, length 68, export time 1, sequence 7, domain 5
        0x00, 0x0a, 0x00, 0x44, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x05,
        // template set, length 24
        0x00, 0x02, 0x00, 0x18,
        //   template 0x0100, 3 fields
        0x01, 0x00, 0x00, 0x03,
        //   sourceIPv4Address (8), 4 bytes
        0x00, 0x08, 0x00, 0x04,
        //   dnsQName: enterprise bit | 179, varlen, PEN 6871
        0x80, 0xb3, 0xff, 0xff, 0x00, 0x00, 0x1a, 0xd7,
        //   octetTotalCount (85) reduced to 2 bytes
        0x00, 0x55, 0x00, 0x02,
        // data set 0x0100, length 28
        0x01, 0x00, 0x00, 0x1c,
        //   record 1: 192.168.0.1, short varlen "abc", 256
        0xc0, 0xa8, 0x00, 0x01, 0x03, b'a', b'b', b'c', 0x01, 0x00,
        //   record 2: 10.0.0.1, long varlen "xy", 5
        0x0a, 0x00, 0x00, 0x01, 0xff, 0x00, 0x02, b'x', b'y', 0x00, 0x05,
        //   set padding
        0x00, 0x00, 0x00,
    ];

    /// Three levels: STML -> record 0x0102 -> STL of 0x0101 records (YAF's DNS shape).
    #[rustfmt::skip]
    const NESTED: &[u8] = &[
        // header: length 80, domain 1
        0x00, 0x0a, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        // template set, length 36
        0x00, 0x02, 0x00, 0x24,
        //   0x0101: sourceIPv4Address 4
        0x01, 0x01, 0x00, 0x01, 0x00, 0x08, 0x00, 0x04,
        //   0x0102: subTemplateList (292) varlen, dnsQRType (6871/175) 2
        0x01, 0x02, 0x00, 0x02, 0x01, 0x24, 0xff, 0xff, 0x80, 0xaf, 0x00, 0x02, 0x00, 0x00, 0x1a, 0xd7,
        //   0x0103: subTemplateMultiList (293) varlen
        0x01, 0x03, 0x00, 0x01, 0x01, 0x25, 0xff, 0xff,
        // data set 0x0103, length 28
        0x01, 0x03, 0x00, 0x1c,
        //   STML, 3-byte varlen form, 21 bytes; semantic allOf
        0xff, 0x00, 0x15, 0x03,
        //     entry: template 0x0102, length 20
        0x01, 0x02, 0x00, 0x14,
        //       STL, 3-byte form, 11 bytes: allOf, template 0x0101, two addresses
        0xff, 0x00, 0x0b, 0x03, 0x01, 0x01, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,
        //       dnsQRType 1
        0x00, 0x01,
    ];

    #[test]
    fn decodes_flat_message_with_varlen_forms_and_padding() {
        let mut s = Session::new();
        let m = s.decode(FLAT, 1000).unwrap();
        assert_eq!(m.header.length, 68);
        assert_eq!(m.header.domain_id, 5);
        assert_eq!(m.sets.len(), 2);
        assert_eq!(m.sets[1].offset, 1000 + 40);
        let recs: Vec<_> = m.data_records().collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].fields[1].varlen, Some(VarLen::Short));
        assert_eq!(recs[1].fields[1].varlen, Some(VarLen::Long));
        assert_eq!(recs[0].fields[1].bytes(), Some(&b"abc"[..]));
        assert_eq!(recs[0].fields[2].bytes(), Some(&[1u8, 0][..]));
        assert_eq!(m.sets[1].padding.as_ref(), &[0, 0, 0]);
        let t = s.templates().get(5, 0x100).unwrap();
        assert_eq!(t.fields()[1].element, ElementId::cert(179));
        assert!(t.fields()[1].enterprise);
        assert!(
            s.templates().get(0, 0x100).is_none(),
            "templates are scoped by domain"
        );
        assert_eq!(m.to_bytes().unwrap(), FLAT);
    }

    #[test]
    fn decodes_three_level_structured_data() {
        let mut s = Session::new();
        let m = s.decode(NESTED, 0).unwrap();
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        let top = m.data_records().next().unwrap();
        let FieldData::SubTemplateMultiList(stml) = &top.fields[0].data else {
            panic!("not an STML: {:?}", top.fields[0]);
        };
        assert_eq!(top.fields[0].varlen, Some(VarLen::Long));
        assert_eq!(stml.semantic, 3);
        assert_eq!(stml.entries.len(), 1);
        assert_eq!(stml.entries[0].template_id, 0x0102);
        let mid = &stml.entries[0].records[0];
        let FieldData::SubTemplateList(stl) = &mid.fields[0].data else {
            panic!("not an STL");
        };
        assert_eq!(stl.template_id, 0x0101);
        assert_eq!(stl.records.len(), 2);
        assert_eq!(stl.records[1].fields[0].bytes(), Some(&[10u8, 0, 0, 2][..]));
        assert_eq!(mid.fields[1].bytes(), Some(&[0u8, 1][..]));
        assert_eq!(m.to_bytes().unwrap(), NESTED);
    }

    #[test]
    fn depth_limit_stops_nesting() {
        let mut s = Session::with_limits(Limits {
            max_depth: 1,
            ..Limits::default()
        });
        let e = s.decode(NESTED, 0).unwrap_err();
        // The STL starts at byte 16 + 36 + 4 + 4 + 4 = 64.
        assert!(
            matches!(
                e,
                DecodeError::TooDeep {
                    offset: 64,
                    limit: 1,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn field_budget_is_enforced() {
        let mut s = Session::with_limits(Limits {
            max_fields_per_message: 4,
            ..Limits::default()
        });
        let e = s.decode(FLAT, 0).unwrap_err();
        assert!(matches!(e, DecodeError::LimitExceeded { .. }), "{e:?}");
    }

    #[test]
    fn unknown_template_keeps_set_and_decodes_rest() {
        // Data set first (template not yet known), then the template set, then data again.
        let data = &FLAT[40..68];
        let tmpl = &FLAT[16..40];
        let mut body = Vec::new();
        body.extend_from_slice(data);
        body.extend_from_slice(tmpl);
        body.extend_from_slice(data);
        let mut msg = FLAT[..16].to_vec();
        msg.extend_from_slice(&body);
        let len = msg.len() as u16;
        msg[2..4].copy_from_slice(&len.to_be_bytes());
        let mut s = Session::new();
        let m = s.decode(&msg, 0).unwrap();
        assert!(matches!(
            m.warnings[..],
            [crate::Warning::UnknownTemplate {
                set_offset: 16,
                template_id: 0x100,
                domain_id: 5,
                ..
            }]
        ));
        assert!(matches!(m.sets[0].content, SetContent::Undecoded(_)));
        assert_eq!(m.data_record_count(), 2);
        assert_eq!(m.to_bytes().unwrap(), msg);
    }

    #[test]
    fn withdrawal_removes_template() {
        let mut s = Session::new();
        s.decode(FLAT, 0).unwrap();
        #[rustfmt::skip]
        let w = [
            0x00, 0x0a, 0x00, 0x18, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 5,
            // template set, length 8: withdraw 0x0100
            0x00, 0x02, 0x00, 0x08, 0x01, 0x00, 0x00, 0x00,
        ];
        let m = s.decode(&w, 0).unwrap();
        assert!(
            matches!(&m.sets[0].content, SetContent::Templates(t) if t[..] == [TemplateRecord::Withdraw { template_id: 0x100 }])
        );
        assert!(s.templates().get(5, 0x100).is_none());
        assert_eq!(m.to_bytes().unwrap(), w);
    }

    #[test]
    fn options_template_and_scope_checks() {
        #[rustfmt::skip]
        let mut o = vec![
            0x00, 0x0a, 0x00, 0x22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            // options template set, length 18: template 0x0200, 2 fields, 1 scope field
            0x00, 0x03, 0x00, 0x12, 0x02, 0x00, 0x00, 0x02, 0x00, 0x01,
            0x00, 0x95, 0x00, 0x04,  // observationDomainId
            0x00, 0x29, 0x00, 0x08,  // exportedMessageTotalCount
        ];
        let mut s = Session::new();
        let m = s.decode(&o, 0).unwrap();
        let t = s.templates().get(0, 0x200).unwrap();
        assert!(t.is_options());
        assert_eq!(t.scope_count(), 1);
        assert_eq!(m.to_bytes().unwrap(), o);
        o[25] = 0; // scope count 0
        let e = Session::new().decode(&o, 0).unwrap_err();
        assert!(
            matches!(
                e,
                DecodeError::BadTemplate {
                    template_id: 0x200,
                    offset: 20,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn malformed_input_reports_offsets() {
        let mut bad = FLAT.to_vec();
        bad[1] = 9;
        assert!(matches!(
            Session::new().decode(&bad, 7),
            Err(DecodeError::BadVersion {
                msg_offset: 7,
                version: 9
            })
        ));

        let mut bad = FLAT.to_vec();
        bad[18..20].copy_from_slice(&[0x00, 0x60]); // set length past message end
        assert!(matches!(
            Session::new().decode(&bad, 0),
            Err(DecodeError::BadSetLength {
                set_offset: 16,
                set_id: 2,
                length: 0x60,
                ..
            })
        ));

        let mut bad = FLAT.to_vec();
        bad[48] = 0x20; // varlen "abc" claims 32 bytes
        let e = Session::new().decode(&bad, 0).unwrap_err();
        assert!(
            matches!(
                e,
                DecodeError::BadRecord {
                    template_id: 0x100,
                    offset: 48,
                    set_offset: 40,
                    ..
                }
            ),
            "{e:?}"
        );

        // Truncated buffer: header says 68 bytes, 60 given.
        assert!(matches!(
            Session::new().decode(&FLAT[..60], 0),
            Err(DecodeError::Truncated { .. })
        ));
        // Header length below 16.
        let mut bad = FLAT.to_vec();
        bad[3] = 8;
        assert!(matches!(
            Session::new().decode(&bad, 0),
            Err(DecodeError::BadMessageLength { length: 8, .. })
        ));
    }

    #[test]
    fn stml_entry_length_is_checked() {
        let mut bad = NESTED.to_vec();
        bad[62..64].copy_from_slice(&[0x00, 0x02]); // entry length 2 < its own header
        let e = Session::new().decode(&bad, 0).unwrap_err();
        assert!(
            matches!(e, DecodeError::BadRecord { offset: 60, .. }),
            "{e:?}"
        );
        let mut bad = NESTED.to_vec();
        bad[62..64].copy_from_slice(&[0x00, 0x40]); // past the list's end
        assert!(Session::new().decode(&bad, 0).is_err());
    }

    #[test]
    fn sequence_gaps_are_warnings() {
        let mut s = Session::new();
        assert!(s.decode(FLAT, 0).unwrap().warnings.is_empty());
        // FLAT has 2 records at sequence 7: next expected 9, FLAT says 7 again.
        let m = s.decode(FLAT, 68).unwrap();
        assert_eq!(
            m.warnings,
            [crate::Warning::SequenceGap {
                msg_offset: 68,
                domain_id: 5,
                expected: 9,
                received: 7
            }]
        );
    }

    #[test]
    fn basic_list_decodes_and_reencodes() {
        #[rustfmt::skip]
        let b = [
            0x00, 0x0a, 0x00, 0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            // template set, length 12: 0x0104 = basicList (291) varlen
            0x00, 0x02, 0x00, 0x0c, 0x01, 0x04, 0x00, 0x01, 0x01, 0x23, 0xff, 0xff,
            // data set, length 20
            0x01, 0x04, 0x00, 0x14,
            //   basicList, short form, 15 bytes: semantic ordered, dnsQName varlen PEN 6871
            0x0f, 0x04, 0x80, 0xb3, 0xff, 0xff, 0x00, 0x00, 0x1a, 0xd7,
            //   elements "a." and "bc"
            0x02, b'a', b'.', 0x02, b'b', b'c',
        ];
        let mut s = Session::new();
        let m = s.decode(&b, 0).unwrap();
        let r = m.data_records().next().unwrap();
        let FieldData::BasicList(l) = &r.fields[0].data else {
            panic!()
        };
        assert_eq!(l.semantic, 4);
        assert_eq!(l.field.element, ElementId::cert(179));
        assert_eq!(l.elements.len(), 2);
        assert_eq!(l.elements[1].bytes(), Some(&b"bc"[..]));
        assert_eq!(m.to_bytes().unwrap(), b);
    }
}
