//! Bounds-checked byte cursor and growable writer: the only places that touch raw indices.
//!
//! Every read goes through [`Reader`], which never indexes past its slice and reports the
//! absolute stream offset of a shortfall, so callers can say *where* input was bad.

mod reader;
mod writer;

pub(crate) use reader::{Reader, Short};
pub(crate) use writer::Writer;
