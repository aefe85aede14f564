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
//! A step of a sixteenth is too coarse near the top: at 300 cycles per
//! packet the best split lies between two steps (keeping 13/32 of the
//! flows forwarded 1.67-1.70 of one worker; the climb settled at 12/32 or
//! 14/32, 3 % less), and half a step is worth 1-3 %, less than the 50 ms
//! rates vary. What does show there are the load signals: at 12/32 the
//! peer refuses 4-6 % of the received packets at its full backlog (each
//! received and hashed for nothing), at 13/32 1-1.5 % with the peer 99 %
//! busy, at 14/32 none with the peer idle 7 % of its polling time. So the
//! climb works on half-slot positions ([`POSITIONS`]); its own steps are
//! two of them, and between its trials a period with more than
//! [`REFUSED_HIGH`] refused (and the peers not idle) keeps half a slot
//! more, one with the peers idle more than [`PEER_IDLE_HIGH`] (and few
//! refused) half a slot fewer. A half step that costs more than
//! [`MARGIN`] in the next period is undone, and the next one waits twice
//! as long.
//!
//! The load signals only choose between the positions next to where the
//! climb put it (half steps stay within one of it), because on their own
//! they mislead. A peer fed a few packets at a time finds work in nearly
//! every round, so it looks 90-95 % busy while it could take a third more
//! (and works less efficiently so, which more packets would cure); and a
//! backlog overflows now and then from a scheduling hiccup on the peer's
//! CPU where the split is otherwise right (benches/rps.sh at 1000 cycles
//! per packet: the most throughput came with ~1 % of the packets refused
//! by the peer). Refusals alone, tried first, carried the position past
//! the top after such bursts (to 14/32 and 15/32, where the peer ran
//! dry) and nothing brought it back; the idle share does now, and the
//! bound keeps a misleading signal from walking the position away (the
//! climb measures the throughput and pulls it back by at most a step).
//!
//! This module is the decision only (no DPDK, unit-tested); `adapt.rs`
//! measures, and applies a step without reordering a flow.

use crate::rps::RpsMap;

/// Slots the hash space is cut into: a step moves 1/16 of the flows.
pub(super) const SLOTS: usize = 16;
/// Half-slot positions: the maps' length and the climb's unit (a step is
/// two).
pub(super) const POSITIONS: usize = 2 * SLOTS;
/// A period with more than this share of the received packets refused by
/// a peer's full backlog asks for half a slot more.
const REFUSED_HIGH: f64 = 0.025;
/// A period in which the peers were idle more than this share of their
/// polling time gives the half slot back.
const PEER_IDLE_HIGH: f64 = 0.03;
/// Length of one measurement (a settled period or a trial step).
pub(super) const PERIOD_US: u64 = 50_000;
/// A step must beat the level before by this factor to be kept.
const MARGIN: f64 = 1.03;
/// Longest wait (in periods) between trials after steps keep losing.
const MAX_WAIT: u32 = 32;

/// The position of one RX worker and the memory of its climb.
#[derive(Debug, Clone)]
pub(super) struct Balance {
    /// Half-slot positions kept, `0..=POSITIONS`.
    position: usize,
    /// +1: the next trial keeps one more slot; -1: one fewer.
    dir: i8,
    /// A trial under way: the position it left, that position's rate, and
    /// whether one period already beat it (the next one confirms).
    trial: Option<(usize, f64, bool)>,
    /// Trials in a row that lost.
    lost: u32,
    /// Settled periods to wait before the next trial.
    wait: u32,
    hold: u32,
    /// A half step under way: the position it left and that one's rate.
    half: Option<(usize, f64)>,
    /// Periods to wait before the next half step, and what that wait
    /// grows from after a half step that cost too much.
    half_hold: u32,
    half_wait: u32,
    /// Where the climb itself last put the position: half steps stay
    /// within one of it.
    anchor: usize,
}

impl Balance {
    /// Starts at `level` slots kept (clamped to `0..=SLOTS`).
    pub(super) fn new(level: usize) -> Balance {
        let position = 2 * level.min(SLOTS);
        Balance {
            position,
            anchor: position,
            dir: -1,
            trial: None,
            lost: 0,
            wait: 1,
            // The first period (a start or reload) only measures.
            hold: 1,
            half: None,
            half_hold: 0,
            half_wait: 1,
        }
    }

    /// Half slots kept now: the index of the map to steer by.
    pub(super) fn position(&self) -> usize {
        self.position
    }

    /// Whole slots kept now (the tests' landscapes are in slots).
    #[cfg(test)]
    fn level(&self) -> usize {
        self.position / 2
    }

    /// Back to `position` when a step could not be applied (the peers did
    /// not drain in time): the trial is abandoned.
    pub(super) fn revert(&mut self, position: usize) {
        self.position = position.min(POSITIONS);
        self.anchor = self.position;
        self.trial = None;
        self.half = None;
        self.hold = self.wait;
    }

    /// The next position in direction `dir`, if there is one.
    fn step(&self, dir: i8) -> Option<usize> {
        match dir {
            // From a half-slot position the last step to an end is half
            // a slot, so both ends stay reachable.
            1 if self.position < POSITIONS => Some((self.position + 2).min(POSITIONS)),
            -1 if self.position > 0 => Some(self.position.saturating_sub(2)),
            _ => None,
        }
    }

    /// [`observe`](Self::observe) with no load signals, in whole slots.
    #[cfg(test)]
    fn next(&mut self, rate: f64) -> Option<usize> {
        self.observe(rate, 0.0, 0.0).map(|p| p / 2)
    }

    /// Takes the rate (any unit, the same every time) of the period that
    /// just ended at the current position, and the share of the packets
    /// received in it that peers refused; returns the new position when
    /// it changes.
    pub(super) fn observe(&mut self, rate: f64, refused: f64, peer_idle: f64) -> Option<usize> {
        if let Some((from, base)) = self.half.take() {
            if rate * MARGIN < base {
                // The half step cost too much: back, and wait longer.
                self.position = from;
                self.half_wait = (self.half_wait * 2).min(MAX_WAIT);
                self.half_hold = self.half_wait;
                return Some(from);
            }
            return None;
        }
        if self.trial.is_none() {
            let to = if refused > REFUSED_HIGH && peer_idle <= PEER_IDLE_HIGH {
                // The peers are full: keep half a slot more.
                (self.position < POSITIONS).then_some(self.position + 1)
            } else if peer_idle > PEER_IDLE_HIGH && refused <= REFUSED_HIGH {
                // The peers have time to spare: half a slot fewer.
                self.position.checked_sub(1)
            } else {
                None
            };
            if let Some(to) = to.filter(|t| t.abs_diff(self.anchor) <= 1) {
                if self.half_hold > 0 {
                    self.half_hold -= 1;
                } else {
                    self.half = Some((self.position, rate));
                    self.position = to;
                    return Some(to);
                }
            }
        }
        if let Some((from, base, beaten)) = self.trial.take() {
            if rate > base * MARGIN {
                if !beaten {
                    // Once may be noise: one more period at this position.
                    self.trial = Some((from, base, true));
                    return None;
                }
                // Won twice: keep it and try the next step the same way at once.
                self.lost = 0;
                self.wait = 1;
                self.half_wait = 1;
                self.hold = 0;
            } else {
                // Lost: back, and the other way next time.
                self.position = from;
                self.anchor = from;
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

    /// Starts a trial from the current position (whose rate is `rate`).
    fn try_step(&mut self, rate: f64) -> Option<usize> {
        let to = match self.step(self.dir) {
            Some(l) => l,
            None => {
                // At an end: the only way is back.
                self.dir = -self.dir;
                self.step(self.dir)?
            }
        };
        self.trial = Some((self.position, rate, false));
        self.position = to;
        self.anchor = to;
        Some(to)
    }
}

/// The level nearest to the share `own` has in `map` (its entries count).
pub(super) fn level_of(map: &[usize], own: usize) -> usize {
    let n = map.len().max(1);
    let kept = map.iter().filter(|&&w| w == own).count();
    (kept * SLOTS + n / 2) / n
}

/// The maps for every position `0..=POSITIONS`: `own` keeps the first
/// `position` half slots, the others share the rest in their order
/// (repeats are weights), a whole slot at a time, so that the map of
/// position `2 * level` sends every flow where a map of `SLOTS` entries
/// keeping `level` would (`reciprocal_scale` by 32 is twice that by 16,
/// or one more). `None` when `map` names no other worker (nothing to
/// balance with).
pub(super) fn level_maps(map: &[usize], own: usize) -> Option<Vec<RpsMap>> {
    let others: Vec<usize> = map.iter().copied().filter(|&w| w != own).collect();
    if others.is_empty() {
        return None;
    }
    (0..=POSITIONS)
        .map(|position| {
            let slots = (0..POSITIONS)
                .map(|i| {
                    if i < position {
                        own
                    } else {
                        others[(i / 2) % others.len()]
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
        b.revert(16);
        assert_eq!(b.level(), 8);
        // One settled period, then the next trial.
        assert_eq!(b.next(10.0), None);
        assert_eq!(b.next(10.0), Some(7));
    }

    #[test]
    fn level_maps_move_half_a_slot_per_position_and_keep_the_others_weights() {
        let maps = level_maps(&[1, 2, 2, 2], 1).unwrap_or_default();
        assert_eq!(maps.len(), POSITIONS + 1);
        assert!(maps[0].workers().iter().all(|&w| w == 2));
        assert!(maps[POSITIONS].workers().iter().all(|&w| w == 1));
        for p in 0..POSITIONS {
            let (a, b) = (maps[p].workers(), maps[p + 1].workers());
            let moved: Vec<usize> = (0..POSITIONS).filter(|&i| a[i] != b[i]).collect();
            assert_eq!(moved, [p], "position {p}");
            assert_eq!(b[p], 1);
        }
        // Two others with weights 1 and 2 share the slots not kept 1:2.
        let maps = level_maps(&[3, 4, 4], 9).unwrap_or_default();
        let w = maps[8].workers();
        let n3 = w.iter().filter(|&&x| x == 3).count();
        let n4 = w.iter().filter(|&&x| x == 4).count();
        assert_eq!((w.iter().filter(|&&x| x == 9).count(), n3 + n4), (8, 24));
        assert!((n4 as i64 - 2 * n3 as i64).abs() <= 4, "{w:?}");
        assert!(level_maps(&[5, 5], 5).is_none());
        // An even position sends every hash where the map of 16 entries
        // keeping half as many would.
        let sixteen = |level: usize| -> Vec<usize> {
            let others = [3, 4, 4];
            (0..SLOTS)
                .map(|i| if i < level { 9 } else { others[i % 3] })
                .collect()
        };
        for level in [0, 5, 6, SLOTS] {
            let m16 = RpsMap::new(sixteen(level));
            let m32 = &maps_for(&[3, 4, 4], 9)[2 * level];
            for h in (0..=u32::MAX).step_by(7_919_993) {
                let want = m16.as_ref().map(|m| m.target(h));
                assert_eq!(want, Some(m32.target(h)), "level {level} hash {h:#x}");
            }
        }
    }

    fn maps_for(map: &[usize], own: usize) -> Vec<RpsMap> {
        level_maps(map, own).unwrap_or_default()
    }

    /// Runs `periods` periods against a landscape of (rate, refused
    /// share, peer idle share) by position; returns the position during
    /// each period.
    fn climb_loaded(
        b: &mut Balance,
        periods: usize,
        mut land: impl FnMut(usize) -> (f64, f64, f64),
    ) -> Vec<usize> {
        (0..periods)
            .map(|_| {
                let p = b.position;
                let (rate, refused, idle) = land(p);
                b.observe(rate, refused, idle);
                p
            })
            .collect()
    }

    /// 300 cycles per packet as measured: positions 12, 13 and 14 forward
    /// within the noise of each other; 12 refuses 5 %, 13 1 %, 14 none;
    /// the peer idles 1 % at 13, 7 % at 14, more beyond.
    fn between_steps(p: usize) -> (f64, f64, f64) {
        let rate = 100.0 - 2.0 * (p as f64 - 13.0).powi(2);
        let refused = match p {
            ..=12 => 0.05 + 0.02 * (12 - p) as f64,
            13 => 0.01,
            _ => 0.0,
        };
        let idle = match p {
            ..=12 => 0.0,
            13 => 0.01,
            _ => 0.07 * (p - 13) as f64,
        };
        (rate, refused, idle)
    }

    #[test]
    fn refusals_and_idle_peers_take_the_climb_to_the_half_slot_between() {
        for start in [6, 7, 8, 4] {
            let mut b = Balance::new(start);
            let positions = climb_loaded(&mut b, 400, between_steps);
            let tail = &positions[200..];
            let at_13 = tail.iter().filter(|&&p| p == 13).count();
            assert!(at_13 > 180, "start {start}: {tail:?}");
        }
        // Without the load signals it stays on whole slots.
        let mut c = Balance::new(6);
        let positions = climb_loaded(&mut c, 400, |p| (between_steps(p).0, 0.0, 0.0));
        assert!(positions.iter().all(|p| p % 2 == 0), "{positions:?}");
    }

    /// The half step kept overshooting when refusals alone moved it: a
    /// burst of refusals at the best position took it further, and nothing
    /// brought it back. Idle peers do now.
    #[test]
    fn a_burst_of_refusals_does_not_carry_it_past_the_top() {
        let mut period = 0;
        let mut b = Balance::new(6);
        let positions = climb_loaded(&mut b, 600, |p| {
            period += 1;
            let (rate, refused, idle) = between_steps(p);
            // Every fifth period the peer stalls: refusals at every position.
            if period % 5 == 0 {
                (rate, refused + 0.05, idle)
            } else {
                (rate, refused, idle)
            }
        });
        // Each stall costs two periods at 14 (the half step is measured
        // once, then the idle peer takes it back); never more.
        let tail = &positions[300..];
        let at_13 = tail.iter().filter(|&&p| p == 13).count();
        assert!(at_13 > 150, "{tail:?}");
        assert!(tail.iter().all(|&p| (11..=15).contains(&p)), "{tail:?}");
    }

    /// Idle peers on a gentle slope (each half step costs 2 %, under the
    /// margin): half steps alone would walk all the way down.
    #[test]
    fn half_steps_stay_next_to_where_the_climb_put_it() {
        let mut b = Balance::new(6);
        let rate = |p: usize| 100.0 - 2.0 * (p as f64 - 13.0).abs();
        let positions = climb_loaded(&mut b, 600, |p| (rate(p), 0.0, 0.05));
        // The climb pulls back up what the half steps give away: it stays
        // within a step and a half of the top, and loses a few per cent.
        let tail = &positions[300..];
        assert!(tail.iter().all(|&p| p >= 9), "{tail:?}");
        let mean = tail.iter().map(|&p| rate(p)).sum::<f64>() / tail.len() as f64;
        assert!(mean > 95.0, "{mean} {tail:?}");
    }

    /// Whole steps from a half-slot position keep it odd; the last one
    /// to either end must still get there (the pipeline, or everything
    /// kept).
    #[test]
    fn the_ends_stay_reachable_from_a_half_slot_position() {
        for (peak, end) in [(0.0, 0), (POSITIONS as f64, POSITIONS)] {
            let mut b = Balance::new(8);
            b.revert(15);
            let positions = climb_loaded(&mut b, 200, |p| {
                (100.0 - 3.0 * (p as f64 - peak).abs(), 0.0, 0.0)
            });
            let at_end = positions[100..].iter().filter(|&&p| p == end).count();
            assert!(at_end > 90, "end {end}: {positions:?}");
        }
    }

    #[test]
    fn a_half_step_that_costs_is_undone_and_tried_ever_more_rarely() {
        // Refusals everywhere, but half a slot more always loses 10 %:
        // every half step is undone, the wait doubles.
        let land = |p: usize| {
            let rate = if p % 2 == 1 { 90.0 } else { 100.0 };
            (rate, 0.05, 0.0)
        };
        let mut b = Balance::new(6);
        // A flat landscape for whole steps: it holds 12 between trials.
        let positions = climb_loaded(&mut b, 600, land);
        let halves = positions[300..].iter().filter(|&&p| p % 2 == 1).count();
        assert!(
            halves <= 300 / MAX_WAIT as usize + 2,
            "{halves} periods on a half step"
        );
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
