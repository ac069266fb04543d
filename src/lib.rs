//! The IDIC suite's all-in-one server and command-line client.

#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod console;
pub mod records_csv;
pub mod segment_http;

pub use app::Application;
