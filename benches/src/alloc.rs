//! A counting global allocator: register it with `#[global_allocator]` in a binary and read
//! [`allocations`] before and after the code to measure. A thread can also tag itself with a
//! [`Side`] ([`set_side`]) so that a server and a client in one process are counted apart
//! ([`side_allocations`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which side of a conversation a thread's allocations are counted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Not attributed (the default of every thread).
    Other = 0,
    /// The server's threads.
    Server = 1,
    /// The client's threads.
    Client = 2,
}

thread_local! {
    // `const` and without a destructor: safe to read from inside the allocator.
    static SIDE: Cell<Side> = const { Cell::new(Side::Other) };
}
static BY_SIDE: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

fn count_side() {
    let side = SIDE.try_with(Cell::get).unwrap_or(Side::Other);
    BY_SIDE[side as usize].fetch_add(1, Ordering::Relaxed);
}

/// Counts this thread's allocations for `side` from now on.
pub fn set_side(side: Side) {
    SIDE.with(|s| s.set(side));
}

/// Allocation calls made so far by threads tagged `side`.
pub fn side_allocations(side: Side) -> u64 {
    BY_SIDE[side as usize].load(Ordering::Relaxed)
}

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting `alloc` and `realloc` calls and the bytes they ask for.
#[derive(Debug)]
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters
// are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        count_side();
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        LIVE.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded from our caller, who upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        count_side();
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        LIVE.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as in `alloc`; `ptr` came from `System` through us.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        count_side();
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as in `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocation calls (`alloc`, `alloc_zeroed`, `realloc`) and requested bytes so far.
pub fn allocations() -> (u64, u64) {
    (
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    )
}

/// Allocations alive now and their bytes.
pub fn live() -> (u64, u64) {
    (
        LIVE.load(Ordering::Relaxed),
        LIVE_BYTES.load(Ordering::Relaxed),
    )
}
