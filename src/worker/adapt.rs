//! Adaptive RPS (`rps.adaptive`): steer only while steering pays.
//!
//! Handing a packet to another core is not free: the RX worker hashes and
//! enqueues it, and the packet's cache lines (mbuf header, data) move to
//! the other core and back when the mbuf is recycled. When forwarding a
//! packet costs less than handing it over, one worker that does everything
//! inline forwards more than two that split the work (benches/rps.sh
//! measured 0.57x at no per-packet work). The kernel's RPS has the same
//! trade-off and leaves it to whoever writes `rps_cpus`.
//!
//! With `rps.adaptive`, an RX worker measures: it runs in its current mode
//! (steer, or local = everything inline) for an epoch, then probes the other
//! mode for a short window, and keeps the mode under which all workers
//! together processed more packets per second (with a margin in favour of
//! the current one, so noise does not flip it). Each probe that loses
//! doubles the next epoch, up to [`MAX_EPOCH_US`]; a probe that wins
//! resets it. A probe costs a short stretch in the worse mode (and, towards
//! local, a pause of RX while peers drain), so where one mode keeps
//! winning, probing less often is what brings adaptive RPS close to that
//! mode's own throughput; a change of traffic is still noticed within
//! [`MAX_EPOCH_US`].
//!
//! Switching keeps per-flow order:
//! - local -> steer: this worker's TX buffers are flushed first, so nothing
//!   it forwarded inline can leave after what a peer forwards next;
//! - steer -> local: RX pauses until every backlog this worker feeds is
//!   empty and each of those peers has finished a round and flushed its TX
//!   buffers; only then does it forward inline. If that does not happen
//!   within [`DRAIN_TIMEOUT_US`] (peers kept busy by other producers), it
//!   stays in steer mode. Without the local fast path its own backlog (where
//!   it queues its own flows) must be empty as well.
//!
//! The same machinery carries `rps.balance` (the decision is in
//! `balance.rs`): in steer mode, every period the RX worker may keep a
//! slot or half a slot of flows more (after its peers drained, as for
//! steer -> local) or fewer (after flushing its TX buffers, as for
//! local -> steer). With `rps.balance` alone the modes are never probed;
//! with both, a probe compares local mode against steering at the
//! balanced split.

use super::balance::{self, Balance};
use super::Io;
use crate::drop_reason::DropReason;
use crate::rps::RpsMap;

/// Length of a run in the current mode between probes, after a switch.
const EPOCH_US: u64 = 200_000;
/// The longest run between probes, reached after probes keep losing.
const MAX_EPOCH_US: u64 = 16 * EPOCH_US;
/// Length of a probe of the other mode.
const PROBE_US: u64 = 20_000;
/// The probed mode must beat the current one by this factor to be kept.
const MARGIN: f64 = 1.05;
/// Longest wait for peers to drain before switching to local mode.
pub(super) const DRAIN_TIMEOUT_US: u64 = 50_000;

/// Steer (normal RPS) or do everything inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// RPS as configured.
    Steer,
    /// Every packet forwarded by the receiving worker.
    Local,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Running in the current mode until `until`; measuring from `since`.
    Run { until: u64 },
    /// Probing the other mode until `until`; `baseline` is the rate (packets
    /// per tick) the current mode achieved.
    Probe { until: u64, baseline: f64 },
    /// Waiting for peers to drain before entering local mode. `rounds` are
    /// each peer's round counts when its backlog was first seen empty.
    Draining { deadline: u64, then: After },
}

/// What to do once a drain completes.
#[derive(Debug, Clone, Copy)]
enum After {
    /// Start probing local mode against `baseline`.
    Probe { baseline: f64 },
    /// Return to local mode for good (a probe of steering lost).
    Run,
    /// Keep `position` half slots (`rps.balance`), then run on until
    /// `until`.
    Position { position: usize, until: u64 },
}

/// Counters the balance reads at the start and end of each period.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    /// TSC then.
    at: u64,
    /// Packets processed by all workers.
    processed: u64,
    /// Packets this worker received, and refused for a peer's full backlog.
    received: u64,
    refused: u64,
    /// Busy and idle cycles of the workers it shares its flows with.
    peer_busy: u64,
    peer_idle: u64,
}

impl Sample {
    /// What the period from `start` to this sample measured: the rate
    /// (packets processed by all workers per tick), the share of the
    /// received packets refused, and the peers' idle share.
    fn since(&self, start: &Sample) -> (f64, f64, f64) {
        let ratio = |part: u64, whole: u64| part as f64 / whole.max(1) as f64;
        let busy = self.peer_busy.saturating_sub(start.peer_busy);
        let idle = self.peer_idle.saturating_sub(start.peer_idle);
        (
            ratio(
                self.processed.saturating_sub(start.processed),
                self.at.saturating_sub(start.at),
            ),
            ratio(
                self.refused.saturating_sub(start.refused),
                self.received.saturating_sub(start.received),
            ),
            ratio(idle, busy + idle),
        )
    }
}

/// `rps.balance` state of one RX worker.
#[derive(Debug)]
struct Share {
    ctl: Balance,
    /// The position steering uses: the controller's, once a step is
    /// applied.
    applied: usize,
    /// The map for every position (`balance::level_maps`).
    maps: Vec<RpsMap>,
    /// The workers this one shares its flows with (the map's others):
    /// whose idle time the half steps read.
    peers: Vec<usize>,
    next_at: u64,
    period: u64,
    /// The counters at the start of the period's measurement.
    start: Sample,
}

impl Share {
    /// Starts measuring a period afresh from `start`.
    fn restart(&mut self, start: Sample) {
        self.next_at = start.at + self.period;
        self.start = start;
    }
}

/// One RX worker's adaptive state.
#[derive(Debug)]
pub(super) struct Adaptive {
    pub(super) mode: Mode,
    /// `rps.balance`, when the map has other workers to balance with.
    share: Option<Share>,
    phase: Phase,
    /// Current run length between probes (TSC), from `base_epoch` to `max_epoch`.
    epoch: u64,
    base_epoch: u64,
    max_epoch: u64,
    probe: u64,
    drain_timeout: u64,
    since: u64,
    processed_at_since: u64,
    /// Peer round counts noted while draining (by worker id).
    marks: Vec<Option<u64>>,
}

/// What an RX worker adapts: the mode (`rps.adaptive`), the split
/// (`rps.balance`), or both.
#[derive(Debug, Clone, Copy)]
pub(super) struct Want<'a> {
    /// `rps.adaptive`.
    pub probing: bool,
    /// `rps.balance`: the configured map and this worker's id.
    pub balance: Option<(&'a [usize], usize)>,
}

impl Adaptive {
    /// `None` when there is nothing to adapt.
    pub(super) fn new(tsc_hz: u64, now: u64, workers: usize, want: Want) -> Option<Adaptive> {
        let us = |u: u64| u.saturating_mul(tsc_hz) / 1_000_000;
        let base_epoch = us(EPOCH_US);
        let share = want.balance.and_then(|(map, own)| {
            let maps = balance::level_maps(map, own)?;
            let period = us(balance::PERIOD_US);
            let ctl = Balance::new(balance::level_of(map, own));
            let mut peers: Vec<usize> = map.iter().copied().filter(|&w| w != own).collect();
            peers.sort_unstable();
            peers.dedup();
            Some(Share {
                applied: ctl.position(),
                ctl,
                maps,
                peers,
                next_at: now + period,
                period,
                start: Sample {
                    at: now,
                    ..Sample::default()
                },
            })
        });
        if !want.probing && share.is_none() {
            return None;
        }
        Some(Adaptive {
            mode: Mode::Steer,
            share,
            phase: Phase::Run {
                until: if want.probing {
                    now + base_epoch
                } else {
                    u64::MAX
                },
            },
            epoch: base_epoch,
            base_epoch,
            max_epoch: us(MAX_EPOCH_US),
            probe: us(PROBE_US),
            drain_timeout: us(DRAIN_TIMEOUT_US),
            since: now,
            processed_at_since: 0,
            marks: vec![None; workers],
        })
    }

    /// The map steering uses now, when `rps.balance` chose one.
    #[inline(always)]
    pub(super) fn share_map(&self) -> Option<&RpsMap> {
        let s = self.share.as_ref()?;
        s.maps.get(s.applied)
    }

    /// Fraction of the flows this worker forwards itself now, in
    /// millionths (`rps_local_share`); `None` when the map decides.
    fn kept_ppm(&self) -> Option<u64> {
        if self.mode == Mode::Local {
            return Some(1_000_000);
        }
        let s = self.share.as_ref()?;
        Some(s.applied as u64 * 1_000_000 / balance::POSITIONS as u64)
    }

    /// True while RX must not be polled (draining before local mode).
    #[inline(always)]
    pub(super) fn holds_rx(&self) -> bool {
        matches!(self.phase, Phase::Draining { .. })
    }
}

/// The run length after a probe: back to `base` when the probed mode won
/// (the situation changed: look again soon), doubled up to `max` when it
/// lost.
fn next_epoch(current: u64, base: u64, max: u64, probe_won: bool) -> u64 {
    if probe_won {
        base
    } else {
        current.saturating_mul(2).clamp(base, max.max(base))
    }
}

impl Io {
    /// Packets processed by all workers so far (the throughput measure).
    fn processed_everywhere(&self) -> u64 {
        self.steering.as_ref().map_or(0, |s| {
            s.peer_counters.iter().map(|c| c.processed.get()).sum()
        })
    }

    /// Advances the adaptive state machine; called once per round.
    pub(super) fn adapt(&mut self, now: u64) {
        let Some(ad) = self.adaptive.as_ref() else {
            return;
        };
        match ad.phase {
            Phase::Run { until } if now >= until => {
                let rate = self.rate_since(now);
                match self.adaptive.as_ref().map(|a| a.mode) {
                    Some(Mode::Local) => {
                        // Probe steering: flush first (see the module doc).
                        self.flush_all();
                        self.set_mode(Mode::Steer, now);
                        self.set_phase(Phase::Probe {
                            until: now + self.probe_ticks(),
                            baseline: rate,
                        });
                    }
                    _ => self.begin_drain(now, After::Probe { baseline: rate }),
                }
            }
            Phase::Probe { until, baseline } if now >= until => {
                let rate = self.rate_since(now);
                let keep = rate > baseline * MARGIN;
                let probed = self.adaptive.as_ref().map_or(Mode::Steer, |a| a.mode);
                if let Some(a) = self.adaptive.as_mut() {
                    a.epoch = next_epoch(a.epoch, a.base_epoch, a.max_epoch, keep);
                }
                if keep {
                    self.counters.rps_mode_switches.add(1);
                    self.set_phase(Phase::Run {
                        until: now + self.epoch_ticks(),
                    });
                } else if probed == Mode::Local {
                    // Local lost: back to steering (inline packets are out first).
                    self.flush_all();
                    self.set_mode(Mode::Steer, now);
                    self.set_phase(Phase::Run {
                        until: now + self.epoch_ticks(),
                    });
                } else {
                    // Steering lost: back to local, after a drain.
                    self.begin_drain(now, After::Run);
                }
                self.mark_since(now);
            }
            Phase::Run { until } if self.balance_due(now) => self.balance_step(now, until),
            Phase::Draining {
                deadline,
                then: After::Position { position, until },
            } => {
                if self.peers_drained() {
                    self.set_position(position, now);
                    self.set_phase(Phase::Run { until });
                } else if now >= deadline {
                    // Peers stay busy (other producers): keep the split.
                    if let Some(s) = self.adaptive.as_mut().and_then(|a| a.share.as_mut()) {
                        s.ctl.revert(s.applied);
                    }
                    self.restart_balance(now);
                    self.set_phase(Phase::Run { until });
                }
            }
            Phase::Draining { deadline, then } => {
                if self.peers_drained() {
                    self.set_mode(Mode::Local, now);
                    match then {
                        After::Probe { baseline } => self.set_phase(Phase::Probe {
                            until: now + self.probe_ticks(),
                            baseline,
                        }),
                        After::Run | After::Position { .. } => self.set_phase(Phase::Run {
                            until: now + self.epoch_ticks(),
                        }),
                    }
                    self.mark_since(now);
                } else if now >= deadline {
                    // Peers stay busy (other producers): keep steering.
                    self.set_mode(Mode::Steer, now);
                    self.set_phase(Phase::Run {
                        until: now + self.epoch_ticks(),
                    });
                    self.mark_since(now);
                }
            }
            _ => {}
        }
    }

    /// True when a balancing period ended while steering.
    #[inline(always)]
    fn balance_due(&self, now: u64) -> bool {
        self.adaptive.as_ref().is_some_and(|a| {
            a.mode == Mode::Steer && a.share.as_ref().is_some_and(|s| now >= s.next_at)
        })
    }

    /// Ends a balancing period: hands its throughput to the climb and
    /// moves (half) a slot if it asks, without reordering a flow (see the
    /// module doc).
    fn balance_step(&mut self, now: u64, until: u64) {
        let sample = self.sample(now);
        let Some(share) = self.adaptive.as_mut().and_then(|a| a.share.as_mut()) else {
            return;
        };
        let (rate, refused_share, peer_idle) = sample.since(&share.start);
        share.restart(sample);
        let before = share.applied;
        match share.ctl.observe(rate, refused_share, peer_idle) {
            Some(position) if position > before => {
                // Flows come back from a peer: only once it has drained.
                self.begin_drain(now, After::Position { position, until });
            }
            Some(position) if position < before => {
                // Flows go to a peer: what this worker forwarded of them
                // leaves first.
                self.flush_all();
                self.set_position(position, now);
            }
            _ => {}
        }
    }

    /// Starts a balancing period now (after a start, a reload, a mode
    /// change or a step).
    pub(super) fn restart_balance(&mut self, now: u64) {
        let sample = self.sample(now);
        if let Some(s) = self.adaptive.as_mut().and_then(|a| a.share.as_mut()) {
            s.restart(sample);
        }
    }

    /// The counters a balancing period is measured by, at `now`.
    fn sample(&self, now: u64) -> Sample {
        let c = &self.counters;
        let (mut peer_busy, mut peer_idle) = (0, 0);
        let share = self.adaptive.as_ref().and_then(|a| a.share.as_ref());
        if let (Some(st), Some(share)) = (self.steering.as_ref(), share) {
            for pc in share.peers.iter().filter_map(|&w| st.peer_counters.get(w)) {
                peer_busy += pc.busy_cycles.get();
                peer_idle += pc.idle_cycles.get();
            }
        }
        Sample {
            at: now,
            processed: self.processed_everywhere(),
            received: c.rx_packets.get(),
            refused: c.dropped(DropReason::BacklogFull),
            peer_busy,
            peer_idle,
        }
    }

    /// Steers by the map of `position` half slots kept from now on; the
    /// period measuring it starts now.
    fn set_position(&mut self, position: usize, now: u64) {
        let Some(s) = self.adaptive.as_mut().and_then(|a| a.share.as_mut()) else {
            return;
        };
        s.applied = position;
        self.restart_balance(now);
        self.counters.rps_share_changes.add(1);
        self.publish_share();
    }

    /// Updates the `rps_local_share` gauge: what adapting chose, else the
    /// map's share (0 without RX queues or RPS).
    pub(super) fn publish_share(&self) {
        let ppm = self
            .adaptive
            .as_ref()
            .and_then(Adaptive::kept_ppm)
            .unwrap_or_else(|| {
                self.steering
                    .as_ref()
                    .filter(|_| !self.rx.is_empty())
                    .map_or(0, |s| {
                        let w = s.map.workers();
                        let kept = w.iter().filter(|&&t| t == self.id).count() as u64;
                        kept * 1_000_000 / w.len().max(1) as u64
                    })
            });
        self.counters.rps_local_share.set(ppm);
    }

    fn begin_drain(&mut self, now: u64, then: After) {
        let deadline = now + self.adaptive.as_ref().map_or(0, |a| a.drain_timeout);
        if let Some(a) = self.adaptive.as_mut() {
            a.marks.iter_mut().for_each(|m| *m = None);
        }
        self.set_phase(Phase::Draining { deadline, then });
    }

    /// True once every peer this worker steers to has an empty backlog and
    /// has completed a round since with its TX buffers flushed.
    fn peers_drained(&mut self) -> bool {
        let Some(st) = self.steering.as_ref() else {
            return true;
        };
        let Some(ad) = self.adaptive.as_mut() else {
            return true;
        };
        let mut all = true;
        for &t in st.map.workers() {
            if t == self.id {
                // Without the local fast path this worker queues its own
                // flows in its own backlog: those must be out first too.
                // (What it dequeued goes into its own TX buffers, in order
                // before anything it forwards inline next.)
                if st
                    .backlogs
                    .get(t)
                    .and_then(Option::as_ref)
                    .is_some_and(|r| r.count() != 0)
                {
                    all = false;
                }
                continue;
            }
            let (Some(Some(ring)), Some(c)) = (st.backlogs.get(t), st.peer_counters.get(t)) else {
                continue;
            };
            let Some(mark) = ad.marks.get_mut(t) else {
                continue;
            };
            match *mark {
                None if ring.count() == 0 => {
                    *mark = Some(c.rounds.get());
                    all = false;
                }
                // Two more rounds: one may have been under way with
                // dequeued packets; the next one starts after them.
                Some(r)
                    if c.rounds.get() >= r + 2 && c.tx_buffered.get() == 0 && ring.count() == 0 => {
                }
                Some(_) if ring.count() != 0 => {
                    *mark = None;
                    all = false;
                }
                _ => all = false,
            }
        }
        all
    }

    fn rate_since(&self, now: u64) -> f64 {
        let Some(ad) = self.adaptive.as_ref() else {
            return 0.0;
        };
        let dt = now.saturating_sub(ad.since).max(1);
        self.processed_everywhere()
            .saturating_sub(ad.processed_at_since) as f64
            / dt as f64
    }

    fn mark_since(&mut self, now: u64) {
        let p = self.processed_everywhere();
        if let Some(a) = self.adaptive.as_mut() {
            a.since = now;
            a.processed_at_since = p;
        }
    }

    fn set_mode(&mut self, mode: Mode, now: u64) {
        let changed = self.adaptive.as_ref().is_some_and(|a| a.mode != mode);
        if let Some(a) = self.adaptive.as_mut() {
            a.mode = mode;
        }
        if changed {
            // A balancing period measures steering alone.
            self.restart_balance(now);
            self.counters
                .rps_local_mode
                .set(u64::from(mode == Mode::Local));
            self.publish_share();
        }
        self.mark_since(now);
    }

    fn set_phase(&mut self, phase: Phase) {
        if let Some(a) = self.adaptive.as_mut() {
            a.phase = phase;
        }
    }

    fn epoch_ticks(&self) -> u64 {
        self.adaptive.as_ref().map_or(0, |a| a.epoch)
    }

    fn probe_ticks(&self) -> u64 {
        self.adaptive.as_ref().map_or(0, |a| a.probe)
    }

    /// True when this worker forwards everything inline now.
    #[inline(always)]
    pub(super) fn local_mode(&self) -> bool {
        self.adaptive
            .as_ref()
            .is_some_and(|a| a.mode == Mode::Local)
    }

    /// True while adaptive RPS holds RX back (draining peers).
    #[inline(always)]
    pub(super) fn adaptive_holds_rx(&self) -> bool {
        self.adaptive.as_ref().is_some_and(Adaptive::holds_rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_measures_rate_refused_share_and_peer_idle_share() {
        let start = Sample {
            at: 1_000,
            processed: 500,
            received: 100,
            refused: 10,
            peer_busy: 7_000,
            peer_idle: 1_000,
        };
        let end = Sample {
            at: 3_000,
            processed: 1_500,
            received: 300,
            refused: 15,
            peer_busy: 9_850,
            peer_idle: 1_150,
        };
        assert_eq!(end.since(&start), (0.5, 0.025, 0.05));
        // Nothing happened (a period of zero length): no division by zero.
        assert_eq!(start.since(&start), (0.0, 0.0, 0.0));
    }

    #[test]
    fn lost_probes_double_the_epoch_up_to_the_cap_and_a_win_resets_it() {
        let (base, max) = (EPOCH_US, MAX_EPOCH_US);
        let mut e = base;
        let mut seen = vec![e];
        for _ in 0..6 {
            e = next_epoch(e, base, max, false);
            seen.push(e);
        }
        assert_eq!(
            seen,
            [200_000, 400_000, 800_000, 1_600_000, 3_200_000, 3_200_000, 3_200_000]
        );
        assert_eq!(next_epoch(e, base, max, true), base);
        // Never below the base, even from a smaller or zero current value.
        assert_eq!(next_epoch(0, base, max, false), base);
        assert_eq!(next_epoch(u64::MAX, base, max, false), max);
    }
}
