//! The report: figures and an HTML page built from a sweep's frame alone.

pub mod plots;
