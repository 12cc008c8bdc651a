//! Typed access for consumers: find a field by element (PEN, ID) or name and read it as the
//! type its information element declares, so a collector never matches on template IDs.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ie::{self, DataType, ElementId};
use crate::record::{
    BasicList, DataRecord, FieldData, FieldValue, SubTemplateList, SubTemplateMultiList,
};
use crate::template::FieldSpec;
use crate::time::{ntp_to_unix_nanos, Timestamp};

/// One field of a record with its specifier.
#[derive(Copy, Clone, Debug)]
pub struct Field<'r, 'a> {
    pub spec: &'r FieldSpec,
    pub value: &'r FieldValue<'a>,
}

/// A value read as its information element's abstract type.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TypedValue<'r> {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Mac([u8; 6]),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    String(Cow<'r, str>),
    /// octetArray, unknown elements, and values whose length does not fit their type.
    Bytes(&'r [u8]),
    Time(Timestamp),
    BasicList(&'r BasicList<'r>),
    SubTemplateList(&'r SubTemplateList<'r>),
    SubTemplateMultiList(&'r SubTemplateMultiList<'r>),
}

impl<'a> DataRecord<'a> {
    /// The first field carrying `element`.
    pub fn field(&self, element: ElementId) -> Option<Field<'_, 'a>> {
        let i = self.template.position(element)?;
        Some(Field {
            spec: self.template.fields().get(i)?,
            value: self.fields.get(i)?,
        })
    }

    /// The first field whose element has this name (e.g. `"dnsQName"`).
    pub fn field_by_name(&self, name: &str) -> Option<Field<'_, 'a>> {
        let info = ie::lookup_name(name)?;
        self.field(ElementId::new(info.pen, info.id))
    }

    /// All fields in template order.
    pub fn iter(&self) -> impl Iterator<Item = Field<'_, 'a>> {
        self.template
            .fields()
            .iter()
            .zip(&self.fields)
            .map(|(spec, value)| Field { spec, value })
    }

    pub fn u64(&self, element: ElementId) -> Option<u64> {
        self.field(element)?.as_u64()
    }

    pub fn i64(&self, element: ElementId) -> Option<i64> {
        self.field(element)?.as_i64()
    }

    pub fn ip(&self, element: ElementId) -> Option<IpAddr> {
        self.field(element)?.as_ip()
    }

    pub fn string(&self, element: ElementId) -> Option<Cow<'_, str>> {
        self.field(element)?.as_str()
    }

    pub fn time(&self, element: ElementId) -> Option<Timestamp> {
        self.field(element)?.as_time()
    }

    /// Records of every list field of this record (one level down), in field order:
    /// subTemplateList records and all subTemplateMultiList entries' records.
    pub fn sub_records(&self) -> impl Iterator<Item = &DataRecord<'a>> {
        self.fields.iter().flat_map(|f| list_records(&f.data))
    }

    /// Calls `f` on every record nested in this one, depth first, with its depth (1 = in a
    /// list of this record).
    pub fn walk<'s>(&'s self, f: &mut impl FnMut(&'s DataRecord<'a>, usize)) {
        self.walk_at(1, f);
    }

    fn walk_at<'s>(&'s self, depth: usize, f: &mut impl FnMut(&'s DataRecord<'a>, usize)) {
        for r in self.sub_records() {
            f(r, depth);
            r.walk_at(depth + 1, f);
        }
    }
}

fn list_records<'s, 'a>(d: &'s FieldData<'a>) -> Box<dyn Iterator<Item = &'s DataRecord<'a>> + 's> {
    match d {
        FieldData::SubTemplateList(l) => Box::new(l.records.iter()),
        FieldData::SubTemplateMultiList(l) => {
            Box::new(l.entries.iter().flat_map(|e| e.records.iter()))
        }
        FieldData::BasicList(l) => Box::new(l.elements.iter().flat_map(|e| list_records(&e.data))),
        FieldData::Raw(_) => Box::new(std::iter::empty()),
    }
}

fn be_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 8 {
        return None;
    }
    Some(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

impl<'r, 'a> Field<'r, 'a> {
    pub fn name(&self) -> Option<&'static str> {
        self.spec.name()
    }

    pub fn element(&self) -> ElementId {
        self.spec.element
    }

    /// Plain value bytes (`None` for decoded lists).
    pub fn bytes(&self) -> Option<&'r [u8]> {
        match &self.value.data {
            FieldData::Raw(b) => Some(b),
            _ => None,
        }
    }

    /// Unsigned integer of 1 to 8 bytes (reduced-size encoding included).
    pub fn as_u64(&self) -> Option<u64> {
        be_u64(self.bytes()?)
    }

    /// Signed integer of 1 to 8 bytes, sign-extended.
    pub fn as_i64(&self) -> Option<i64> {
        let b = self.bytes()?;
        let u = be_u64(b)?;
        let shift = 64 - 8 * b.len() as u32;
        Some(((u << shift) as i64) >> shift)
    }

    /// float32 or float64 (4 or 8 bytes).
    pub fn as_f64(&self) -> Option<f64> {
        let b = self.bytes()?;
        match b.len() {
            4 => Some(f64::from(f32::from_bits(be_u64(b)? as u32))),
            8 => Some(f64::from_bits(be_u64(b)?)),
            _ => None,
        }
    }

    /// RFC 7011 boolean: 1 = true, 2 = false; anything else is `None`.
    pub fn as_bool(&self) -> Option<bool> {
        match self.bytes()? {
            [1] => Some(true),
            [2] => Some(false),
            _ => None,
        }
    }

    pub fn as_ipv4(&self) -> Option<Ipv4Addr> {
        let b: [u8; 4] = self.bytes()?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    }

    pub fn as_ipv6(&self) -> Option<Ipv6Addr> {
        let b: [u8; 16] = self.bytes()?.try_into().ok()?;
        Some(Ipv6Addr::from(b))
    }

    /// An IPv4 (4 bytes) or IPv6 (16 bytes) address.
    pub fn as_ip(&self) -> Option<IpAddr> {
        self.as_ipv4()
            .map(IpAddr::V4)
            .or_else(|| self.as_ipv6().map(IpAddr::V6))
    }

    pub fn as_mac(&self) -> Option<[u8; 6]> {
        self.bytes()?.try_into().ok()
    }

    /// The bytes as UTF-8, invalid sequences replaced (exporters do send Latin-1).
    pub fn as_str(&self) -> Option<Cow<'r, str>> {
        Some(String::from_utf8_lossy(self.bytes()?))
    }

    /// A dateTime value in whichever of the four encodings its element declares. Elements of
    /// unknown type are not guessed at: `None`.
    pub fn as_time(&self) -> Option<Timestamp> {
        let dt = self.spec.data_type()?;
        let v = self.as_u64()?;
        let nanos = match dt {
            DataType::DateTimeSeconds => i128::from(v) * 1_000_000_000,
            DataType::DateTimeMilliseconds => i128::from(v) * 1_000_000,
            // RFC 7011 §6.1.9: the low 11 bits of a microsecond fraction are not significant.
            DataType::DateTimeMicroseconds if self.bytes()?.len() == 8 => {
                ntp_to_unix_nanos(v & !0x7FF)
            }
            DataType::DateTimeNanoseconds if self.bytes()?.len() == 8 => ntp_to_unix_nanos(v),
            _ => return None,
        };
        Some(Timestamp(nanos))
    }

    pub fn as_basic_list(&self) -> Option<&'r BasicList<'a>> {
        match &self.value.data {
            FieldData::BasicList(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_sub_template_list(&self) -> Option<&'r SubTemplateList<'a>> {
        match &self.value.data {
            FieldData::SubTemplateList(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_sub_template_multi_list(&self) -> Option<&'r SubTemplateMultiList<'a>> {
        match &self.value.data {
            FieldData::SubTemplateMultiList(l) => Some(l),
            _ => None,
        }
    }

    /// Records carried by this field when it is a subTemplateList or subTemplateMultiList
    /// (all entries), or a basicList of those.
    pub fn sub_records(&self) -> impl Iterator<Item = &'r DataRecord<'a>> {
        list_records(&self.value.data)
    }

    /// Elements of a basicList, each viewed with the list's field specifier.
    pub fn list_elements(&self) -> impl Iterator<Item = Field<'r, 'a>> {
        self.as_basic_list().into_iter().flat_map(|l| {
            l.elements.iter().map(move |value| Field {
                spec: &l.field,
                value,
            })
        })
    }

    /// The value as its element's abstract type; bytes when the element is unknown or the
    /// length does not fit the type.
    pub fn typed(&self) -> TypedValue<'r> {
        let bytes = match &self.value.data {
            FieldData::Raw(b) => &**b,
            FieldData::BasicList(l) => return TypedValue::BasicList(shorten_bl(l)),
            FieldData::SubTemplateList(l) => return TypedValue::SubTemplateList(shorten_stl(l)),
            FieldData::SubTemplateMultiList(l) => {
                return TypedValue::SubTemplateMultiList(shorten_stml(l))
            }
        };
        let Some(dt) = self.spec.data_type() else {
            return TypedValue::Bytes(bytes);
        };
        let v = match dt {
            DataType::Unsigned8
            | DataType::Unsigned16
            | DataType::Unsigned32
            | DataType::Unsigned64 => self.as_u64().map(TypedValue::Unsigned),
            DataType::Signed8 | DataType::Signed16 | DataType::Signed32 | DataType::Signed64 => {
                self.as_i64().map(TypedValue::Signed)
            }
            DataType::Float32 | DataType::Float64 => self.as_f64().map(TypedValue::Float),
            DataType::Boolean => self.as_bool().map(TypedValue::Bool),
            DataType::MacAddress => self.as_mac().map(TypedValue::Mac),
            DataType::String => self.as_str().map(TypedValue::String),
            DataType::Ipv4Address => self.as_ipv4().map(TypedValue::Ipv4),
            DataType::Ipv6Address => self.as_ipv6().map(TypedValue::Ipv6),
            DataType::DateTimeSeconds
            | DataType::DateTimeMilliseconds
            | DataType::DateTimeMicroseconds
            | DataType::DateTimeNanoseconds => self.as_time().map(TypedValue::Time),
            _ => None,
        };
        v.unwrap_or(TypedValue::Bytes(bytes))
    }
}

// `TypedValue<'r>` borrows lists for one lifetime; the list's own `'a: 'r` data is covariant,
// so these just shorten it.
fn shorten_bl<'r, 'a: 'r>(l: &'r BasicList<'a>) -> &'r BasicList<'r> {
    l
}
fn shorten_stl<'r, 'a: 'r>(l: &'r SubTemplateList<'a>) -> &'r SubTemplateList<'r> {
    l
}
fn shorten_stml<'r, 'a: 'r>(l: &'r SubTemplateMultiList<'a>) -> &'r SubTemplateMultiList<'r> {
    l
}
