//! Placeholder; replaced by the answer-path bench.
fn main() {}
