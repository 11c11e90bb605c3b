//! Percentiles of latencies and medians over runs.

/// The `q`-quantile (0.0..=1.0) of `sorted` by the nearest-rank rule the peer driver uses
/// (`sorted[floor(len * q)]`, clamped); `0.0` for no samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64) * q).floor() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Sorts latencies in place (NaN-safe: total order).
pub fn sort(samples: &mut [f64]) {
    samples.sort_by(f64::total_cmp);
}

/// Median, minimum and maximum of `values` (the median of an even count is the mean of the middle two, as
/// Python's `statistics.median`); `None` for no values.
pub fn median_min_max(values: &[f64]) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    sort(&mut v);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some((median, v[0], v[n - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank_of_the_peer_driver() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 51.0);
        assert_eq!(quantile(&v, 0.99), 100.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[], 0.99), 0.0);
    }

    #[test]
    fn median_of_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median_min_max(&[4.0, 1.0, 3.0, 2.0]), Some((2.5, 1.0, 4.0)));
        assert_eq!(median_min_max(&[5.0, 1.0, 3.0]), Some((3.0, 1.0, 5.0)));
        assert_eq!(median_min_max(&[]), None);
    }

    #[test]
    fn sorting_tolerates_nan() {
        let mut v = vec![2.0, f64::NAN, 1.0];
        sort(&mut v);
        assert_eq!(v[0], 1.0);
    }
}
