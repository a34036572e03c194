//! Benchmarks of the zerows crates against their peers, measured in the same run.
//!
//! Nothing here is published; the benchmarks live in `benches/`. Run one with
//! `cargo bench -p zerows-benches --bench handshake`.
