//! Ports for servers that must be told their port before they start (a child process,
//! an app whose callback URL names it).
//!
//! Asking the kernel for a free port and letting it go races: the kernel hands the same
//! ephemeral ports to other binds and to outgoing connections. These ports come from
//! below the kernel's ephemeral range, each handed out once per run.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};

/// Where this run's ports start: the low end, moved by the process id so two runs at
/// once start apart.
const LOWEST: u16 = 20_000;
const SPAN: u16 = 12_000;

static NEXT: AtomicU16 = AtomicU16::new(0);

/// A port on 127.0.0.1 that nothing listens on now and no other caller in this run gets.
pub fn free_port() -> u16 {
    let start = (std::process::id() % u32::from(SPAN / 2)) as u16;
    for _ in 0..SPAN {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % SPAN;
        let port = LOWEST + (start + offset) % SPAN;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOWEST}..{}", LOWEST + SPAN)
}
