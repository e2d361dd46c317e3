//! # herald-dispatcher (being built)
