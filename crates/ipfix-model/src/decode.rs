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
