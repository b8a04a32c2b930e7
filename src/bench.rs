//! What the benchmark programs (`src/bin/loadgen.rs`, `src/bin/write_floor.rs`,
//! `src/bin/ingest_bench.rs`) share: reading a process's CPU time and memory from /proc,
//! latency percentiles, and the source addresses of many loopback connections.

/// utime + stime in seconds, and VmRSS in bytes, of `pid`.
pub fn process_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 =
        status.lines().find(|line| line.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    // Clock ticks are 100 per second on Linux.
    Some((ticks / 100.0, rss_kb * 1024))
}

/// The `p` quantile (0..=1) of sorted microsecond latencies, in milliseconds.
pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    crate::model::stats::quantile(sorted, p).map_or(f64::NAN, |micros| f64::from(micros) / 1000.0)
}

/// The address the `index`th of many loopback connections binds to: 127.0.0.`first` for the
/// first `per_address`, then the next address, and so on, past the ~28,000 ports one address
/// can use.
pub fn loopback_source(index: usize, per_address: usize, first: u8) -> std::net::SocketAddr {
    let host = first.wrapping_add((index / per_address) as u8);
    std::net::SocketAddr::from(([127, 0, 0, host], 0))
}

/// A run's first source address, 127.0.0.1 to 127.0.0.200, at random. A run's closed
/// connections hold their ports for a minute (TIME_WAIT), and a port picked at `bind` is never
/// one of those: runs one after the other from one address ran out of ports by the third
/// (`Address already in use`), and measured a quarter fewer subscribers than asked.
pub fn random_first_source() -> u8 {
    rand::random_range(1..=200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_sources_move_to_the_next_address_every_per_address_connections() {
        let host = |index| loopback_source(index, 20_000, 7).to_string();
        assert_eq!(host(0), "127.0.0.7:0");
        assert_eq!(host(19_999), "127.0.0.7:0");
        assert_eq!(host(20_000), "127.0.0.8:0");
        assert_eq!(host(45_000), "127.0.0.9:0");
    }

    #[test]
    fn percentiles_of_sorted_microseconds_in_milliseconds() {
        let sorted: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile(&sorted, 0.5), 51.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
