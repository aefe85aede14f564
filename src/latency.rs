//! Packet latency histogram: recorded on the hot path, read by reports.
//!
//! A fixed-size, allocation-free, single-writer histogram over TSC cycles,
//! log-linear like HdrHistogram: each power-of-two range is split into
//! [`SUB_BUCKETS`] linear sub-buckets, so every bucket is at most 1/8 of its
//! lower bound wide (12.5 % relative resolution) from 128 cycles up, and 16
//! cycles wide below that. [`BUCKETS`] buckets cover 0 to 2^38 cycles (about
//! 100 s at 2.6 GHz, 55 s at 5 GHz); larger values are clamped into the last
//! bucket, which reports only under `le="+Inf"`.
//!
//! Writing follows [`crate::stats::Counter`]: one worker owns the histogram
//! and is its only writer, so recording is a relaxed load and store per
//! word (no locked instruction), and the bucket index is computed with one
//! clamp and no other branch. Readers take a [`LatencySnapshot`] at any
//! time; a snapshot taken while the worker records may be a few packets
//! apart between buckets, sum and max, but never torn within a word.
//! Snapshots merge across workers and answer percentiles and Prometheus
//! cumulative buckets.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// Values are first divided by 2^UNIT_SHIFT cycles: below 128 cycles the
/// resolution is 16 cycles (a few nanoseconds), which no forwarding path
/// needs finer.
const UNIT_SHIFT: u32 = 4;
/// log2 of [`SUB_BUCKETS`].
const SUB_BITS: u32 = 3;
/// Linear sub-buckets per power-of-two range.
pub const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// Power-of-two ranges ("groups"). Group 0 is [0, 8) units, group g >= 1 is
/// [2^(g+2), 2^(g+3)) units.
const GROUPS: usize = 32;
/// Number of buckets (a power of two, so an index can be masked, not checked).
pub const BUCKETS: usize = GROUPS * SUB_BUCKETS;
/// The largest value, in units, that has a bucket of its own.
const MAX_UNITS: u64 = ((SUB_BUCKETS as u64) << (GROUPS - 1)) - 1;

/// The bucket a value in cycles falls into. One clamp, then arithmetic.
#[inline(always)]
pub fn bucket_index(cycles: u64) -> usize {
    let u = (cycles >> UNIT_SHIFT).min(MAX_UNITS);
    // Highest set bit of u, but at least SUB_BITS - 1: group 0 holds 0..8.
    let top = 63 - (u | (SUB_BUCKETS as u64 - 1)).leading_zeros();
    let group = top - (SUB_BITS - 1);
    // Group 0 and group 1 both have one-unit buckets.
    let shift = group.saturating_sub(1);
    let sub = (u >> shift) as usize & (SUB_BUCKETS - 1);
    (group as usize * SUB_BUCKETS + sub) & (BUCKETS - 1)
}

/// The values bucket `i` holds, in cycles: `[lo, hi)`. The last bucket also
/// holds every clamped value; its `hi` is `u64::MAX`.
pub fn bucket_bounds(i: usize) -> (u64, u64) {
    let group = (i / SUB_BUCKETS) as u32;
    let sub = (i % SUB_BUCKETS) as u64;
    let (lo_units, width) = if group == 0 {
        (sub, 1)
    } else {
        (
            (SUB_BUCKETS as u64 + sub) << (group - 1),
            1u64 << (group - 1),
        )
    };
    let lo = lo_units << UNIT_SHIFT;
    let hi = if i == BUCKETS - 1 {
        u64::MAX
    } else {
        (lo_units + width) << UNIT_SHIFT
    };
    (lo, hi)
}

/// Adds to a single-writer word (see [`crate::stats::Counter::add`]).
#[inline(always)]
fn add(w: &AtomicU64, n: u64) {
    w.store(w.load(Relaxed).wrapping_add(n), Relaxed);
}

/// One worker's latency histogram. Only the owning worker records.
#[derive(Debug)]
#[repr(align(64))]
pub struct LatencyHistogram {
    buckets: [AtomicU64; BUCKETS],
    sum_cycles: AtomicU64,
    max_cycles: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_cycles: AtomicU64::new(0),
            max_cycles: AtomicU64::new(0),
        }
    }
}

impl LatencyHistogram {
    /// Records one packet that took `cycles`. Single writer only.
    #[inline(always)]
    pub fn record(&self, cycles: u64) {
        self.record_n(cycles, 1);
    }

    /// Records `n` packets that each took `cycles` (a burst stamped once at
    /// RX and sent together). Single writer only.
    #[inline(always)]
    pub fn record_n(&self, cycles: u64, n: u64) {
        add(&self.buckets[bucket_index(cycles)], n);
        add(&self.sum_cycles, cycles.wrapping_mul(n));
        let max = self.max_cycles.load(Relaxed);
        self.max_cycles.store(max.max(cycles), Relaxed);
    }

    /// A point-in-time copy (any thread).
    pub fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Relaxed)),
            sum_cycles: self.sum_cycles.load(Relaxed),
            max_cycles: self.max_cycles.load(Relaxed),
        }
    }
}

/// A copy of a histogram's counts: mergeable, queryable, plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencySnapshot {
    /// Observations per bucket (see [`bucket_bounds`]).
    pub buckets: [u64; BUCKETS],
    /// Sum of all observations, in cycles.
    pub sum_cycles: u64,
    /// Largest observation, in cycles.
    pub max_cycles: u64,
}

impl Default for LatencySnapshot {
    fn default() -> Self {
        LatencySnapshot {
            buckets: [0; BUCKETS],
            sum_cycles: 0,
            max_cycles: 0,
        }
    }
}

impl LatencySnapshot {
    /// Number of observations (the sum of the buckets, so it always agrees
    /// with the buckets).
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Adds another snapshot's observations (e.g. all workers together).
    pub fn merge(&mut self, other: &LatencySnapshot) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.sum_cycles = self.sum_cycles.wrapping_add(other.sum_cycles);
        self.max_cycles = self.max_cycles.max(other.max_cycles);
    }

    /// The `p`-th percentile (0 < p <= 100) in cycles, or `None` when
    /// empty. It is the highest value of the bucket holding the
    /// observation of rank ceil(p/100 * count), capped at the maximum seen:
    /// never below the true value, and less than one bucket width above.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((p / 100.0 * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0u64;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bucket_bounds(i);
                return Some((hi - 1).min(self.max_cycles).max(lo));
            }
        }
        Some(self.max_cycles)
    }

    /// Prometheus cumulative buckets: for each upper bound `le` (seconds,
    /// ascending), the number of observations known to be `<= le` at
    /// `tsc_hz`. A bucket that straddles `le` is counted only under the
    /// next bound, so every count is exact as an upper bound ("less or
    /// equal") and at most one internal bucket late; clamped values count
    /// only under `+Inf`, which the caller adds as [`count`](Self::count).
    pub fn cumulative(&self, le_seconds: &[f64], tsc_hz: u64) -> Vec<(f64, u64)> {
        let mut out = Vec::with_capacity(le_seconds.len());
        let mut i = 0usize;
        let mut cum = 0u64;
        for &le in le_seconds {
            let bound = le * tsc_hz as f64;
            while i < BUCKETS {
                let (_, hi) = bucket_bounds(i);
                if i == BUCKETS - 1 || (hi - 1) as f64 > bound {
                    break;
                }
                cum += self.buckets[i];
                i += 1;
            }
            out.push((le, cum));
        }
        out
    }

    /// Sum of observations in seconds.
    pub fn sum_seconds(&self, tsc_hz: u64) -> f64 {
        self.sum_cycles as f64 / tsc_hz.max(1) as f64
    }

    /// The summary for JSON reports, with the snapshot kept beside it.
    pub fn report(&self, tsc_hz: u64) -> LatencyReport {
        let us = |c: Option<u64>| c.map_or(0.0, |c| c as f64 * 1e6 / tsc_hz.max(1) as f64);
        LatencyReport {
            summary: LatencySummary {
                count: self.count(),
                p50_us: us(self.percentile(50.0)),
                p99_us: us(self.percentile(99.0)),
                p999_us: us(self.percentile(99.9)),
                max_us: us((self.count() > 0).then_some(self.max_cycles)),
            },
            histogram: self.clone(),
        }
    }
}

/// Latency percentiles in microseconds, as the stats JSON shows them
/// (all zero when nothing was observed).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct LatencySummary {
    /// Observations.
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest observation.
    pub max_us: f64,
}

/// What a worker report carries: the summary (serialised, for
/// `--stats-json` and `/status`) and the snapshot (not serialised, for the
/// `napifwd_packet_latency_seconds` histogram of `/metrics`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct LatencyReport {
    /// Percentiles.
    #[serde(flatten)]
    pub summary: LatencySummary,
    /// The counts behind them.
    #[serde(skip)]
    pub histogram: LatencySnapshot,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_tile_the_range_in_order() {
        let mut expect_lo = 0;
        for i in 0..BUCKETS {
            let (lo, hi) = bucket_bounds(i);
            assert_eq!(
                lo,
                expect_lo,
                "bucket {i} starts where {} ended",
                i.max(1) - 1
            );
            assert!(hi > lo);
            assert_eq!(bucket_index(lo), i);
            if i < BUCKETS - 1 {
                assert_eq!(bucket_index(hi - 1), i);
                // Relative width <= 1/8 from 128 cycles up.
                if lo >= 128 {
                    assert!((hi - lo) * 8 <= lo, "bucket {i} [{lo}, {hi}) too wide");
                } else {
                    assert_eq!(hi - lo, 16);
                }
            }
            expect_lo = hi;
        }
        assert_eq!(bucket_index(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_index(0), 0);
        // ~100 cycles to ~10 s at 5 GHz are inside the resolved range.
        assert!(bucket_bounds(BUCKETS - 1).0 > 10 * 5_000_000_000);
        assert_eq!(bucket_index(100), 6);
    }

    #[test]
    fn empty_snapshot() {
        let s = LatencyHistogram::default().snapshot();
        assert_eq!(s.count(), 0);
        assert_eq!(s.percentile(50.0), None);
        let r = s.report(1_000_000_000);
        assert_eq!(r.summary, LatencySummary::default());
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let h = LatencyHistogram::default();
        // 1000 observations of 1000..=1999 cycles at 1 GHz = 1 us ... 2 us.
        for c in 1000..2000 {
            h.record(c);
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 1000);
        assert_eq!(s.sum_cycles, (1000..2000).sum::<u64>());
        assert_eq!(s.max_cycles, 1999);
        let p50 = s.percentile(50.0).unwrap();
        assert!((1499..1499 + 128).contains(&p50), "p50 {p50}");
        assert_eq!(s.percentile(100.0), Some(1999));
        let r = s.report(1_000_000_000);
        assert_eq!(r.summary.count, 1000);
        assert!((r.summary.max_us - 1.999).abs() < 1e-9);
        assert!(r.summary.p50_us >= 1.499 && r.summary.p50_us < 1.7);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["count"], 1000);
        assert!(
            json.get("histogram").is_none(),
            "buckets are not serialised"
        );
        assert!(json["p999_us"].is_f64());
    }

    #[test]
    fn record_n_equals_n_records() {
        let a = LatencyHistogram::default();
        let b = LatencyHistogram::default();
        a.record_n(5000, 32);
        for _ in 0..32 {
            b.record(5000);
        }
        assert_eq!(a.snapshot(), b.snapshot());
    }

    #[test]
    fn cumulative_buckets_are_upper_bounds() {
        let h = LatencyHistogram::default();
        // At 1 GHz: 1 us, 10 us, 100 us, and one clamped huge value.
        h.record(1_000);
        h.record(10_000);
        h.record(100_000);
        h.record(u64::MAX / 2);
        let s = h.snapshot();
        let c = s.cumulative(&[0.5e-6, 1e-6, 2e-6, 1e-5, 1e-4, 1e3], 1_000_000_000);
        // 1000 cycles lies in bucket [960, 1024): under 1e-6 only if the
        // whole bucket is <= 1000 cycles, so it first counts at 2 us.
        assert_eq!(
            c,
            vec![
                (0.5e-6, 0),
                (1e-6, 0),
                (2e-6, 1),
                (1e-5, 1),
                (1e-4, 2),
                (1e3, 3)
            ]
        );
        assert_eq!(s.count(), 4, "+Inf holds the clamped value too");
    }

    fn model_percentile(sorted: &[u64], p: f64) -> u64 {
        let n = sorted.len() as u64;
        let rank = ((p / 100.0 * n as f64).ceil() as u64).clamp(1, n);
        sorted[(rank - 1) as usize]
    }

    proptest! {
        #[test]
        fn percentiles_match_a_sorted_vector_within_one_bucket(
            // Skewed towards small values like real latencies, up to ~10 s at 3 GHz.
            values in proptest::collection::vec((0u32..35, any::<u64>()).prop_map(|(bits, r)| r >> (64 - bits.max(1))), 1..2000),
            split in 0usize..2000,
        ) {
            // Two workers' histograms, merged, against one sorted vector.
            let a = LatencyHistogram::default();
            let b = LatencyHistogram::default();
            for (i, &v) in values.iter().enumerate() {
                if i < split { a.record(v) } else { b.record(v) }
            }
            let mut s = a.snapshot();
            s.merge(&b.snapshot());
            let mut sorted = values.clone();
            sorted.sort_unstable();
            prop_assert_eq!(s.count(), values.len() as u64);
            prop_assert_eq!(s.max_cycles, *sorted.last().unwrap());
            prop_assert_eq!(s.sum_cycles, values.iter().sum::<u64>());
            for p in [0.1, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0] {
                let truth = model_percentile(&sorted, p);
                let est = s.percentile(p).unwrap();
                let (lo, hi) = bucket_bounds(bucket_index(truth));
                prop_assert!(est >= truth, "p{} est {} < truth {}", p, est, truth);
                prop_assert!(est - truth < hi - lo, "p{} est {} truth {} width {}", p, est, truth, hi - lo);
                prop_assert!((lo..hi).contains(&est));
            }
            // Cumulative buckets never overcount and are monotone.
            let hz = 3_000_000_000u64;
            let les = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0];
            let cum = s.cumulative(&les, hz);
            let mut last = 0;
            for (le, c) in cum {
                let truth = sorted.iter().filter(|&&v| v as f64 <= le * hz as f64).count() as u64;
                prop_assert!(c <= truth, "le {} counted {} > {}", le, c, truth);
                prop_assert!(c >= last);
                last = c;
            }
        }
    }
}
