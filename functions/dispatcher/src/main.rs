//! Lambda entry point (being built).

fn main() {}
