//! Pure customer-value algorithms for the differentiation service: the BG/NBD and
//! Gamma-Gamma models (likelihoods, maximum-likelihood fits, predictions), RFM
//! quintiles, value skew (Lorenz curve, Gini, tiers) and needs segments. No I/O.

#![forbid(unsafe_code)]

pub mod bgnbd;
mod bounds;
pub mod diagnostics;
pub mod gamma_gamma;
pub mod holdout;
pub mod jackson;
pub mod needs;
pub mod optimize;
pub mod rfm;
pub mod skew;
pub mod special;
pub mod summary;

pub use bgnbd::{BgNbd, BgNbdFit};
pub use gamma_gamma::{GammaGamma, GammaGammaFit};
pub use summary::{CustomerSummary, DayTotals, Purchase, TimeUnit, summarize, summarize_totals};
