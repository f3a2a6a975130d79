//! Loopback ports for test servers (shared with the benchmarks).

/// A free loopback port for a test server, never the same one twice in a process. Taken just below
/// the kernel's ephemeral range, not from it: a port from `bind(0)` and released can be given again
/// before the server binds it, to another test of the same process or to an outgoing connection of
/// the very process that is to listen on it (the likely cause of a daemon's "metrics.bind: Address
/// already in use" in CI). A kernel whose ephemeral range leaves no room below it gets `bind(0)`'s.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const COUNT: u32 = 6000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).ok();
    if ephemeral_low < COUNT + 1024 {
        return free(0).and_then(|listener| listener.local_addr().ok()).expect("a free loopback port").port();
    }
    let first = ephemeral_low - COUNT;
    // Test binaries run one after another, but a port another one left in use is skipped anyway.
    let start = std::process::id().wrapping_mul(2_654_435_761) % COUNT;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < COUNT, "every loopback port from {first} to {ephemeral_low} is taken");
        let port = u16::try_from(first + (start + n) % COUNT).expect("below the ephemeral range");
        if free(port).is_some() {
            return port;
        }
    }
}
