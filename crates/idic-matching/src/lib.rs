//! Record linkage for the identity service, with no I/O: normalizing dirty fields,
//! comparing them, scoring pairs (Fellegi-Sunter) and clustering records.

#![forbid(unsafe_code)]

pub mod normalize;
pub mod record;
