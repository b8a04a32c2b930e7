//! Order statistics shared by the benchmarks (server and browser).

/// The `q` quantile (0..=1) of `sorted` (ascending) by the nearest rank; `None` when empty.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get((last as f64 * q.clamp(0.0, 1.0)).round() as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let values: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&values, 0.5), Some(51));
        assert_eq!(quantile(&values, 0.95), Some(95));
        assert_eq!(quantile(&values, 1.0), Some(100));
        assert_eq!(quantile::<u32>(&[], 0.5), None);
    }
}
