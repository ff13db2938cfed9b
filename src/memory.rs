//! Memory the process gives back. Uploads and the segment cache allocate buffers of
//! megabytes; glibc's malloc raises its mmap threshold after the first such buffer
//! is freed and from then on carves them out of per-thread arenas that keep the
//! memory. A fixed threshold keeps every large buffer mmapped: freed, it is returned.

/// Buffers from this size up are mapped and unmapped individually.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;

pub fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any large allocation.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
