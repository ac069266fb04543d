//! Record linkage for the identity service, with no I/O: normalizing dirty fields,
//! comparing them, scoring pairs (Fellegi-Sunter), blocking, estimating parameters
//! (EM) and clustering records into customers.

#![forbid(unsafe_code)]

pub mod blocking;
pub mod cluster;
pub mod em;
pub mod features;
pub mod normalize;
pub mod params;
pub mod record;
pub mod score;
mod similarity;
