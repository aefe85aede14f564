//! A worker's side of the overload policy: sampling its load signal into
//! the detector, and the three actions.
//!
//! - signal: the highest of backlog fill, RX queue fill (where the PMD can
//!   count its descriptors) and processed rate / `pps_ceiling`;
//! - `drop`: producers admit into an overloaded worker's backlog only up to
//!   halfway between its watermarks and drop the rest (`overload`), so what it accepts
//!   waits a bounded time while it keeps working at capacity; the worker
//!   serves its backlog before new RX work of its own, and may pause RX
//!   polling for `pause_rx_us` on entering overload;
//! - `demote`: the worker runs SCHED_FIFO; overloaded, it switches itself to
//!   SCHED_OTHER and yields once per round, so the kernel can throttle it;
//! - `filter`: packets are judged at RX, before steering, while their
//!   target worker is overloaded (or always).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Io, WorkerControl};
use crate::config::OverloadPolicy;
use crate::dpdk::{cycles, os, BpfProgram, Mbuf};
use crate::drop_reason::DropReason;
use crate::overload::{Detector, RuleFilter, State, Thresholds, Verdict};

/// How often the rate-based parts of the signal (RX queue fill, packet
/// rate, refused share) are sampled, in microseconds. Counting RX
/// descriptors can cost a scan of the ring on real NICs; rates need a
/// window long enough to hold a few bursts.
const RATE_SAMPLE_US: u64 = 100;

/// The packet judge of the `filter` policy.
#[derive(Debug)]
pub enum PacketFilter {
    /// TOML rules (this worker's own copy: buckets and counters).
    Rules(RuleFilter),
    /// An eBPF program (shared, stateless).
    Bpf(Arc<BpfProgram>),
}

impl PacketFilter {
    #[inline]
    fn judge(&mut self, m: &mut Mbuf, now: u64) -> Verdict {
        match self {
            PacketFilter::Rules(r) => r.judge(m.data(), now),
            PacketFilter::Bpf(p) => {
                if p.pass(m) {
                    Verdict::Pass
                } else {
                    Verdict::Drop
                }
            }
        }
    }
}

/// A worker's overload configuration.
#[derive(Debug)]
pub struct OverloadSetup {
    /// The policy.
    pub policy: OverloadPolicy,
    /// Detector thresholds in TSC ticks.
    pub thresholds: Thresholds,
    /// Packets per second that count as full (0 = no rate signal).
    pub pps_ceiling: u64,
    /// `drop`: pause RX this long (ticks) on entering overload.
    pub pause_rx_ticks: u64,
    /// `demote`: SCHED_FIFO priority while normal.
    pub fifo_priority: i32,
    /// `filter`: the judge.
    pub filter: Option<PacketFilter>,
    /// `filter`: judge always, not only while overloaded.
    pub filter_always: bool,
    /// RX ring size of each of the worker's RX queues (for their fill).
    pub rx_descriptors: Vec<u16>,
    /// TSC ticks per second.
    pub tsc_hz: u64,
}

/// Runtime state of the policy on one worker.
#[derive(Debug)]
pub(super) struct OverloadState {
    pub(super) setup: OverloadSetup,
    detector: Detector,
    sample_ticks: u64,
    rx_fill: f64,
    rate_since: u64,
    rate_processed: u64,
    rate_refused: u64,
    rate_fill: f64,
    refused_share: f64,
    /// RX polling is paused until this TSC (drop policy).
    pub(super) rx_paused_until: u64,
}

impl OverloadState {
    pub(super) fn new(setup: OverloadSetup, now: u64) -> OverloadState {
        OverloadState {
            detector: Detector::new(setup.thresholds),
            sample_ticks: setup.tsc_hz / (1_000_000 / RATE_SAMPLE_US),
            setup,
            rx_fill: 0.0,
            rate_since: now,
            rate_processed: 0,
            rate_refused: 0,
            rate_fill: 0.0,
            refused_share: 0.0,
            rx_paused_until: 0,
        }
    }

    #[inline]
    pub(super) fn overloaded(&self) -> bool {
        self.detector.state() == State::Overloaded
    }
}

impl Io {
    /// Samples the load signal after a round and applies state changes.
    #[inline]
    pub(super) fn sample_overload(&mut self, now: u64) {
        let Some(ov) = self.overload.as_mut() else {
            return;
        };
        let mut fill = 0.0f64;
        if let Some(ring) = &self.backlog {
            // Against max_backlog (what producers enforce), not the ring's
            // size, which is larger so that a reload can raise the limit.
            let limit = self
                .steering
                .as_ref()
                .map_or(ring.capacity(), |s| s.max_backlog);
            fill = f64::from(ring.count()) / f64::from(limit.max(1));
        }
        let dt = now.wrapping_sub(ov.rate_since);
        if dt >= ov.sample_ticks {
            ov.rx_fill = 0.0;
            for (q, &desc) in self.rx.iter().zip(&ov.setup.rx_descriptors) {
                if let Some(used) = q.pending() {
                    ov.rx_fill = ov.rx_fill.max(f64::from(used) / f64::from(desc.max(1)));
                }
            }
            let processed = self.counters.processed.get();
            let refused = self.control.refused.load(Ordering::Relaxed);
            let (dp, dr) = (processed - ov.rate_processed, refused - ov.rate_refused);
            if ov.setup.pps_ceiling > 0 {
                let pps = dp as f64 * ov.setup.tsc_hz as f64 / dt.max(1) as f64;
                ov.rate_fill = pps / ov.setup.pps_ceiling as f64;
            }
            // The share of the work offered to this worker that producers
            // turned away (drop and filter policies). While the policy
            // keeps the backlog short, this is what says the flood goes on:
            // without it the worker would leave overload as soon as its
            // policy worked, and flap.
            ov.refused_share = if dp + dr == 0 {
                0.0
            } else {
                dr as f64 / (dp + dr) as f64
            };
            ov.rate_since = now;
            ov.rate_processed = processed;
            ov.rate_refused = refused;
        }
        fill = fill.max(ov.rx_fill).max(ov.rate_fill);
        if ov.overloaded() {
            fill = fill.max(ov.refused_share);
        }
        if let Some(state) = ov.detector.update(now, fill) {
            let on = state == State::Overloaded;
            self.control.overloaded.store(on, Ordering::Relaxed);
            self.counters.overload_state.set(u64::from(on));
            self.counters.overload_transitions.add(1);
            match ov.setup.policy {
                OverloadPolicy::Demote => {
                    // Failure to switch back to FIFO cannot happen once the
                    // start-up switch succeeded (same thread, same rights);
                    // if it did, staying in SCHED_OTHER is the safe side.
                    let _ = os::set_sched_class(if on {
                        os::SchedClass::Other
                    } else {
                        os::SchedClass::Fifo(ov.setup.fifo_priority)
                    });
                }
                OverloadPolicy::Drop if on => {
                    ov.rx_paused_until = now.wrapping_add(ov.setup.pause_rx_ticks);
                }
                _ => {}
            }
        }
        self.counters
            .overload_ticks
            .set(ov.detector.overloaded_ticks(now));
        if ov.setup.policy == OverloadPolicy::Demote
            && self.control.overloaded.load(Ordering::Relaxed)
        {
            // Demoted: let the scheduler run whoever else wants this CPU.
            os::yield_cpu();
        }
    }

    /// Whether RX queues may be polled now (the drop policy holds RX back
    /// while the worker still has accepted work, or during a pause).
    #[inline(always)]
    pub(super) fn rx_allowed(&self, now: u64) -> bool {
        let Some(ov) = self.overload.as_ref() else {
            return true;
        };
        if ov.setup.policy != OverloadPolicy::Drop || !ov.overloaded() {
            return true;
        }
        if now < ov.rx_paused_until {
            return false;
        }
        self.backlog.as_ref().is_none_or(|r| r.count() == 0)
    }

    /// Without RPS: runs the filter over `self.burst` while it applies to
    /// this worker, dropping what it rejects.
    #[inline(always)]
    pub(super) fn filter_burst(&mut self) {
        let Io {
            overload,
            burst,
            drops,
            counters,
            reclaim,
            ..
        } = self;
        let Some(ov) = overload.as_mut() else {
            return;
        };
        if !ov.filter_applies(None) {
            return;
        }
        // Read only when the filter runs: a TSC read costs tens of cycles
        // on a VM, and this is once per RX burst.
        let now = cycles::rdtsc();
        burst.retain_owned(|mut m| {
            if ov.judge(&mut m, now) {
                Some(m)
            } else {
                super::forward::count_drop(counters, drops, m, DropReason::Filter);
                None
            }
        });
        reclaim.release(drops, counters);
    }
}

impl OverloadState {
    /// Whether packets for a worker go through the filter now: always, or
    /// while that worker (`peer`; `None` = this worker) is overloaded.
    #[inline(always)]
    pub(super) fn filter_applies(&self, peer: Option<&WorkerControl>) -> bool {
        if self.setup.filter.is_none() {
            return false;
        }
        if self.setup.filter_always {
            return true;
        }
        match peer {
            Some(p) => p.overloaded.load(Ordering::Relaxed),
            None => self.overloaded(),
        }
    }

    /// True when the policy has a packet filter.
    #[inline(always)]
    pub(super) fn has_filter(&self) -> bool {
        self.setup.filter.is_some()
    }

    /// The high watermark (a fill fraction).
    #[inline(always)]
    pub(super) fn high_fill(&self) -> f64 {
        self.setup.thresholds.high
    }

    /// Judges one packet: `true` = keep.
    #[inline(always)]
    pub(super) fn judge(&mut self, m: &mut Mbuf, now: u64) -> bool {
        match self.setup.filter.as_mut() {
            Some(f) => f.judge(m, now) == Verdict::Pass,
            None => true,
        }
    }

    /// Under the drop policy: the fraction of `max_backlog` an overloaded
    /// target may fill, halfway between its watermarks: short enough to
    /// bound the wait of what it accepts, deep enough that a producer the
    /// kernel preempts for a moment does not leave it idle.
    #[inline(always)]
    pub(super) fn drop_admission(&self) -> Option<f64> {
        let t = &self.setup.thresholds;
        (self.setup.policy == OverloadPolicy::Drop).then_some((t.low + t.high) / 2.0)
    }
}
