//! Customization's pure logic, with no I/O: the catalog of modular components and its
//! validation, the authored rules, the policy that assembles an offering for one
//! customer profile, the Thompson-sampling bandit it learns with, and the simulation
//! bench that measures the learning against static rules and an oracle.

#![forbid(unsafe_code)]

pub mod bandit;
pub mod catalog;
pub mod policy;
pub mod profile;
pub mod rules;
pub mod simulation;
mod slot;
mod violation;

pub use catalog::{Catalog, Component, Money};
pub use slot::Slot;
pub use violation::Violation;
