//! Synthetic data for the IDIC suite, with no I/O of its own: customer records as
//! channels really write them, with the ground truth ([`generator`]); order-system
//! transactions from known BG/NBD and Gamma-Gamma processes ([`transactions`]); and the
//! activity of a generated population, its purchases and contacts keyed by
//! identifiers its own records carry ([`activity`]). The test kit, the benchmarks,
//! `idic-generate` and `idic demo` share it.

#![forbid(unsafe_code)]

pub mod activity;
pub mod generator;
pub mod transactions;
