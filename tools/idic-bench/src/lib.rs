//! `idic-bench`: the suite's load generator. It sends gRPC requests over loopback in a
//! closed loop (maximum throughput) or an open loop (fixed rate, latency from the
//! scheduled send time), records latency with HDR histograms, and compares the full
//! suite with a bare tonic server under the same settings.

#![forbid(unsafe_code)]

pub mod cli;
pub mod cpu;
pub mod customization;
pub mod differentiation;
pub mod duration;
pub mod febrl;
pub mod identity;
pub mod interaction;
pub mod load;
pub mod machine;
pub mod recorder;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod soak;
pub mod suite;
pub mod targets;
