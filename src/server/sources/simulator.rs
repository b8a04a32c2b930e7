//! The demo business metrics of the `main` dashboard, shaped like real traffic rather than
//! white noise: active users follow a daily rhythm plus a mean-reverting random walk and rare
//! spikes; requests, errors, orders and revenue derive from them with their own noise.

use super::Source;
use crate::protocol::{Format, MetricDefinition, Metrics, Millis};
use crate::server::broker::Declaration;
use rand::{rngs::SmallRng, Rng, SeedableRng};

const DAY_MS: f64 = 86_400_000.0;

pub struct Simulator {
    rng: SmallRng,
    /// Random-walk deviation of active users from the daily baseline, as a ratio.
    drift: f64,
    /// Remaining strength of the current traffic spike (0 when none), decaying each tick.
    spike: f64,
    /// Error-rate excursion, decaying each tick.
    incident: f64,
}

impl Simulator {
    pub fn new(seed: u64) -> Self {
        Simulator { rng: SmallRng::seed_from_u64(seed), drift: 0.0, spike: 0.0, incident: 0.0 }
    }

    /// Users expected at this time of day: a trough at 04:00 UTC, a peak at 16:00.
    fn baseline(now: Millis) -> f64 {
        let phase = (now as f64 % DAY_MS) / DAY_MS * std::f64::consts::TAU;
        800.0 + 350.0 * (phase - std::f64::consts::FRAC_PI_2 - std::f64::consts::PI / 3.0).sin()
    }

    /// Normal noise via Box-Muller, enough for a demo without another dependency.
    fn gaussian(&mut self) -> f64 {
        let u1: f64 = self.rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = self.rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A Poisson-distributed count with mean `mean` (Knuth's method; means here are small).
    fn poisson(&mut self, mean: f64) -> f64 {
        let limit = (-mean).exp();
        let mut count = 0.0;
        let mut product: f64 = self.rng.random();
        while product > limit && count < 10_000.0 {
            count += 1.0;
            product *= self.rng.random::<f64>();
        }
        count
    }

    pub fn next(&mut self, now: Millis) -> Metrics {
        // Mean-reverting walk (Ornstein-Uhlenbeck), clamped to a believable band.
        self.drift = (self.drift * 0.97 + 0.015 * self.gaussian()).clamp(-0.4, 0.4);
        self.spike *= 0.85;
        if self.rng.random_bool(0.01) {
            self.spike = self.rng.random_range(0.3..0.9);
        }
        self.incident *= 0.9;
        if self.rng.random_bool(0.005) {
            self.incident = self.rng.random_range(0.03..0.12);
        }

        let users = (Self::baseline(now) * (1.0 + self.drift + self.spike)).max(0.0).round();
        let requests = (users * 0.45 * (1.0 + 0.05 * self.gaussian())).max(0.0);
        let error_rate = (0.004 + self.incident + 0.0015 * self.gaussian().abs()).clamp(0.0, 1.0);
        let orders = self.poisson(users / 300.0);
        let revenue = if orders > 0.0 { (orders * (42.0 + 12.0 * self.gaussian())).max(orders * 5.0) } else { 0.0 };
        [
            ("activeUsers", users),
            ("requestsPerSec", (requests * 10.0).round() / 10.0),
            ("errorRate", (error_rate * 10_000.0).round() / 10_000.0),
            ("revenue", (revenue * 100.0).round() / 100.0),
            ("orders", orders),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
    }
}

impl Source for Simulator {
    fn declaration(&self) -> Declaration {
        Declaration {
            dashboard: "main".into(),
            title: "Shop (demo)".into(),
            definitions: vec![
                MetricDefinition::new("activeUsers", "Active users", "", Format::Int),
                MetricDefinition::new("requestsPerSec", "Requests", "req/s", Format::Decimal),
                MetricDefinition::new("errorRate", "Error rate", "%", Format::Percent),
                MetricDefinition::new("revenue", "Revenue", "$/s", Format::Currency),
                MetricDefinition::new("orders", "Orders", "/s", Format::Int),
            ],
        }
    }

    fn sample(&mut self, now: Millis) -> Option<Metrics> {
        Some(self.next(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A day of seconds from a fixed seed.
    fn day() -> Vec<Metrics> {
        let mut simulator = Simulator::new(7);
        (0..86_400).map(|second| simulator.next(second * 1000)).collect()
    }

    #[test]
    fn values_stay_in_believable_bounds() {
        for metrics in day() {
            let users = metrics["activeUsers"];
            assert!((0.0..=3000.0).contains(&users), "{users}");
            assert_eq!(users.fract(), 0.0);
            assert!((0.0..=1.0).contains(&metrics["errorRate"]));
            assert!(metrics["requestsPerSec"] >= 0.0);
            assert!(metrics["orders"] >= 0.0 && metrics["orders"].fract() == 0.0);
            assert!(metrics["revenue"] >= 0.0);
            if metrics["orders"] == 0.0 {
                assert_eq!(metrics["revenue"], 0.0);
            }
        }
    }

    #[test]
    fn traffic_is_smooth_not_white_noise() {
        let users: Vec<f64> = day().iter().map(|m| m["activeUsers"]).collect();
        // Consecutive seconds differ far less than the series varies overall.
        let mean_step = users.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / users.len() as f64;
        let mean = users.iter().sum::<f64>() / users.len() as f64;
        let spread = (users.iter().map(|u| (u - mean).powi(2)).sum::<f64>() / users.len() as f64).sqrt();
        assert!(mean_step < spread / 5.0, "step {mean_step} vs spread {spread}");
        // The daily rhythm: afternoon busier than the small hours.
        let hour = |h: usize| users[h * 3600..(h + 1) * 3600].iter().sum::<f64>() / 3600.0;
        assert!(hour(16) > hour(4) * 1.5, "16h {} vs 4h {}", hour(16), hour(4));
    }

    #[test]
    fn spikes_happen_but_rarely() {
        let users: Vec<f64> = day().iter().map(|m| m["activeUsers"]).collect();
        let jumps = users.windows(2).filter(|w| w[1] > w[0] * 1.2).count();
        assert!((100..=2000).contains(&jumps), "{jumps} spikes in a day");
    }
}
