//! A histogram's buckets and the quantiles estimated from them, the way Prometheus'
//! `histogram_quantile` does (linear within the bucket the rank falls in). Producers hand
//! over histograms in several shapes (OpenTelemetry explicit and exponential buckets,
//! Prometheus cumulative `le` buckets); each becomes `Buckets`, and livedash shows a histogram
//! as quantiles over the buckets counted in the last interval (PROTOCOL.md 1.2).

/// Observations counted per bucket: `counts[i]` fell in `(bounds[i-1], bounds[i]]`, the last
/// count above the last bound (`+Inf`). Bounds are increasing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets {
    pub bounds: Vec<f64>,
    /// One more than `bounds`.
    pub counts: Vec<u64>,
}

/// The quantiles every histogram is shown as, with their label values.
pub const SHOWN_QUANTILES: [(f64, &str); 3] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99")];

impl Buckets {
    /// Buckets from per-bucket counts (`counts` one longer than `bounds`); `None` when the
    /// shapes do not fit or the bounds do not increase.
    pub fn new(bounds: Vec<f64>, counts: Vec<u64>) -> Option<Buckets> {
        let increasing = bounds.windows(2).all(|pair| pair[0] < pair[1]) && bounds.iter().all(|b| !b.is_nan());
        (counts.len() == bounds.len() + 1 && increasing).then_some(Buckets { bounds, counts })
    }

    /// Buckets from Prometheus' cumulative `le` counts (each counts everything at or below
    /// its bound; the `+Inf` one is the total).
    pub fn from_cumulative(mut le: Vec<(f64, f64)>) -> Option<Buckets> {
        le.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut bounds, mut counts, mut below) = (Vec::new(), Vec::new(), 0.0);
        for (bound, cumulative) in le {
            let count = (cumulative - below).max(0.0);
            below = below.max(cumulative);
            if bound == f64::INFINITY {
                counts.push(count as u64);
                return Buckets::new(bounds, counts);
            }
            bounds.push(bound);
            counts.push(count as u64);
        }
        None
    }

    /// Every observation.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// What was counted since `earlier` (the same histogram's previous cumulative counts);
    /// all of it when the bounds changed or a count went down (the producer restarted).
    pub fn since(&self, earlier: &Buckets) -> Buckets {
        let comparable = earlier.bounds == self.bounds
            && earlier.counts.len() == self.counts.len()
            && earlier.counts.iter().zip(&self.counts).all(|(before, now)| before <= now);
        if !comparable {
            return self.clone();
        }
        let counts = self.counts.iter().zip(&earlier.counts).map(|(now, before)| now - before).collect();
        Buckets { bounds: self.bounds.clone(), counts }
    }

    /// The value below which a fraction `q` of the observations fall, interpolated linearly
    /// within its bucket; `None` without observations. A rank in the `+Inf` bucket answers the
    /// highest finite bound; the first bucket starts at 0 when its bound is positive.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * total as f64;
        let mut below = 0u64;
        for (index, &count) in self.counts.iter().enumerate() {
            if count > 0 && (below + count) as f64 >= rank {
                let Some(&upper) = self.bounds.get(index) else { return self.bounds.last().copied() };
                let lower = match index {
                    0 if upper > 0.0 => 0.0,
                    0 => return Some(upper),
                    _ => self.bounds[index - 1],
                };
                return Some(lower + (upper - lower) * ((rank - below as f64) / count as f64));
            }
            below += count;
        }
        self.bounds.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_the_bucket_like_prometheus() {
        // 10 in (0, 1], 80 in (1, 2], 10 in (2, 4]; none above.
        let buckets = Buckets::new(vec![1.0, 2.0, 4.0], vec![10, 80, 10, 0]).unwrap();
        assert_eq!(buckets.quantile(0.5), Some(1.5));
        assert_eq!(buckets.quantile(0.1), Some(1.0));
        assert_eq!(buckets.quantile(0.05), Some(0.5), "the first bucket starts at 0");
        assert_eq!(buckets.quantile(0.99), Some(3.8));
        let overflowing = Buckets::new(vec![1.0], vec![1, 9]).unwrap();
        assert_eq!(overflowing.quantile(0.9), Some(1.0), "in +Inf: the highest finite bound");
        assert_eq!(Buckets::new(vec![1.0], vec![0, 0]).unwrap().quantile(0.5), None);
    }

    #[test]
    fn cumulative_le_counts_and_intervals() {
        let le = vec![(f64::INFINITY, 100.0), (1.0, 10.0), (2.0, 90.0), (4.0, 100.0)];
        let buckets = Buckets::from_cumulative(le).unwrap();
        assert_eq!(buckets, Buckets::new(vec![1.0, 2.0, 4.0], vec![10, 80, 10, 0]).unwrap());
        assert_eq!(Buckets::from_cumulative(vec![(1.0, 3.0)]), None, "no +Inf bucket");
        let later = Buckets::new(vec![1.0, 2.0, 4.0], vec![10, 80, 20, 0]).unwrap();
        assert_eq!(later.since(&buckets).counts, vec![0, 0, 10, 0]);
        let restarted = Buckets::new(vec![1.0, 2.0, 4.0], vec![1, 0, 0, 0]).unwrap();
        assert_eq!(restarted.since(&buckets), restarted, "a count went down: a restart");
        assert_eq!(Buckets::new(vec![2.0, 1.0], vec![0, 0, 0]), None);
    }
}
