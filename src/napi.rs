//! The NAPI-like round: how a worker shares its time between poll sources.
//!
//! Mirrors `net_rx_action` in Linux `net/core/dev.c`: a round visits poll
//! sources in turn, each visit takes at most that source's `weight` packets
//! (`dev_weight`, 64), and the round ends when `budget` packets
//! (`netdev_budget`, 300) or `budget_us` microseconds (`netdev_budget_usecs`,
//! 2000) are used up. Linux counts both endings as one `time_squeeze`; we
//! count `budget_exhausted` and `time_exhausted` apart. A round that ends
//! early resumes at the next source, so no source starves behind a busy one.
//!
//! This module is pure: the worker passes a `poll` closure that does the
//! real work and a clock; tests pass fakes.

/// Weight, budget and time limit of one worker, in the units the worker
/// uses (TSC ticks for time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NapiBudget {
    /// Max packets one visit to an RX queue may take.
    pub weight: u32,
    /// Max packets one visit to the backlog may take (`dev_weight_rx_bias`).
    pub backlog_weight: u32,
    /// Max packets per round.
    pub budget: u32,
    /// Max duration of a round, in clock ticks.
    pub budget_ticks: u64,
}

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoundOutcome {
    /// Packets all visits returned.
    pub packets: u32,
    /// Visits made.
    pub visits: u32,
    /// The packet budget ran out with sources left unvisited or still full.
    pub budget_exhausted: bool,
    /// The time budget ran out first.
    pub time_exhausted: bool,
}

/// A poll source as the scheduler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// An RX queue: visited with `weight`.
    RxQueue,
    /// The worker's backlog ring: visited with `backlog_weight`.
    Backlog,
}

/// The rotation state of one worker's round robin over its sources.
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    next: usize,
}

impl RoundRobin {
    /// Runs one round over `sources` (their kinds, in a fixed order).
    ///
    /// `poll(i, quota)` polls source `i` for at most `quota` packets and
    /// returns how many it got (values above `quota` are clamped: a source
    /// cannot take more than it was given). `now()` reads the clock.
    ///
    /// Guarantees, checked by property tests: no visit gets a quota above
    /// its weight or the packets left in the budget; the round's total never
    /// exceeds `budget`; every source is visited at most once per round;
    /// the next round starts after the last source that was visited in full
    /// turn, so a source that was cut off is first in line next time.
    pub fn run_round(
        &mut self,
        b: &NapiBudget,
        sources: &[SourceKind],
        mut now: impl FnMut() -> u64,
        mut poll: impl FnMut(usize, u32) -> u32,
    ) -> RoundOutcome {
        let n = sources.len();
        let mut out = RoundOutcome::default();
        if n == 0 || b.budget == 0 {
            return out;
        }
        let start = now();
        let mut left = b.budget;
        let first = self.next % n;
        for step in 0..n {
            let i = (first + step) % n;
            let weight = match sources.get(i) {
                Some(SourceKind::RxQueue) => b.weight,
                Some(SourceKind::Backlog) => b.backlog_weight,
                None => 0,
            };
            let quota = weight.min(left);
            let got = poll(i, quota).min(quota);
            out.visits += 1;
            out.packets += got;
            left -= got;
            // Like napi_poll: a source that used its whole quota may have
            // more; it goes to the back of the line (the next round starts
            // after it). A source that returned less is done for now.
            self.next = (i + 1) % n;
            if left == 0 {
                // Only a squeeze if work may remain: this source filled its
                // quota or others were not visited yet.
                out.budget_exhausted = got == quota || step + 1 < n;
                break;
            }
            if now().wrapping_sub(start) >= b.budget_ticks {
                out.time_exhausted = step + 1 < n || got == quota;
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn budget(weight: u32, budget: u32) -> NapiBudget {
        NapiBudget {
            weight,
            backlog_weight: weight,
            budget,
            budget_ticks: u64::MAX,
        }
    }

    #[test]
    fn stops_at_budget_and_resumes_at_the_next_source() {
        let mut rr = RoundRobin::default();
        let srcs = [SourceKind::RxQueue; 3];
        let mut visited = vec![];
        // Every source always has 64 packets; budget 100, weight 64.
        let out = rr.run_round(
            &budget(64, 100),
            &srcs,
            || 0,
            |i, q| {
                visited.push((i, q));
                q
            },
        );
        assert_eq!(visited, vec![(0, 64), (1, 36)]);
        assert_eq!(out.packets, 100);
        assert!(out.budget_exhausted && !out.time_exhausted);
        visited.clear();
        rr.run_round(
            &budget(64, 100),
            &srcs,
            || 0,
            |i, q| {
                visited.push((i, q));
                q
            },
        );
        assert_eq!(visited[0].0, 2, "source 2 was not reached: it goes first");
    }

    #[test]
    fn idle_sources_do_not_count_as_squeeze() {
        let mut rr = RoundRobin::default();
        let out = rr.run_round(&budget(64, 300), &[SourceKind::RxQueue; 2], || 0, |_, _| 5);
        assert_eq!(out.packets, 10);
        assert!(!out.budget_exhausted && !out.time_exhausted);
    }

    #[test]
    fn time_limit_ends_the_round() {
        let mut rr = RoundRobin::default();
        let mut t = 0u64;
        let b = NapiBudget {
            budget_ticks: 10,
            ..budget(64, 1000)
        };
        let out = rr.run_round(
            &b,
            &[SourceKind::RxQueue; 4],
            || {
                t += 6;
                t
            },
            |_, q| q,
        );
        // start=6; after visit 0 now=12 (6 ticks); after visit 1 now=18 (12 >= 10).
        assert_eq!(out.visits, 2);
        assert!(out.time_exhausted && !out.budget_exhausted);
    }

    #[test]
    fn backlog_uses_its_own_weight() {
        let mut rr = RoundRobin::default();
        let b = NapiBudget {
            backlog_weight: 16,
            ..budget(64, 300)
        };
        let mut quotas = vec![];
        rr.run_round(
            &b,
            &[SourceKind::RxQueue, SourceKind::Backlog],
            || 0,
            |_, q| {
                quotas.push(q);
                0
            },
        );
        assert_eq!(quotas, vec![64, 16]);
    }

    proptest! {
        #[test]
        fn never_exceeds_budget_or_weight(
            weight in 1u32..200, bw in 1u32..200, budget_pkts in 1u32..1000,
            kinds in proptest::collection::vec(any::<bool>(), 1..8),
            avail in proptest::collection::vec(0u32..300, 8),
            rounds in 1usize..5,
        ) {
            let srcs: Vec<SourceKind> = kinds.iter().map(|&k| if k { SourceKind::Backlog } else { SourceKind::RxQueue }).collect();
            let w_of = |i: usize| if srcs[i] == SourceKind::Backlog { bw } else { weight };
            let b = NapiBudget { weight, backlog_weight: bw, budget: budget_pkts, budget_ticks: u64::MAX };
            let mut rr = RoundRobin::default();
            for _ in 0..rounds {
                let mut seen = vec![0u32; srcs.len()];
                let mut granted = 0u32;
                let out = rr.run_round(&b, &srcs, || 0, |i, q| {
                    assert!(q <= w_of(i), "quota above weight");
                    assert!(q >= 1, "zero quota visit");
                    seen[i] += 1;
                    // A misbehaving source may claim more than asked: the
                    // scheduler clamps it to the quota.
                    let claimed = if i % 3 == 0 { avail[i] + 1000 } else { avail[i].min(q) };
                    granted += claimed.min(q);
                    claimed
                });
                prop_assert!(out.packets <= budget_pkts);
                prop_assert_eq!(out.packets, granted);
                prop_assert!(seen.iter().all(|&v| v <= 1), "a source visited twice in one round");
                // Without a squeeze, every source was visited.
                if !out.budget_exhausted && !out.time_exhausted && out.packets < budget_pkts {
                    prop_assert!(seen.iter().all(|&v| v == 1));
                }
            }
        }
    }
}
