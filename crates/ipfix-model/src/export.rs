//! The exporter side: build records from typed values and pack them into messages with
//! correct lengths and sequence numbers, never larger than a chosen maximum (an MTU for UDP,
//! or 65535 for TCP and files).

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::encode::{encode_record, encode_template};
use crate::error::EncodeError;
use crate::ie::DataType;
use crate::message::{HEADER_LEN, OPTIONS_TEMPLATE_SET_ID, TEMPLATE_SET_ID, VERSION};
use crate::record::{
    BasicList, DataRecord, FieldData, FieldValue, StmlEntry, SubTemplateList, SubTemplateMultiList,
    VarLen,
};
use crate::template::{FieldSpec, Template, VARLEN};
use crate::time::unix_nanos_to_ntp;
use crate::wire::Writer;

/// A typed value for [`RecordBuilder::push`]; it is encoded to the length and abstract type
/// of the template field it lands in (reduced-size encoding included).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value<'a> {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Mac([u8; 6]),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    String(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    /// Nanoseconds since the UNIX epoch, written in the field's dateTime encoding (seconds,
    /// milliseconds, or NTP 64-bit for micro- and nanoseconds).
    Time(i128),
    /// Zeros filling the field (paddingOctets).
    Padding,
    BasicList(BasicList<'a>),
    SubTemplateList(SubTemplateList<'a>),
    SubTemplateMultiList(SubTemplateMultiList<'a>),
}

macro_rules! value_from {
    ($t:ty, $v:ident, $e:expr) => {
        impl<'a> From<$t> for Value<'a> {
            fn from($v: $t) -> Self {
                $e
            }
        }
    };
}
value_from!(u8, v, Value::Unsigned(u64::from(v)));
value_from!(u16, v, Value::Unsigned(u64::from(v)));
value_from!(u32, v, Value::Unsigned(u64::from(v)));
value_from!(u64, v, Value::Unsigned(v));
value_from!(i64, v, Value::Signed(v));
value_from!(f64, v, Value::Float(v));
value_from!(bool, v, Value::Bool(v));
value_from!(Ipv4Addr, v, Value::Ipv4(v));
value_from!(Ipv6Addr, v, Value::Ipv6(v));
value_from!(&'a str, v, Value::String(Cow::Borrowed(v)));
value_from!(String, v, Value::String(Cow::Owned(v)));
value_from!(&'a [u8], v, Value::Bytes(Cow::Borrowed(v)));
value_from!(Vec<u8>, v, Value::Bytes(Cow::Owned(v)));
value_from!(SubTemplateList<'a>, v, Value::SubTemplateList(v));
value_from!(SubTemplateMultiList<'a>, v, Value::SubTemplateMultiList(v));
value_from!(BasicList<'a>, v, Value::BasicList(v));

/// Builds one data record field by field, in template order.
#[derive(Debug, Clone)]
pub struct RecordBuilder<'a> {
    template: Arc<Template>,
    fields: Vec<FieldValue<'a>>,
}

impl<'a> RecordBuilder<'a> {
    pub fn new(template: Arc<Template>) -> Self {
        let n = template.fields().len();
        Self {
            template,
            fields: Vec::with_capacity(n),
        }
    }

    /// Appends the next field's value, encoded for that field's length and type.
    pub fn push(&mut self, value: impl Into<Value<'a>>) -> Result<&mut Self, EncodeError> {
        let i = self.fields.len();
        let tid = self.template.id();
        let spec = self
            .template
            .fields()
            .get(i)
            .ok_or(EncodeError::FieldCount {
                template_id: tid,
                expected: self.template.fields().len(),
                got: i + 1,
            })?;
        let v = encode_typed(spec, value.into(), tid, i)?;
        self.fields.push(v);
        Ok(self)
    }

    /// Appends a ready-made value (e.g. to choose the varlen form yourself).
    pub fn push_value(&mut self, value: FieldValue<'a>) -> Result<&mut Self, EncodeError> {
        let i = self.fields.len();
        if i >= self.template.fields().len() {
            return Err(EncodeError::FieldCount {
                template_id: self.template.id(),
                expected: self.template.fields().len(),
                got: i + 1,
            });
        }
        self.fields.push(value);
        Ok(self)
    }

    /// The record; fails unless every field has a value.
    pub fn build(self) -> Result<DataRecord<'a>, EncodeError> {
        if self.fields.len() != self.template.fields().len() {
            return Err(EncodeError::FieldCount {
                template_id: self.template.id(),
                expected: self.template.fields().len(),
                got: self.fields.len(),
            });
        }
        Ok(DataRecord {
            template: self.template,
            fields: self.fields,
        })
    }
}

impl<'a> SubTemplateList<'a> {
    /// A list of `records` of `template` (records may be empty: YAF's empty rdata lists).
    pub fn new(semantic: u8, template: &Template, records: Vec<DataRecord<'a>>) -> Self {
        Self {
            semantic,
            template_id: template.id(),
            records,
            undecoded: Cow::Borrowed(&[]),
        }
    }
}

impl<'a> StmlEntry<'a> {
    pub fn new(template: &Template, records: Vec<DataRecord<'a>>) -> Self {
        Self {
            template_id: template.id(),
            records,
            undecoded: Cow::Borrowed(&[]),
        }
    }
}

fn encode_typed<'a>(
    spec: &FieldSpec,
    value: Value<'a>,
    template_id: u16,
    field_index: usize,
) -> Result<FieldValue<'a>, EncodeError> {
    let out_of_range = EncodeError::ValueOutOfRange {
        template_id,
        field_index,
        len: spec.length,
    };
    let wrong = |what| EncodeError::WrongType {
        template_id,
        field_index,
        what,
    };
    // Numbers in a varlen field take their full natural width.
    let fixed = |natural: usize| {
        if spec.is_varlen() {
            natural
        } else {
            usize::from(spec.length)
        }
    };
    let data: FieldData<'a> = match value {
        Value::Unsigned(v) => {
            let len = fixed(8);
            if len == 0 || len > 8 || (len < 8 && v >> (8 * len) != 0) {
                return Err(out_of_range);
            }
            let b = v.to_be_bytes();
            raw(b.get(8 - len..).unwrap_or_default().to_vec())
        }
        Value::Signed(v) => {
            let len = fixed(8);
            if len == 0 || len > 8 {
                return Err(out_of_range);
            }
            let bits = 8 * len as u32;
            if len < 8 && (v < -(1i64 << (bits - 1)) || v >= 1i64 << (bits - 1)) {
                return Err(out_of_range);
            }
            let b = v.to_be_bytes();
            raw(b.get(8 - len..).unwrap_or_default().to_vec())
        }
        Value::Float(v) => match fixed(8) {
            8 => raw(v.to_be_bytes().to_vec()),
            // Reduced-size float64 (RFC 7011 §6.2): precision loss is the point.
            4 => raw((v as f32).to_be_bytes().to_vec()),
            _ => return Err(out_of_range),
        },
        Value::Bool(v) => match fixed(1) {
            // RFC 7011 §6.1.5: true = 1, false = 2.
            1 => raw(vec![if v { 1 } else { 2 }]),
            _ => return Err(out_of_range),
        },
        Value::Mac(m) => sized(spec, m.to_vec(), out_of_range)?,
        Value::Ipv4(a) => sized(spec, a.octets().to_vec(), out_of_range)?,
        Value::Ipv6(a) => sized(spec, a.octets().to_vec(), out_of_range)?,
        Value::String(s) => sized_cow(spec, bytes_of(s), out_of_range)?,
        Value::Bytes(b) => sized_cow(spec, b, out_of_range)?,
        Value::Padding => raw(vec![
            0;
            if spec.is_varlen() {
                0
            } else {
                usize::from(spec.length)
            }
        ]),
        Value::Time(nanos) => {
            let dt = spec
                .data_type()
                .ok_or(wrong("time value for an element of unknown type"))?;
            let b = match dt {
                DataType::DateTimeSeconds => u32::try_from(nanos.div_euclid(1_000_000_000))
                    .map_err(|_| out_of_range.clone())?
                    .to_be_bytes()
                    .to_vec(),
                DataType::DateTimeMilliseconds => u64::try_from(nanos.div_euclid(1_000_000))
                    .map_err(|_| out_of_range.clone())?
                    .to_be_bytes()
                    .to_vec(),
                DataType::DateTimeMicroseconds => {
                    // RFC 7011 §6.1.9: the low 11 fraction bits are not significant.
                    (unix_nanos_to_ntp(nanos).ok_or(out_of_range.clone())? & !0x7FF)
                        .to_be_bytes()
                        .to_vec()
                }
                DataType::DateTimeNanoseconds => unix_nanos_to_ntp(nanos)
                    .ok_or(out_of_range.clone())?
                    .to_be_bytes()
                    .to_vec(),
                _ => return Err(wrong("time value for a non-dateTime element")),
            };
            sized(spec, b, out_of_range)?
        }
        Value::BasicList(l) => FieldData::BasicList(l),
        Value::SubTemplateList(l) => FieldData::SubTemplateList(l),
        Value::SubTemplateMultiList(l) => FieldData::SubTemplateMultiList(l),
    };
    let varlen = if spec.length == VARLEN {
        // Lists always take the 3-byte form, as libfixbuf writes them (and YAF's collectors
        // have only ever seen); other values the shortest form.
        let list = !matches!(data, FieldData::Raw(_));
        Some(if list || data.encoded_len() >= 255 {
            VarLen::Long
        } else {
            VarLen::Short
        })
    } else {
        if data.encoded_len() != usize::from(spec.length) {
            return Err(EncodeError::LengthMismatch {
                template_id,
                field_index,
                expected: spec.length,
                got: data.encoded_len(),
            });
        }
        None
    };
    if data.encoded_len() > 65535 {
        return Err(EncodeError::TooLong {
            what: "field value",
            len: data.encoded_len(),
            max: 65535,
        });
    }
    Ok(FieldValue { varlen, data })
}

fn raw<'a>(v: Vec<u8>) -> FieldData<'a> {
    FieldData::Raw(Cow::Owned(v))
}

fn bytes_of(s: Cow<'_, str>) -> Cow<'_, [u8]> {
    match s {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }
}

fn sized<'a>(spec: &FieldSpec, v: Vec<u8>, err: EncodeError) -> Result<FieldData<'a>, EncodeError> {
    sized_cow(spec, Cow::Owned(v), err)
}

/// Fixed-length fields take exactly their length (reduced-size encoding applies only to
/// numbers); variable-length fields take anything up to 65535 bytes.
fn sized_cow<'a>(
    spec: &FieldSpec,
    v: Cow<'a, [u8]>,
    err: EncodeError,
) -> Result<FieldData<'a>, EncodeError> {
    if !spec.is_varlen() && v.len() != usize::from(spec.length) {
        return Err(err);
    }
    Ok(FieldData::Raw(v))
}

/// Packs templates and records into messages for one observation domain of one transport
/// session. Messages are collected internally and taken with [`Exporter::take_message`];
/// time is passed in ([`Exporter::set_export_time`]) so output is deterministic.
#[derive(Debug)]
pub struct Exporter {
    domain_id: u32,
    max_len: usize,
    export_time: u32,
    /// Sequence number of the message being built (= records finished before it).
    sequence: u32,
    templates: HashMap<u16, Arc<Template>>,
    buf: Vec<u8>,
    /// Open set: its ID and where its header starts in `buf`.
    open_set: Option<(u16, usize)>,
    records_in_msg: u32,
    finished: VecDeque<Vec<u8>>,
}

/// Smallest useful message: header + one set header + a little content.
const MIN_MESSAGE: usize = 64;

impl Exporter {
    /// `max_message_len` is clamped to 64..=65535.
    pub fn new(domain_id: u32, max_message_len: usize) -> Self {
        Self {
            domain_id,
            max_len: max_message_len.clamp(MIN_MESSAGE, 65535),
            export_time: 0,
            sequence: 0,
            templates: HashMap::new(),
            buf: Vec::new(),
            open_set: None,
            records_in_msg: 0,
            finished: VecDeque::new(),
        }
    }

    pub fn domain_id(&self) -> u32 {
        self.domain_id
    }

    /// Export time (seconds since the UNIX epoch) stamped on messages finished from now on.
    pub fn set_export_time(&mut self, secs: u32) {
        self.export_time = secs;
    }

    /// Sequence number the next message will carry if started now.
    pub fn sequence_number(&self) -> u32 {
        self.sequence.wrapping_add(self.records_in_msg)
    }

    /// Templates defined so far, in ID order (to re-send after a reconnect).
    pub fn templates(&self) -> Vec<Arc<Template>> {
        let mut v: Vec<_> = self.templates.values().cloned().collect();
        v.sort_by_key(|t| t.id());
        v
    }

    pub fn template(&self, id: u16) -> Option<&Arc<Template>> {
        self.templates.get(&id)
    }

    /// Defines (or redefines) a template: writes it into the current message.
    pub fn add_template(&mut self, template: Arc<Template>) -> Result<(), EncodeError> {
        let set_id = if template.is_options() {
            OPTIONS_TEMPLATE_SET_ID
        } else {
            TEMPLATE_SET_ID
        };
        let t = Arc::clone(&template);
        self.append(set_id, template.wire_len(), move |w| {
            encode_template(w, &t, set_id == OPTIONS_TEMPLATE_SET_ID);
            Ok(())
        })?;
        self.templates.insert(template.id(), template);
        Ok(())
    }

    /// Writes every defined template again (new TCP connection, periodic UDP refresh).
    pub fn resend_templates(&mut self) -> Result<(), EncodeError> {
        for t in self.templates() {
            self.add_template(t)?;
        }
        Ok(())
    }

    /// Withdraws a template (RFC 7011 §8.1) and forgets it.
    pub fn withdraw_template(&mut self, template_id: u16) -> Result<(), EncodeError> {
        let Some(t) = self.templates.get(&template_id).cloned() else {
            return Err(EncodeError::UnknownTemplate {
                domain_id: self.domain_id,
                template_id,
            });
        };
        let set_id = if t.is_options() {
            OPTIONS_TEMPLATE_SET_ID
        } else {
            TEMPLATE_SET_ID
        };
        self.append(set_id, 4, |w| {
            w.u16(template_id);
            w.u16(0);
            Ok(())
        })?;
        self.templates.remove(&template_id);
        Ok(())
    }

    /// Appends a data record; its template (and those of its lists) must be defined.
    pub fn add_record(&mut self, record: &DataRecord<'_>) -> Result<(), EncodeError> {
        self.check_templates(record)?;
        let tid = record.template.id();
        self.append(tid, record.wire_len(), |w| encode_record(w, record))?;
        self.records_in_msg = self.records_in_msg.wrapping_add(1);
        Ok(())
    }

    fn check_templates(&self, record: &DataRecord<'_>) -> Result<(), EncodeError> {
        let tid = record.template.id();
        match self.templates.get(&tid) {
            Some(t) if Arc::ptr_eq(t, &record.template) || **t == *record.template => {}
            _ => {
                return Err(EncodeError::UnknownTemplate {
                    domain_id: self.domain_id,
                    template_id: tid,
                })
            }
        }
        for f in &record.fields {
            self.check_data(&f.data)?;
        }
        Ok(())
    }

    fn check_data(&self, d: &FieldData<'_>) -> Result<(), EncodeError> {
        match d {
            FieldData::Raw(_) => Ok(()),
            FieldData::BasicList(l) => l.elements.iter().try_for_each(|e| self.check_data(&e.data)),
            FieldData::SubTemplateList(l) => {
                self.check_list_tid(l.template_id)?;
                l.records.iter().try_for_each(|r| self.check_templates(r))
            }
            FieldData::SubTemplateMultiList(l) => l.entries.iter().try_for_each(|e| {
                self.check_list_tid(e.template_id)?;
                e.records.iter().try_for_each(|r| self.check_templates(r))
            }),
        }
    }

    fn check_list_tid(&self, tid: u16) -> Result<(), EncodeError> {
        if self.templates.contains_key(&tid) {
            Ok(())
        } else {
            Err(EncodeError::UnknownTemplate {
                domain_id: self.domain_id,
                template_id: tid,
            })
        }
    }

    /// Appends an item of `len` bytes to a set `set_id`, starting a new set or message when
    /// needed.
    fn append(
        &mut self,
        set_id: u16,
        len: usize,
        write: impl Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        if HEADER_LEN + 4 + len > self.max_len {
            return Err(EncodeError::RecordTooLarge {
                len,
                max: self.max_len - HEADER_LEN - 4,
            });
        }
        let same_set = matches!(self.open_set, Some((id, _)) if id == set_id);
        let needed = len + if same_set { 0 } else { 4 };
        if !self.buf.is_empty() && self.buf.len() + needed > self.max_len {
            self.finish_message();
        }
        // Where to roll back to if the item fails to encode: nothing of it may remain.
        let rollback = (self.buf.len(), self.open_set, self.records_in_msg);
        if self.buf.is_empty() {
            self.start_message();
        }
        if !matches!(self.open_set, Some((id, _)) if id == set_id) {
            self.close_set();
            let at = self.buf.len();
            self.buf.extend_from_slice(&set_id.to_be_bytes());
            self.buf.extend_from_slice(&[0, 0]);
            self.open_set = Some((set_id, at));
        }
        let mut w = Writer::new(&mut self.buf);
        if let Err(e) = write(&mut w) {
            w.truncate(rollback.0);
            self.open_set = rollback.1;
            self.records_in_msg = rollback.2;
            return Err(e);
        }
        Ok(())
    }

    fn start_message(&mut self) {
        self.buf.reserve(self.max_len);
        self.buf.extend_from_slice(&VERSION.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]); // length, patched in finish_message
        self.buf.extend_from_slice(&[0, 0, 0, 0]); // export time, patched too
        self.buf.extend_from_slice(&self.sequence.to_be_bytes());
        self.buf.extend_from_slice(&self.domain_id.to_be_bytes());
        self.records_in_msg = 0;
    }

    fn close_set(&mut self) {
        if let Some((_, at)) = self.open_set.take() {
            let len = (self.buf.len() - at) as u16;
            if let Some(slot) = self.buf.get_mut(at + 2..at + 4) {
                slot.copy_from_slice(&len.to_be_bytes());
            }
        }
    }

    fn finish_message(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        self.close_set();
        // `append` keeps buf.len() <= max_len <= 65535.
        let len = self.buf.len() as u16;
        if let Some(slot) = self.buf.get_mut(2..4) {
            slot.copy_from_slice(&len.to_be_bytes());
        }
        if let Some(slot) = self.buf.get_mut(4..8) {
            slot.copy_from_slice(&self.export_time.to_be_bytes());
        }
        self.sequence = self.sequence.wrapping_add(self.records_in_msg);
        self.records_in_msg = 0;
        let msg = std::mem::take(&mut self.buf);
        self.finished.push_back(msg);
    }

    /// Finishes the message being built (if any) so that it can be taken.
    pub fn flush(&mut self) {
        self.finish_message();
    }

    /// Takes the oldest finished message.
    pub fn take_message(&mut self) -> Option<Vec<u8>> {
        self.finished.pop_front()
    }

    /// Bytes in the message under construction (0 when none).
    pub fn pending_len(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ie::{ElementId, CERT_PEN};
    use crate::record::semantic::ALL_OF;
    use crate::session::Session;

    fn yaf_like() -> (Arc<Template>, Arc<Template>, Arc<Template>, Arc<Template>) {
        let a =
            Arc::new(Template::new(0xCE01, vec![FieldSpec::new(ElementId::iana(8), 4)]).unwrap());
        let qr = Arc::new(
            Template::new(
                0xCF00,
                vec![
                    FieldSpec::varlen(ElementId::iana(292)),
                    FieldSpec::varlen(ElementId::cert(179)),
                    FieldSpec::new(ElementId::cert(199), 4),
                    FieldSpec::new(ElementId::cert(175), 2),
                    FieldSpec::new(ElementId::iana(210), 4),
                ],
            )
            .unwrap(),
        );
        let dns =
            Arc::new(Template::new(0xCE00, vec![FieldSpec::varlen(ElementId::iana(292))]).unwrap());
        let flow = Arc::new(
            Template::new(
                0xB000,
                vec![
                    FieldSpec::new(ElementId::iana(152), 8),
                    FieldSpec::new(ElementId::iana(85), 4),
                    FieldSpec::new(ElementId::iana(8), 4),
                    FieldSpec::varlen(ElementId::iana(293)),
                ],
            )
            .unwrap(),
        );
        (a, qr, dns, flow)
    }

    fn rr<'a>(
        a: &Arc<Template>,
        qr: &Arc<Template>,
        name: &'a str,
        rdata: Option<Ipv4Addr>,
    ) -> DataRecord<'a> {
        let rd: Vec<DataRecord<'a>> = rdata
            .map(|ip| {
                let mut b = RecordBuilder::new(Arc::clone(a));
                b.push(ip).unwrap();
                vec![b.build().unwrap()]
            })
            .unwrap_or_default();
        let mut b = RecordBuilder::new(Arc::clone(qr));
        b.push(SubTemplateList::new(ALL_OF, a, rd)).unwrap();
        b.push(name)
            .unwrap()
            .push(300u32)
            .unwrap()
            .push(1u16)
            .unwrap()
            .push(Value::Padding)
            .unwrap();
        b.build().unwrap()
    }

    #[test]
    fn builds_yaf_dns_layout_and_decodes_it_back() {
        let (a, qr, dns, flow) = yaf_like();
        let mut ex = Exporter::new(0, 65535);
        ex.set_export_time(1_700_000_000);
        for t in [&a, &qr, &dns, &flow] {
            ex.add_template(Arc::clone(t)).unwrap();
        }
        let rrs = vec![
            rr(&a, &qr, "example.com.", None),
            rr(&a, &qr, "example.com.", Some(Ipv4Addr::new(192, 0, 2, 1))),
        ];
        let mut d = RecordBuilder::new(Arc::clone(&dns));
        d.push(SubTemplateList::new(ALL_OF, &qr, rrs)).unwrap();
        let stml = SubTemplateMultiList {
            semantic: ALL_OF,
            entries: vec![StmlEntry::new(&dns, vec![d.build().unwrap()])],
        };
        let mut f = RecordBuilder::new(Arc::clone(&flow));
        f.push(Value::Time(1_369_953_917_270_000_000)).unwrap();
        f.push(66u64).unwrap();
        f.push(Ipv4Addr::new(192, 168, 43, 9)).unwrap();
        f.push(stml).unwrap();
        let rec = f.build().unwrap();
        ex.add_record(&rec).unwrap();
        ex.flush();
        let bytes = ex.take_message().unwrap();
        assert!(ex.take_message().is_none());

        // YAF's empty rdata list: 3-byte varlen form, allOf, template 0xCE01, no records.
        let empty_stl = [0xff, 0x00, 0x03, 0x03, 0xce, 0x01];
        assert!(bytes.windows(6).any(|w| w == empty_stl));
        // Reduced-size octetTotalCount: 4 bytes 00 00 00 42 right after the 8-byte time.
        let t = 1_369_953_917_270u64.to_be_bytes();
        let pos = bytes.windows(8).position(|w| w == t).unwrap();
        assert_eq!(&bytes[pos + 8..pos + 12], &[0, 0, 0, 66]);

        let mut s = Session::new();
        let m = s.decode(&bytes, 0).unwrap();
        assert!(m.warnings.is_empty());
        assert_eq!(m.header.export_time, 1_700_000_000);
        assert_eq!(usize::from(m.header.length), bytes.len());
        let top = m.data_records().next().unwrap();
        assert_eq!(*top, rec);
        assert_eq!(m.to_bytes().unwrap(), bytes);
        let mut names = Vec::new();
        top.walk(&mut |r, depth| {
            if let Some(n) = r.string(ElementId::new(CERT_PEN, 179)) {
                names.push((depth, n.into_owned()));
            }
        });
        assert_eq!(
            names,
            [
                (2, "example.com.".to_string()),
                (2, "example.com.".to_string())
            ]
        );
    }

    #[test]
    fn splits_messages_at_max_size_with_sequence_numbers() {
        let t = Arc::new(
            Template::new(
                300,
                vec![
                    FieldSpec::new(ElementId::iana(85), 8),
                    FieldSpec::varlen(ElementId::cert(179)),
                ],
            )
            .unwrap(),
        );
        let mut ex = Exporter::new(7, 200);
        ex.add_template(Arc::clone(&t)).unwrap();
        let mut total = 0;
        for i in 0..50u64 {
            let mut b = RecordBuilder::new(Arc::clone(&t));
            b.push(i).unwrap().push("0123456789").unwrap();
            ex.add_record(&b.build().unwrap()).unwrap();
        }
        ex.flush();
        let mut s = Session::new();
        let mut expected_seq = 0u32;
        let mut first = true;
        while let Some(m) = ex.take_message() {
            assert!(m.len() <= 200);
            let d = s.decode(&m, 0).unwrap();
            assert!(d.warnings.is_empty(), "{:?}", d.warnings);
            assert_eq!(d.header.sequence_number, expected_seq);
            assert_eq!(d.header.domain_id, 7);
            if first {
                assert!(matches!(d.sets[0].content, crate::SetContent::Templates(_)));
                first = false;
            }
            for r in d.data_records() {
                assert_eq!(r.u64(ElementId::iana(85)), Some(total));
                total += 1;
            }
            expected_seq += d.data_record_count() as u32;
        }
        assert_eq!(total, 50);
        assert_eq!(ex.sequence_number(), 50);
    }

    #[test]
    fn typed_values_are_range_checked() {
        let t = Arc::new(
            Template::new(
                300,
                vec![
                    FieldSpec::new(ElementId::iana(85), 2),
                    FieldSpec::new(ElementId::iana(8), 4),
                ],
            )
            .unwrap(),
        );
        let mut b = RecordBuilder::new(Arc::clone(&t));
        assert!(matches!(
            b.push(70_000u32),
            Err(EncodeError::ValueOutOfRange {
                field_index: 0,
                len: 2,
                ..
            })
        ));
        b.push(65_535u32).unwrap();
        assert!(matches!(
            b.push("toolong"),
            Err(EncodeError::ValueOutOfRange { .. })
        ));
        b.push(Ipv4Addr::LOCALHOST).unwrap();
        assert!(matches!(b.push(1u8), Err(EncodeError::FieldCount { .. })));
        let rec = b.build().unwrap();
        let mut ex = Exporter::new(0, 1500);
        assert!(matches!(
            ex.add_record(&rec),
            Err(EncodeError::UnknownTemplate {
                template_id: 300,
                ..
            })
        ));
        let big =
            Arc::new(Template::new(301, vec![FieldSpec::varlen(ElementId::cert(179))]).unwrap());
        ex.add_template(Arc::clone(&big)).unwrap();
        let mut b = RecordBuilder::new(big);
        b.push(vec![b'x'; 2000]).unwrap();
        assert!(matches!(
            ex.add_record(&b.build().unwrap()),
            Err(EncodeError::RecordTooLarge { .. })
        ));
        assert!(RecordBuilder::new(t).build().is_err());
    }

    #[test]
    fn failed_record_leaves_no_trace() {
        let t = Arc::new(Template::new(300, vec![FieldSpec::new(ElementId::iana(85), 4)]).unwrap());
        let mut ex = Exporter::new(0, 1500);
        ex.add_template(Arc::clone(&t)).unwrap();
        ex.flush();
        let templates_msg = ex.take_message().unwrap();
        let mut b = RecordBuilder::new(Arc::clone(&t));
        b.push_value(FieldValue::raw(vec![1u8, 2])).unwrap(); // 2 bytes for a 4-byte field
        let bad = b.build().unwrap();
        assert!(matches!(
            ex.add_record(&bad),
            Err(EncodeError::LengthMismatch {
                expected: 4,
                got: 2,
                ..
            })
        ));
        assert_eq!(ex.pending_len(), 0);
        let mut b = RecordBuilder::new(Arc::clone(&t));
        b.push(9u32).unwrap();
        ex.add_record(&b.build().unwrap()).unwrap();
        assert!(matches!(
            ex.add_record(&bad),
            Err(EncodeError::LengthMismatch { .. })
        ));
        ex.flush();
        let m = ex.take_message().unwrap();
        let mut s = Session::new();
        s.decode(&templates_msg, 0).unwrap();
        let d = s.decode(&m, 0).unwrap();
        assert_eq!(d.sets.len(), 1);
        assert_eq!(d.data_record_count(), 1);
        assert_eq!(ex.sequence_number(), 1);
    }

    #[test]
    fn signed_float_bool_and_time_encodings() {
        let t = Arc::new(
            Template::new(
                400,
                vec![
                    FieldSpec::new(ElementId::iana(434), 1), // mibObjectValueInteger? any: raw
                    FieldSpec::new(ElementId::iana(156), 8), // flowStartNanoseconds
                    FieldSpec::new(ElementId::iana(150), 4), // flowStartSeconds
                ],
            )
            .unwrap(),
        );
        let mut b = RecordBuilder::new(Arc::clone(&t));
        b.push(Value::Signed(-2)).unwrap();
        b.push(Value::Time(1_000_000_000_123_456_789)).unwrap();
        b.push(Value::Time(1_000_000_000_999_999_999)).unwrap();
        let r = b.build().unwrap();
        assert_eq!(r.fields[0].bytes(), Some(&[0xfe][..]));
        assert_eq!(r.field(ElementId::iana(434)).unwrap().as_i64(), Some(-2));
        assert_eq!(
            r.time(ElementId::iana(156)).unwrap().unix_nanos(),
            1_000_000_000_123_456_789
        );
        assert_eq!(
            r.time(ElementId::iana(150)).unwrap().unix_secs(),
            1_000_000_000
        );
        let mut b = RecordBuilder::new(t);
        assert!(b.push(Value::Signed(200)).is_err());
    }
}
