//! Benchmarks of the zerows crates against their peers, measured in the same run.
//!
//! Nothing here is published. `bash benches/run.sh` runs the whole comparison (criterion
//! microbenchmarks, loopback echo, handshake rate, idle memory, allocations per message) and
//! prints the tables; `bash benches/run.sh --smoke` is the short version CI runs.
//!
//! This library holds what the benches and the binaries share: an in-memory stream
//! ([`mem::Mem`]), client frame builders ([`frames`]), the in-memory echo of every stack
//! ([`echo`]) and a counting allocator ([`alloc::Counting`]).

pub mod alloc;
pub mod echo;
pub mod frames;
pub mod mem;
pub mod side_by_side;
