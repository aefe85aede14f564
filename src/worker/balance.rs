//! RPS load balancing (`rps.balance`): how much of the flow space an RX
//! worker keeps for itself.
//!
//! The kernel's RPS spreads flows by the weights in `rps_cpus` and never
//! looks back; what the right weights are depends on how much a packet
//! costs to forward against what it costs to receive and hand over
//! (benches/rps.sh: at 300 cycles per packet a quarter to a third kept on
//! the RX worker was best, at 1000 nearly half, at 0 all of it or, in the
//! VM's fast state, none: a pipeline). With `rps.balance` the RX worker
//! finds the split itself.
//!
//! The hash space is cut into [`SLOTS`] equal slots (`reciprocal_scale`,
//! as for the rps map). At level `k` the RX worker keeps slots `0..k` and
//! slot `i >= k` goes to `others[i % others.len()]` (the map's other
//! workers, weights kept): one step of the level moves exactly one slot's
//! flows between the RX worker and one peer, and no other flow changes
//! worker.
//!
//! The split is found by climbing the throughput (packets processed by
//! all workers per second, measured over [`PERIOD_US`]): from a settled
//! level, try one step in the current direction for one period; keep it
//! when it beat the period before by [`MARGIN`] in that period and in the
//! next one too, and try the next step the same way, else step back and
//! turn round. The second period is there for plateaus: a step that
//! changes nothing (it moves a slot without flows) can look 3 % better in
//! one noisy period, and from a plateau no single step shows a gain, so
//! a climb that took it would stay there (a CI run of
//! `balance_moves_flows_towards_the_idle_worker` did). When steps both ways have
//! lost, wait twice as long before trying again (up to [`MAX_WAIT`]
//! periods); a step that wins resets the wait.
//!
//! Why the throughput and not load signals: the load signals mislead. A
//! peer fed a few packets at a time finds work in nearly every round, so
//! it looks 90-95 % busy while it could take a third more (and works less
//! efficiently so, which more packets would cure); and a backlog
//! overflows now and then from a scheduling hiccup on the peer's CPU
//! where the split is otherwise right (benches/rps.sh at 1000 cycles per
//! packet: the most throughput came with ~1 % of the packets refused by
//! the peer). Over 100 ms the throughput at a fixed level varied by under
//! 1 % there, while one step changed it by 5-15 %.
//!
//! This module is the decision only (no DPDK, unit-tested); `adapt.rs`
//! measures, and applies a step without reordering a flow.

use crate::rps::RpsMap;

/// Slots the hash space is cut into: a step moves 1/16 of the flows.
pub(super) const SLOTS: usize = 16;
/// Length of one measurement (a settled period or a trial step).
pub(super) const PERIOD_US: u64 = 50_000;
/// A step must beat the level before by this factor to be kept.
const MARGIN: f64 = 1.03;
/// Longest wait (in periods) between trials after steps keep losing.
const MAX_WAIT: u32 = 32;

/// The level of one RX worker and the memory of its climb.
#[derive(Debug, Clone)]
pub(super) struct Balance {
    level: usize,
    /// +1: the next trial keeps one more slot; -1: one fewer.
    dir: i8,
    /// A trial under way: the level it left, that level's rate, and
    /// whether one period already beat it (the next one confirms).
    trial: Option<(usize, f64, bool)>,
    /// Trials in a row that lost.
    lost: u32,
    /// Settled periods to wait before the next trial.
    wait: u32,
    hold: u32,
}

impl Balance {
    /// Starts at `level` slots kept (clamped to `0..=SLOTS`).
    pub(super) fn new(level: usize) -> Balance {
        Balance {
            level: level.min(SLOTS),
            dir: -1,
            trial: None,
            lost: 0,
            wait: 1,
            // The first period (a start or reload) only measures.
            hold: 1,
        }
    }

    /// Slots kept now.
    #[cfg(test)]
    fn level(&self) -> usize {
        self.level
    }

    /// Back to `level` when a step could not be applied (the peers did
    /// not drain in time): the trial is abandoned.
    pub(super) fn revert(&mut self, level: usize) {
        self.level = level.min(SLOTS);
        self.trial = None;
        self.hold = self.wait;
    }

    /// The next level in direction `dir`, if there is one.
    fn step(&self, dir: i8) -> Option<usize> {
        match dir {
            1 if self.level < SLOTS => Some(self.level + 1),
            -1 if self.level > 0 => Some(self.level - 1),
            _ => None,
        }
    }

    /// Takes the rate (any unit, the same every time) of the period that
    /// just ended at the current level; returns the new level when it
    /// changes.
    pub(super) fn next(&mut self, rate: f64) -> Option<usize> {
        if let Some((from, base, beaten)) = self.trial.take() {
            if rate > base * MARGIN {
                if !beaten {
                    // Once may be noise: one more period at this level.
                    self.trial = Some((from, base, true));
                    return None;
                }
                // Won twice: keep it and try the next step the same way at once.
                self.lost = 0;
                self.wait = 1;
                self.hold = 0;
            } else {
                // Lost: back, and the other way next time.
                self.level = from;
                self.dir = -self.dir;
                self.lost += 1;
                if self.lost >= 2 {
                    // Both ways lost: this is the top, for now.
                    self.wait = (self.wait * 2).min(MAX_WAIT);
                    self.lost = 0;
                }
                self.hold = self.wait;
                return Some(from);
            }
            return self.try_step(rate);
        }
        if self.hold > 0 {
            self.hold -= 1;
            return None;
        }
        self.try_step(rate)
    }

    /// Starts a trial from the current level (whose rate is `rate`).
    fn try_step(&mut self, rate: f64) -> Option<usize> {
        let to = match self.step(self.dir) {
            Some(l) => l,
            None => {
                // At an end: the only way is back.
                self.dir = -self.dir;
                self.step(self.dir)?
            }
        };
        self.trial = Some((self.level, rate, false));
        self.level = to;
        Some(to)
    }
}

/// The level nearest to the share `own` has in `map` (its entries count).
pub(super) fn level_of(map: &[usize], own: usize) -> usize {
    let n = map.len().max(1);
    let kept = map.iter().filter(|&&w| w == own).count();
    (kept * SLOTS + n / 2) / n
}

/// The maps for every level `0..=SLOTS`: `own` keeps the first `level`
/// slots, the others share the rest in their order (repeats are weights).
/// `None` when `map` names no other worker (nothing to balance with).
pub(super) fn level_maps(map: &[usize], own: usize) -> Option<Vec<RpsMap>> {
    let others: Vec<usize> = map.iter().copied().filter(|&w| w != own).collect();
    if others.is_empty() {
        return None;
    }
    (0..=SLOTS)
        .map(|level| {
            let slots = (0..SLOTS)
                .map(|i| {
                    if i < level {
                        own
                    } else {
                        others[i % others.len()]
                    }
                })
                .collect();
            RpsMap::new(slots)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `periods` periods against a throughput landscape; returns the
    /// level during each period.
    fn climb(b: &mut Balance, periods: usize, rate: impl Fn(usize) -> f64) -> Vec<usize> {
        (0..periods)
            .map(|_| {
                let l = b.level();
                b.next(rate(l));
                l
            })
            .collect()
    }

    fn peak_at(p: usize) -> impl Fn(usize) -> f64 {
        move |l| 100.0 - 3.0 * (l as f64 - p as f64).powi(2)
    }

    #[test]
    fn climbs_to_the_peak_and_tries_the_neighbours_ever_more_rarely() {
        for (start, p) in [(8, 5), (8, 12), (0, 7), (16, 3), (8, 0), (8, SLOTS)] {
            let mut b = Balance::new(start);
            let levels = climb(&mut b, 600, peak_at(p));
            let tail = &levels[300..];
            assert!(
                tail.iter().all(|&l| l.abs_diff(p) <= 1),
                "peak {p}: {tail:?}"
            );
            let away = tail.iter().filter(|&&l| l != p).count();
            // Two trials (one each way) per MAX_WAIT settled periods.
            assert!(
                away <= 2 * (tail.len() / MAX_WAIT as usize + 1),
                "peak {p}: {away} periods away"
            );
            // The climb itself takes two periods per step (a trial and
            // its confirmation).
            let reached = levels.iter().position(|&l| l == p).unwrap_or(usize::MAX);
            assert!(
                reached <= 2 * start.abs_diff(p) + 4,
                "peak {p}: reached after {reached}"
            );
        }
    }

    #[test]
    fn a_flat_landscape_keeps_the_level_and_backs_off() {
        let mut b = Balance::new(6);
        let levels = climb(&mut b, 400, |_| 50.0);
        assert!(levels.iter().all(|&l| l.abs_diff(6) <= 1), "{levels:?}");
        let trials = levels[200..].iter().filter(|&&l| l != 6).count();
        assert!(
            trials <= 2 * (200 / MAX_WAIT as usize + 1),
            "{trials} trials"
        );
        // Gains below the margin are noise: no move.
        let mut c = Balance::new(6);
        let levels = climb(&mut c, 400, |l| 50.0 + l as f64 * 0.01);
        assert!(levels[200..].iter().filter(|&&l| l == 6).count() > 180);
    }

    /// Levels up to the map's split forward the same (the slots they add
    /// hold no flows), each slot beyond adds 10 %; the first trial (down)
    /// is measured 5 % high once. The climb must not stay on the plateau.
    #[test]
    fn one_noisy_period_does_not_strand_the_climb_on_a_plateau() {
        let land = |l: usize| 100.0 + 10.0 * l.saturating_sub(8) as f64;
        let noised = std::cell::Cell::new(false);
        let mut b = Balance::new(8);
        let levels = climb(&mut b, 100, |l| {
            if l == 7 && !noised.replace(true) {
                land(l) * 1.05
            } else {
                land(l)
            }
        });
        assert!(noised.get());
        assert_eq!(b.level(), SLOTS, "{levels:?}");
    }

    #[test]
    fn a_moved_peak_is_found_again() {
        let mut b = Balance::new(8);
        climb(&mut b, 400, peak_at(4));
        assert_eq!(b.level(), 4);
        // Wait at most MAX_WAIT periods for the next trial, then a period
        // per step (two for a lost trial each way).
        let levels = climb(&mut b, 3 * MAX_WAIT as usize + 40, peak_at(11));
        let tail = &levels[levels.len() - 10..];
        assert!(tail.iter().filter(|&&l| l == 11).count() >= 8, "{levels:?}");
    }

    #[test]
    fn a_step_that_could_not_be_applied_is_abandoned() {
        let mut b = Balance::new(8);
        // The first period only measures; then down first.
        assert_eq!(b.next(10.0), None);
        assert_eq!(b.next(10.0), Some(7));
        b.revert(8);
        assert_eq!(b.level(), 8);
        // One settled period, then the next trial.
        assert_eq!(b.next(10.0), None);
        assert_eq!(b.next(10.0), Some(7));
    }

    #[test]
    fn level_maps_move_one_slot_per_step_and_keep_the_others_weights() {
        let maps = level_maps(&[1, 2, 2, 2], 1).unwrap_or_default();
        assert_eq!(maps.len(), SLOTS + 1);
        assert!(maps[0].workers().iter().all(|&w| w == 2));
        assert!(maps[SLOTS].workers().iter().all(|&w| w == 1));
        for l in 0..SLOTS {
            let (a, b) = (maps[l].workers(), maps[l + 1].workers());
            let moved: Vec<usize> = (0..SLOTS).filter(|&i| a[i] != b[i]).collect();
            assert_eq!(moved, [l], "level {l}");
            assert_eq!(b[l], 1);
        }
        // Two others with weights 1 and 2 share the slots not kept 1:2.
        let maps = level_maps(&[3, 4, 4], 9).unwrap_or_default();
        let w = maps[4].workers();
        let n3 = w.iter().filter(|&&x| x == 3).count();
        let n4 = w.iter().filter(|&&x| x == 4).count();
        assert_eq!((w.iter().filter(|&&x| x == 9).count(), n3 + n4), (4, 12));
        assert!((n4 as i64 - 2 * n3 as i64).abs() <= 2, "{w:?}");
        assert!(level_maps(&[5, 5], 5).is_none());
    }

    #[test]
    fn the_start_level_is_the_maps_share() {
        assert_eq!(level_of(&[1, 2], 1), 8);
        assert_eq!(level_of(&[1, 2, 2, 2], 1), 4);
        assert_eq!(level_of(&[2], 1), 0);
        assert_eq!(level_of(&[1], 1), SLOTS);
        assert_eq!(level_of(&[1, 2, 3], 1), 5);
    }
}
