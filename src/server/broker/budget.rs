//! The server's byte budget for what it retains in memory for replay and chart history
//! (`--retain-memory`): every hub's update log counts against it (`log::UpdateLog::bytes`).
//! Past the limit, `MemoryBroker` drops the oldest retained updates first from the dashboards
//! holding the most, down to 95% of the limit (so it does not run on every update); a client
//! whose position was dropped gets a snapshot (PROTOCOL.md rule 2). `/metrics` shows the bytes
//! retained, the limit and the updates evicted.

use prometheus_client::metrics::{counter::Counter, gauge::Gauge};

/// Bytes retained, against a limit; the counts are the ones `/metrics` shows.
#[derive(Clone, Debug, Default)]
pub struct RetainBudget {
    limit: usize,
    used: Gauge,
    limit_gauge: Gauge,
    evicted: Counter,
}

impl RetainBudget {
    pub fn new(limit: usize) -> Self {
        let budget = RetainBudget { limit, ..RetainBudget::default() };
        budget.limit_gauge.set(limit.min(i64::MAX as usize) as i64);
        budget
    }

    /// No limit (tests, benchmarks that measure without one).
    pub fn unlimited() -> Self {
        RetainBudget::new(usize::MAX)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Counts `delta` bytes more (or fewer) retained.
    pub fn add(&self, delta: isize) {
        self.used.inc_by(delta as i64);
    }

    pub fn used(&self) -> usize {
        self.used.get().max(0) as usize
    }

    /// Whether eviction should run.
    pub fn is_over(&self) -> bool {
        self.used() > self.limit
    }

    /// Where eviction stops: 95% of the limit.
    pub fn target(&self) -> usize {
        self.limit - self.limit / 20
    }

    /// Counts updates dropped to stay within the budget.
    pub fn evicted(&self, updates: usize) {
        self.evicted.inc_by(updates as u64);
    }

    pub fn evictions(&self) -> u64 {
        self.evicted.get()
    }

    /// The metrics `/metrics` shows: (bytes retained, the limit, updates evicted).
    pub fn metrics(&self) -> (Gauge, Gauge, Counter) {
        (self.used.clone(), self.limit_gauge.clone(), self.evicted.clone())
    }
}

/// A size as people write it: `512MiB`, `2GB`, `1.5 GiB`, `65536` (bytes). Binary units are
/// powers of 1024, decimal ones of 1000.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("{text:?} is not a size such as 512MiB or 2GB"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("{other:?} is not a unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB")),
    };
    let bytes = number * scale;
    if !(1.0..9.0e18).contains(&bytes) {
        return Err(format!("{text:?} is not a size between 1 byte and 9 EB"));
    }
    Ok(bytes as usize)
}

/// Bytes written for people: `512 MiB`, `6.0 GiB`.
pub fn format_size(bytes: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("512MiB"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1.5 GiB"), Ok(1_610_612_736));
        assert_eq!(parse_size("65536"), Ok(65_536));
        assert!(parse_size("lots").unwrap_err().contains("512MiB"));
        assert!(parse_size("3 parsecs").unwrap_err().contains("not a unit"));
        assert!(parse_size("0").is_err());
        assert_eq!(format_size(512 * 1024 * 1024), "512 MiB");
        assert_eq!(format_size(6_442_450_944), "6 GiB");
        assert_eq!(format_size(1_610_612_736), "1.5 GiB");
    }

    #[test]
    fn the_budget_counts_and_says_when_to_evict() {
        let budget = RetainBudget::new(1000);
        budget.add(900);
        assert!(!budget.is_over());
        budget.add(200);
        assert!(budget.is_over());
        assert_eq!(budget.target(), 950);
        budget.add(-300);
        assert_eq!(budget.used(), 800);
        budget.evicted(3);
        assert_eq!(budget.evictions(), 3);
    }
}
