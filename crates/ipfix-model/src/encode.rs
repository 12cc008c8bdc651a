//! The encoder: the mirror of `decode`. A decoded message re-encodes byte-identical because
//! every wire choice (varlen form, enterprise bit, padding, set order, list semantics,
//! undecoded bytes) is kept in the model and written back as it was.

use crate::error::EncodeError;
use crate::message::{Message, SetContent, HEADER_LEN};
use crate::record::{DataRecord, FieldData, FieldValue, StmlEntry, VarLen};
use crate::template::{FieldSpec, Template, TemplateRecord, VARLEN};
use crate::wire::Writer;

const MAX16: usize = 65535;

fn too_long(what: &'static str, len: usize) -> EncodeError {
    EncodeError::TooLong {
        what,
        len,
        max: MAX16,
    }
}

impl Message<'_> {
    /// Appends the encoded message to `out`; returns its length. The header's `length` is
    /// recomputed from the content (the other header fields are written as they are).
    /// On error `out` is left as it was.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        let start = out.len();
        let mut w = Writer::new(out);
        let r = self.encode_into(&mut w, start);
        if r.is_err() {
            w.truncate(start);
        }
        r
    }

    /// Encodes into a fresh buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::with_capacity(usize::from(self.header.length).max(HEADER_LEN));
        self.encode(&mut v)?;
        Ok(v)
    }

    fn encode_into(&self, w: &mut Writer<'_>, start: usize) -> Result<usize, EncodeError> {
        w.u16(self.header.version);
        let len_place = w.place_u16(start);
        w.u32(self.header.export_time);
        w.u32(self.header.sequence_number);
        w.u32(self.header.domain_id);
        for set in &self.sets {
            let set_start = w.len();
            w.u16(set.id);
            let place = w.place_u16(set_start);
            match &set.content {
                SetContent::Templates(recs) | SetContent::OptionsTemplates(recs) => {
                    let options = matches!(set.content, SetContent::OptionsTemplates(_));
                    for rec in recs {
                        encode_template_record(w, rec, options);
                    }
                }
                SetContent::Data { template, records } => {
                    for rec in records {
                        // A set's records must all use the set's template.
                        if rec.template.id() != template.id() || rec.template.id() != set.id {
                            return Err(EncodeError::BadTemplate {
                                template_id: rec.template.id(),
                                reason: "record template differs from its data set ID",
                            });
                        }
                        encode_record(w, rec)?;
                    }
                }
                SetContent::Undecoded(b) => w.bytes(b),
            }
            w.bytes(&set.padding);
            let set_len = w.len() - set_start;
            w.fill_len(place).ok_or_else(|| too_long("set", set_len))?;
        }
        let len = w.len() - start;
        w.fill_len(len_place)
            .ok_or_else(|| too_long("message", len))?;
        Ok(len)
    }
}

pub(crate) fn encode_template_record(w: &mut Writer<'_>, rec: &TemplateRecord, options: bool) {
    match rec {
        TemplateRecord::Withdraw { template_id } => {
            w.u16(*template_id);
            w.u16(0);
        }
        TemplateRecord::Define(t) => encode_template(w, t, options),
    }
}

pub(crate) fn encode_template(w: &mut Writer<'_>, t: &Template, options_set: bool) {
    w.u16(t.id());
    // Template constructors cap the field count at 65535.
    w.u16(u16::try_from(t.fields().len()).unwrap_or(u16::MAX));
    if options_set {
        w.u16(t.scope_count());
    }
    for f in t.fields() {
        encode_spec(w, f);
    }
}

fn encode_spec(w: &mut Writer<'_>, f: &FieldSpec) {
    let id = f.element.id & 0x7FFF;
    if f.enterprise {
        w.u16(id | 0x8000);
        w.u16(f.length);
        w.u32(f.element.pen);
    } else {
        w.u16(id);
        w.u16(f.length);
    }
}

pub(crate) fn encode_record(w: &mut Writer<'_>, rec: &DataRecord<'_>) -> Result<(), EncodeError> {
    let t = &rec.template;
    if rec.fields.len() != t.fields().len() {
        return Err(EncodeError::FieldCount {
            template_id: t.id(),
            expected: t.fields().len(),
            got: rec.fields.len(),
        });
    }
    for (i, (spec, value)) in t.fields().iter().zip(&rec.fields).enumerate() {
        encode_value(w, spec, value, t.id(), i)?;
    }
    Ok(())
}

fn encode_value(
    w: &mut Writer<'_>,
    spec: &FieldSpec,
    value: &FieldValue<'_>,
    template_id: u16,
    field_index: usize,
) -> Result<(), EncodeError> {
    let len = value.content_len();
    if spec.length == VARLEN {
        match value.varlen {
            Some(VarLen::Short) if len < 255 => w.u8(len as u8),
            _ => {
                let l = u16::try_from(len).map_err(|_| too_long("variable-length value", len))?;
                w.u8(255);
                w.u16(l);
            }
        }
    } else if len != usize::from(spec.length) {
        return Err(EncodeError::LengthMismatch {
            template_id,
            field_index,
            expected: spec.length,
            got: len,
        });
    }
    encode_data(w, &value.data, template_id)
}

fn encode_data(
    w: &mut Writer<'_>,
    data: &FieldData<'_>,
    template_id: u16,
) -> Result<(), EncodeError> {
    match data {
        FieldData::Raw(b) => w.bytes(b),
        FieldData::BasicList(l) => {
            w.u8(l.semantic);
            encode_spec(w, &l.field);
            for (i, e) in l.elements.iter().enumerate() {
                encode_value(w, &l.field, e, template_id, i)?;
            }
        }
        FieldData::SubTemplateList(l) => {
            w.u8(l.semantic);
            w.u16(l.template_id);
            for r in &l.records {
                check_list_record(r, l.template_id)?;
                encode_record(w, r)?;
            }
            w.bytes(&l.undecoded);
        }
        FieldData::SubTemplateMultiList(l) => {
            w.u8(l.semantic);
            for e in &l.entries {
                encode_entry(w, e)?;
            }
        }
    }
    Ok(())
}

fn encode_entry(w: &mut Writer<'_>, e: &StmlEntry<'_>) -> Result<(), EncodeError> {
    let start = w.len();
    w.u16(e.template_id);
    let place = w.place_u16(start);
    for r in &e.records {
        check_list_record(r, e.template_id)?;
        encode_record(w, r)?;
    }
    w.bytes(&e.undecoded);
    let len = w.len() - start;
    w.fill_len(place)
        .ok_or_else(|| too_long("subTemplateMultiList entry", len))?;
    Ok(())
}

fn check_list_record(r: &DataRecord<'_>, list_tid: u16) -> Result<(), EncodeError> {
    if r.template.id() != list_tid {
        return Err(EncodeError::BadTemplate {
            template_id: r.template.id(),
            reason: "record template differs from its list's template ID",
        });
    }
    Ok(())
}
