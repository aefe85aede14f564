//! Freeing dropped mbufs: immediately, in bulk, or deferred to their owner.
//!
//! Mirrors Linux `skb_attempt_defer_free` / `skb_defer_free_flush`: a
//! buffer consumed on a CPU that did not allocate it is handed back to the
//! allocating CPU, which frees a whole batch at once into its own
//! per-lcore mempool cache, instead of the consuming CPU pushing it through
//! the shared mempool ring. The owner of an mbuf is the worker whose pool it
//! came from (each worker has one pool; its RX queues refill from it).
//!
//! The owner flushes its defer ring when it holds `defer_max` mbufs, when
//! it has held something for `max_age_us`, and whenever a round finds no
//! work: an idle owner never leaves mbufs stuck (an early kernel version
//! did, on CPUs that went idle).
//!
//! Only mbufs napifwd drops go this way; mbufs the PMD frees after TX are
//! the PMD's business (as TX completions are in Linux).

use crate::config::FreeMode;
use crate::dpdk::{Mbuf, MbufBurst, Mempool, RingConsumer, RingProducer};
use crate::stats::WorkerCounters;

use super::BURST;

/// The freeing parameters a reload may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeParams {
    /// `free.mode`.
    pub mode: FreeMode,
    /// Flush the own ring at this many mbufs.
    pub defer_max: u32,
    /// Flush the own ring when it has held mbufs this long (TSC ticks).
    pub max_age_ticks: u64,
}

/// A worker's freeing setup.
#[derive(Debug)]
pub struct FreeSetup {
    /// `free.mode`.
    pub mode: FreeMode,
    /// Every worker's pool, by worker id (the owner of an mbuf is the
    /// index of its pool here).
    pub pools: Vec<Mempool>,
    /// Every worker's defer ring (producer ends), by worker id.
    pub defer_rings: Vec<Option<RingProducer>>,
    /// This worker's own defer ring.
    pub own_ring: Option<RingConsumer>,
    /// Flush the own ring at this many mbufs.
    pub defer_max: u32,
    /// Flush the own ring when it has held mbufs this long (TSC ticks).
    pub max_age_ticks: u64,
}

/// Runtime state of freeing on one worker.
#[derive(Debug)]
pub(super) struct Reclaim {
    id: usize,
    setup: FreeSetup,
    local: MbufBurst<BURST>,
    stage: Vec<MbufBurst<BURST>>,
    /// When the own ring was last seen empty or flushed.
    since: u64,
}

impl Reclaim {
    pub(super) fn new(id: usize, setup: FreeSetup, now: u64) -> Reclaim {
        let n = setup.pools.len();
        Reclaim {
            id,
            setup,
            local: MbufBurst::new(),
            stage: (0..n).map(|_| MbufBurst::new()).collect(),
            since: now,
        }
    }

    /// Takes new parameters (the rings stay).
    pub(super) fn set_params(&mut self, p: FreeParams) {
        self.setup.mode = p.mode;
        self.setup.defer_max = p.defer_max;
        self.setup.max_age_ticks = p.max_age_ticks;
    }

    /// The worker id that owns `m`'s pool, if any worker does.
    #[inline(always)]
    fn owner(&self, m: &Mbuf) -> Option<usize> {
        self.setup.pools.iter().position(|p| p.owns(m))
    }

    /// Frees the dropped mbufs in `drops` according to the mode.
    #[inline(always)]
    pub(super) fn release(&mut self, drops: &mut MbufBurst<BURST>, c: &WorkerCounters) {
        if drops.is_empty() {
            return;
        }
        match self.setup.mode {
            FreeMode::Immediate => {
                // One rte_pktmbuf_free per packet, where it was consumed.
                for m in drops.drain() {
                    drop(m);
                }
            }
            FreeMode::Batch => drops.free_all(),
            FreeMode::Owner => {
                for m in drops.drain() {
                    match self.owner(&m) {
                        Some(o) if o != self.id && o < self.stage.len() => {
                            let Some(stage) = self.stage.get_mut(o) else {
                                continue; // unreachable: o < len
                            };
                            if let Err(m) = stage.push(m) {
                                drop(m);
                            }
                        }
                        _ => {
                            if let Err(m) = self.local.push(m) {
                                drop(m);
                            }
                        }
                    }
                }
                self.local.free_all();
                for (o, stage) in self.stage.iter_mut().enumerate() {
                    if stage.is_empty() {
                        continue;
                    }
                    let n = stage.len() as u64;
                    let sent = match self.setup.defer_rings.get(o) {
                        Some(Some(ring)) => ring.enqueue_burst(stage) as u64,
                        _ => 0,
                    };
                    c.deferred_sent.add(sent);
                    if sent < n {
                        // The owner's ring is full: free here rather than wait.
                        c.defer_overflow.add(n - sent);
                        stage.free_all();
                    }
                }
            }
        }
    }

    /// The owner side: frees what other workers deferred to this one when
    /// enough has piled up, when it is old enough, or when `idle`.
    #[inline(always)]
    pub(super) fn flush_own(&mut self, now: u64, idle: bool, c: &WorkerCounters) {
        let Some(ring) = self.setup.own_ring.as_mut() else {
            return;
        };
        let pending = ring.count();
        c.defer_pending.set(u64::from(pending));
        if pending == 0 {
            self.since = now;
            return;
        }
        let old = now.wrapping_sub(self.since) >= self.setup.max_age_ticks;
        if pending < self.setup.defer_max && !old && !idle {
            return;
        }
        let mut freed = 0u64;
        loop {
            let n = ring.dequeue_burst(&mut self.local, BURST);
            if n == 0 {
                break;
            }
            freed += n as u64;
            self.local.free_all();
        }
        c.deferred_freed.add(freed);
        c.defer_flushes.add(1);
        c.defer_pending.set(0);
        self.since = now;
    }

    /// Frees everything in the own ring (at stop).
    pub(super) fn flush_all(&mut self, now: u64, c: &WorkerCounters) {
        self.flush_own(now, true, c);
    }
}
