//! Templates (RFC 7011 §3.4) and the per-session template cache.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::EncodeError;
use crate::ie::{self, DataType, ElementId, InfoElement};

/// Field length value meaning "variable length" (RFC 7011 §7).
pub const VARLEN: u16 = 65535;

/// How a field's value is decoded: opaque bytes or one of the RFC 6313 structures.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Plain,
    BasicList,
    SubTemplateList,
    SubTemplateMultiList,
}

/// One field specifier of a template (RFC 7011 §3.2).
#[derive(Clone, Debug)]
pub struct FieldSpec {
    pub element: ElementId,
    /// Wire length, or [`VARLEN`].
    pub length: u16,
    /// The enterprise bit as it was on the wire. Normally `element.pen != 0`; kept apart so a
    /// spec that sets the bit with PEN 0 still re-encodes byte-identical.
    pub enterprise: bool,
    info: Option<&'static InfoElement>,
    kind: FieldKind,
}

impl PartialEq for FieldSpec {
    fn eq(&self, o: &Self) -> bool {
        self.element == o.element && self.length == o.length && self.enterprise == o.enterprise
    }
}
impl Eq for FieldSpec {}

impl FieldSpec {
    /// A field of fixed `length` (or [`VARLEN`]); the enterprise bit is set iff `pen != 0`.
    pub fn new(element: ElementId, length: u16) -> Self {
        Self::with_enterprise_bit(element, length, element.pen != 0)
    }

    /// A variable-length field.
    pub fn varlen(element: ElementId) -> Self {
        Self::new(element, VARLEN)
    }

    pub fn with_enterprise_bit(element: ElementId, length: u16, enterprise: bool) -> Self {
        let info = ie::lookup(element);
        let kind = match info.map(|i| i.data_type) {
            Some(DataType::BasicList) => FieldKind::BasicList,
            Some(DataType::SubTemplateList) => FieldKind::SubTemplateList,
            Some(DataType::SubTemplateMultiList) => FieldKind::SubTemplateMultiList,
            _ => FieldKind::Plain,
        };
        Self {
            element,
            length,
            enterprise,
            info,
            kind,
        }
    }

    /// The information element, if the model knows it (unknown elements decode as bytes).
    pub fn info(&self) -> Option<&'static InfoElement> {
        self.info
    }

    pub fn kind(&self) -> FieldKind {
        self.kind
    }

    pub fn is_varlen(&self) -> bool {
        self.length == VARLEN
    }

    /// Element name, or `"_<pen>_<id>"`-style placeholder is left to callers: `None` here.
    pub fn name(&self) -> Option<&'static str> {
        self.info.map(|i| i.name)
    }

    pub fn data_type(&self) -> Option<DataType> {
        self.info.map(|i| i.data_type)
    }

    /// Bytes this specifier takes in a template record.
    pub fn wire_len(&self) -> usize {
        if self.enterprise {
            8
        } else {
            4
        }
    }

    /// Smallest number of bytes a value of this field takes in a record.
    pub fn min_value_len(&self) -> usize {
        if self.is_varlen() {
            1
        } else {
            usize::from(self.length)
        }
    }
}

/// A template or options template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    id: u16,
    scope_count: u16,
    options: bool,
    fields: Vec<FieldSpec>,
    min_len: usize,
    fixed_len: Option<usize>,
}

impl Template {
    /// A (non-options) template. IDs below 256 and more than 65535 fields are rejected.
    pub fn new(id: u16, fields: Vec<FieldSpec>) -> Result<Self, EncodeError> {
        Self::build(id, false, 0, fields)
    }

    /// An options template whose first `scope_count` fields are scope fields (>= 1).
    pub fn options(id: u16, scope_count: u16, fields: Vec<FieldSpec>) -> Result<Self, EncodeError> {
        if scope_count == 0 || usize::from(scope_count) > fields.len() {
            return Err(EncodeError::BadTemplate {
                template_id: id,
                reason: "scope count must be between 1 and the field count",
            });
        }
        Self::build(id, true, scope_count, fields)
    }

    fn build(
        id: u16,
        options: bool,
        scope_count: u16,
        fields: Vec<FieldSpec>,
    ) -> Result<Self, EncodeError> {
        if id < 256 {
            return Err(EncodeError::BadTemplate {
                template_id: id,
                reason: "template IDs below 256 are reserved",
            });
        }
        if fields.is_empty() || fields.len() > usize::from(u16::MAX) {
            return Err(EncodeError::BadTemplate {
                template_id: id,
                reason: "a template has 1 to 65535 fields",
            });
        }
        let t = Self::from_parts(id, options, scope_count, fields);
        if t.min_len == 0 {
            // A decoder could not tell how many such records a set holds.
            return Err(EncodeError::BadTemplate {
                template_id: id,
                reason: "records of this template would take no bytes",
            });
        }
        Ok(t)
    }

    /// Unchecked constructor for the decoder, which validates against its own error type.
    pub(crate) fn from_parts(
        id: u16,
        options: bool,
        scope_count: u16,
        fields: Vec<FieldSpec>,
    ) -> Self {
        let min_len = fields.iter().map(FieldSpec::min_value_len).sum();
        let fixed_len = if fields.iter().any(FieldSpec::is_varlen) {
            None
        } else {
            Some(min_len)
        };
        Self {
            id,
            scope_count,
            options,
            fields,
            min_len,
            fixed_len,
        }
    }

    pub fn id(&self) -> u16 {
        self.id
    }

    pub fn is_options(&self) -> bool {
        self.options
    }

    /// Number of scope fields (0 for non-options templates).
    pub fn scope_count(&self) -> u16 {
        self.scope_count
    }

    pub fn fields(&self) -> &[FieldSpec] {
        &self.fields
    }

    /// Smallest possible encoded record (variable-length fields count 1 byte).
    pub fn min_record_len(&self) -> usize {
        self.min_len
    }

    /// Record length when no field is variable-length.
    pub fn fixed_record_len(&self) -> Option<usize> {
        self.fixed_len
    }

    /// Index of the first field carrying `element`.
    pub fn position(&self, element: ElementId) -> Option<usize> {
        self.fields.iter().position(|f| f.element == element)
    }

    /// Bytes of the template record on the wire.
    pub fn wire_len(&self) -> usize {
        let head = if self.options { 6 } else { 4 };
        head + self.fields.iter().map(FieldSpec::wire_len).sum::<usize>()
    }
}

/// A record of a template set: a definition or a withdrawal (field count 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateRecord {
    Define(Arc<Template>),
    /// Withdraws one template, or all templates of the set's kind when the ID equals the set
    /// ID (2 or 3; RFC 7011 §8.1).
    Withdraw {
        template_id: u16,
    },
}

/// Templates of one transport session, keyed by (observation domain, template ID) as RFC 7011
/// §8 scopes them. A redefinition replaces the old template.
#[derive(Debug, Clone)]
pub struct TemplateCache {
    map: HashMap<(u32, u16), Arc<Template>>,
    limit: usize,
    /// Field specifiers held, all templates together: a template costs memory per field, so
    /// the template count alone would not bound a hostile peer (16k templates x 16k fields).
    fields: usize,
}

/// Field specifiers a cache may hold per template of its limit (on average).
const FIELDS_PER_TEMPLATE_BUDGET: usize = 64;

impl Default for TemplateCache {
    fn default() -> Self {
        Self::with_limit(crate::session::Limits::default().max_templates)
    }
}

impl TemplateCache {
    pub fn with_limit(limit: usize) -> Self {
        Self {
            map: HashMap::new(),
            limit,
            fields: 0,
        }
    }

    pub fn get(&self, domain_id: u32, template_id: u16) -> Option<&Arc<Template>> {
        self.map.get(&(domain_id, template_id))
    }

    /// Inserts or replaces; `false` (not stored) when a new key would pass the template
    /// limit, or the fields of all templates would pass 64 times that limit.
    pub fn insert(&mut self, domain_id: u32, template: Arc<Template>) -> bool {
        let key = (domain_id, template.id());
        let old = self.map.get(&key).map_or(0, |t| t.fields().len());
        let fields = self.fields - old + template.fields().len();
        if (old == 0 && self.map.len() >= self.limit)
            || fields > self.limit.saturating_mul(FIELDS_PER_TEMPLATE_BUDGET)
        {
            return false;
        }
        self.fields = fields;
        self.map.insert(key, template);
        true
    }

    pub fn remove(&mut self, domain_id: u32, template_id: u16) -> Option<Arc<Template>> {
        let t = self.map.remove(&(domain_id, template_id))?;
        self.fields -= t.fields().len();
        Some(t)
    }

    /// Withdraws every template (`options == false`) or options template of a domain.
    pub fn remove_all(&mut self, domain_id: u32, options: bool) {
        let fields = &mut self.fields;
        self.map.retain(|&(d, _), t| {
            let keep = d != domain_id || t.is_options() != options;
            if !keep {
                *fields -= t.fields().len();
            }
            keep
        });
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All templates of a domain, in ID order (e.g. to re-send them on a new connection).
    pub fn domain_templates(&self, domain_id: u32) -> Vec<Arc<Template>> {
        let mut v: Vec<_> = self
            .map
            .iter()
            .filter(|((d, _), _)| *d == domain_id)
            .map(|(_, t)| Arc::clone(t))
            .collect();
        v.sort_by_key(|t| t.id());
        v
    }
}

impl TryFrom<&crate::ie::yaf::TemplateDef> for Template {
    type Error = EncodeError;

    /// A template from the information model's YAF layout definitions.
    fn try_from(d: &crate::ie::yaf::TemplateDef) -> Result<Self, EncodeError> {
        let fields = d
            .fields
            .iter()
            .map(|&(e, len)| FieldSpec::new(e, len))
            .collect();
        if d.scope_count > 0 {
            Template::options(d.id, d.scope_count, fields)
        } else {
            Template::new(d.id, fields)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: u16, n: usize) -> Arc<Template> {
        Arc::new(Template::new(id, vec![FieldSpec::new(ElementId::iana(1), 4); n]).unwrap())
    }

    #[test]
    fn cache_scopes_by_domain_and_bounds_templates_and_fields() {
        let mut c = TemplateCache::with_limit(2);
        assert!(c.insert(1, t(256, 10)));
        assert!(c.insert(2, t(256, 20)));
        assert_eq!(c.get(1, 256).unwrap().fields().len(), 10);
        assert_eq!(c.get(2, 256).unwrap().fields().len(), 20);
        assert!(
            !c.insert(1, t(257, 1)),
            "third template over the limit of 2"
        );
        assert!(
            c.insert(1, t(256, 100)),
            "redefinition replaces, within 2 x 64 fields"
        );
        assert!(
            !c.insert(1, t(256, 120)),
            "20 + 120 fields pass the 128-field budget"
        );
        assert_eq!(c.get(1, 256).unwrap().fields().len(), 100);
        c.remove_all(2, false);
        assert!(c.get(2, 256).is_none());
        assert!(c.insert(1, t(257, 28)));
        assert!(c.remove(1, 256).is_some());
        assert_eq!(c.len(), 1);
        assert_eq!(c.domain_templates(1)[0].id(), 257);
    }
}
