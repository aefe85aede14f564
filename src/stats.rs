//! Per-worker counters and the final statistics report.
//!
//! Hot-path counters follow the kernel's `softnet_data` discipline: each
//! worker owns one cache-line-aligned block and is its only writer, so an
//! increment is a relaxed load and store (no locked instruction, no shared
//! line bouncing between workers). Readers (the stats line, `/metrics`, the
//! final JSON) sum them whenever they like; a read may be a moment old but
//! is never torn.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

use crate::drop_reason::DropReason;
use crate::latency::{LatencyHistogram, LatencyReport};

/// A counter with a single writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker may call this (single writer).
    #[inline(always)]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Sets a gauge. Only the owning worker may call this.
    #[inline(always)]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }

    /// Reads the current value (any thread).
    #[inline(always)]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Everything one worker counts. Fields are grouped by how often they
/// change; the struct is cache-line aligned so two workers' blocks never
/// share a line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct WorkerCounters {
    /// Packets taken from RX queues.
    pub rx_packets: Counter,
    /// Packets that reached a forwarding decision on this worker.
    pub processed: Counter,
    /// Packets accepted by a TX queue.
    pub tx_packets: Counter,
    /// Drops, indexed by [`DropReason::index`].
    pub dropped: [Counter; DropReason::COUNT],
    /// Rounds that ended on the packet budget.
    pub budget_exhausted: Counter,
    /// Rounds that ended on the time budget.
    pub time_exhausted: Counter,
    /// Rounds run.
    pub rounds: Counter,
    /// Packets this worker enqueued to other workers' backlogs.
    pub rps_sent: Counter,
    /// Packets this worker took from its own backlog.
    pub rps_received: Counter,
    /// Backlog length at the last visit (gauge).
    pub backlog_len: Counter,
    /// Highest backlog length seen (gauge).
    pub backlog_high_water: Counter,
    /// Times the worker parked (slept) for lack of work.
    pub parks: Counter,
    /// Times another worker woke this one.
    pub kicks: Counter,
    /// TSC cycles spent in rounds that found work. A round runs from the
    /// end of the one before, so busy and idle cycles together are all the
    /// worker's polling time (parks and reloads are neither).
    pub busy_cycles: Counter,
    /// TSC cycles spent in rounds that found nothing.
    pub idle_cycles: Counter,
    /// Packets sitting in this worker's TX buffers (gauge).
    pub tx_buffered: Counter,
    /// Overload state transitions.
    pub overload_transitions: Counter,
    /// Dropped mbufs handed back to their owner's defer ring.
    pub deferred_sent: Counter,
    /// Dropped mbufs freed locally because the owner's defer ring was full.
    pub defer_overflow: Counter,
    /// Mbufs this worker freed from its own defer ring.
    pub deferred_freed: Counter,
    /// Flushes of the own defer ring.
    pub defer_flushes: Counter,
    /// Mbufs waiting in the own defer ring (gauge).
    pub defer_pending: Counter,
    /// Adaptive RPS: 1 while this worker forwards everything inline (gauge).
    pub rps_local_mode: Counter,
    /// Adaptive RPS: probes that changed the mode.
    pub rps_mode_switches: Counter,
    /// Share of the flows this RX worker forwards itself, in millionths (gauge).
    pub rps_local_share: Counter,
    /// `rps.balance`: changes of that share.
    pub rps_share_changes: Counter,
    /// 1 while overloaded (gauge).
    pub overload_state: Counter,
    /// TSC ticks spent overloaded so far (gauge).
    pub overload_ticks: Counter,
    /// RX-to-TX latency of forwarded packets.
    pub latency: LatencyHistogram,
}

impl WorkerCounters {
    /// Counts one drop.
    #[inline(always)]
    pub fn drop_one(&self, r: DropReason) {
        self.dropped[r.index()].add(1);
    }

    /// Counts `n` drops.
    #[inline(always)]
    pub fn drop_n(&self, r: DropReason, n: u64) {
        self.dropped[r.index()].add(n);
    }

    /// Drops counted under `r`.
    #[inline(always)]
    pub fn dropped(&self, r: DropReason) -> u64 {
        self.dropped[r.index()].get()
    }

    /// Sum of drops over all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(Counter::get).sum()
    }

    /// A point-in-time copy for reporting.
    pub fn snapshot(&self, id: usize, lcore: u32) -> WorkerStats {
        WorkerStats {
            id,
            lcore,
            rx_packets: self.rx_packets.get(),
            processed: self.processed.get(),
            tx_packets: self.tx_packets.get(),
            dropped_packets: self.dropped_total(),
            dropped_by_reason: by_reason(|r| self.dropped(r)),
            budget_exhausted: self.budget_exhausted.get(),
            time_exhausted: self.time_exhausted.get(),
            rounds: self.rounds.get(),
            rps_sent: self.rps_sent.get(),
            rps_received: self.rps_received.get(),
            flow_limited: self.dropped(DropReason::FlowLimit),
            backlog_len: self.backlog_len.get(),
            backlog_high_water: self.backlog_high_water.get(),
            parks: self.parks.get(),
            kicks: self.kicks.get(),
            busy_cycles: self.busy_cycles.get(),
            idle_cycles: self.idle_cycles.get(),
            overload_transitions: self.overload_transitions.get(),
            rps_local_mode: self.rps_local_mode.get() != 0,
            rps_mode_switches: self.rps_mode_switches.get(),
            rps_local_share: self.rps_local_share.get() as f64 / 1e6,
            rps_share_changes: self.rps_share_changes.get(),
            deferred_sent: self.deferred_sent.get(),
            defer_overflow: self.defer_overflow.get(),
            deferred_freed: self.deferred_freed.get(),
            defer_flushes: self.defer_flushes.get(),
            defer_pending: self.defer_pending.get(),
            overloaded: self.overload_state.get() != 0,
            overload_seconds: crate::dpdk::cycles::tsc_to_secs(self.overload_ticks.get()),
            latency: self
                .latency
                .snapshot()
                .report(crate::dpdk::cycles::tsc_hz()),
        }
    }
}

/// Drop counts by reason name, only non-zero reasons (a stable, readable
/// JSON object; absent means zero).
pub fn by_reason(mut get: impl FnMut(DropReason) -> u64) -> BTreeMap<&'static str, u64> {
    DropReason::ALL
        .iter()
        .filter_map(|&r| {
            let n = get(r);
            (n != 0).then_some((r.as_str(), n))
        })
        .collect()
}

/// One worker in the stats report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkerStats {
    /// Worker index (0-based, in `[workers].lcores` order).
    pub id: usize,
    /// The lcore it runs on.
    pub lcore: u32,
    /// Packets taken from RX queues.
    pub rx_packets: u64,
    /// Packets that reached a forwarding decision here.
    pub processed: u64,
    /// Packets transmitted.
    pub tx_packets: u64,
    /// Total drops.
    pub dropped_packets: u64,
    /// Drops by reason.
    pub dropped_by_reason: BTreeMap<&'static str, u64>,
    /// Rounds ended by the packet budget.
    pub budget_exhausted: u64,
    /// Rounds ended by the time budget.
    pub time_exhausted: u64,
    /// Rounds run.
    pub rounds: u64,
    /// Packets steered to other workers.
    pub rps_sent: u64,
    /// Packets taken from this worker's backlog.
    pub rps_received: u64,
    /// Packets this worker dropped under the flow limit when steering them
    /// (the same number as `dropped_by_reason.flow_limit`).
    pub flow_limited: u64,
    /// Backlog length at the time of the report.
    pub backlog_len: u64,
    /// Highest backlog length seen.
    pub backlog_high_water: u64,
    /// Times parked.
    pub parks: u64,
    /// Times kicked awake.
    pub kicks: u64,
    /// TSC cycles in rounds with work.
    pub busy_cycles: u64,
    /// TSC cycles in empty rounds.
    pub idle_cycles: u64,
    /// Overload state transitions.
    pub overload_transitions: u64,
    /// Adaptive RPS: forwarding everything inline at the time of the report.
    pub rps_local_mode: bool,
    /// Adaptive RPS: probes that changed the mode.
    pub rps_mode_switches: u64,
    /// Share of the flows (by hash) this RX worker forwards itself, 0 to 1
    /// (0 on workers without RX queues or RPS).
    pub rps_local_share: f64,
    /// `rps.balance`: changes of that share.
    pub rps_share_changes: u64,
    /// Dropped mbufs handed back to their owner's defer ring.
    pub deferred_sent: u64,
    /// Dropped mbufs freed locally because the owner's defer ring was full.
    pub defer_overflow: u64,
    /// Mbufs freed from this worker's own defer ring.
    pub deferred_freed: u64,
    /// Flushes of the own defer ring.
    pub defer_flushes: u64,
    /// Mbufs waiting in the own defer ring.
    pub defer_pending: u64,
    /// Overloaded at the time of the report.
    pub overloaded: bool,
    /// Time spent overloaded.
    pub overload_seconds: f64,
    /// RX-to-TX latency percentiles of the packets this worker sent.
    pub latency: LatencyReport,
}

/// One port in the stats report (from the device's own counters).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct PortStats {
    /// DPDK port id.
    pub port_id: u16,
    /// The PMD.
    pub driver: String,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets transmitted.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Packets the device dropped for lack of RX descriptors.
    pub rx_missed: u64,
    /// RX errors.
    pub rx_errors: u64,
    /// TX errors.
    pub tx_errors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// Totals over all workers: the accounting identity lives here.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Totals {
    /// Packets taken from RX queues.
    pub rx_packets: u64,
    /// Packets accepted by TX queues.
    pub tx_packets: u64,
    /// Packets dropped, all reasons.
    pub dropped_packets: u64,
    /// Drops by reason.
    pub dropped_by_reason: BTreeMap<&'static str, u64>,
    /// Packets held inside napifwd (TX buffers, backlogs) when read.
    pub in_flight: u64,
}

impl Totals {
    /// Sums worker snapshots; `in_flight` is what the caller measured in
    /// buffers and rings (not derived from the other counters, so that
    /// `rx == tx + dropped + in_flight` is a real check).
    pub fn from_workers(workers: &[WorkerStats], in_flight: u64) -> Totals {
        let mut t = Totals {
            in_flight,
            ..Totals::default()
        };
        for w in workers {
            t.rx_packets += w.rx_packets;
            t.tx_packets += w.tx_packets;
            t.dropped_packets += w.dropped_packets;
            for (k, v) in &w.dropped_by_reason {
                *t.dropped_by_reason.entry(k).or_insert(0) += v;
            }
        }
        t
    }

    /// True when every packet received is accounted for.
    pub fn balanced(&self) -> bool {
        self.rx_packets == self.tx_packets + self.dropped_packets + self.in_flight
    }
}

/// Mempool accounting: in-use mbufs now and the baseline taken after the
/// ports started (RX rings hold mbufs for as long as the port runs).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct MempoolStats {
    /// Per-pool in-use at the time of the report.
    pub pools: BTreeMap<String, PoolStats>,
    /// Sum of in-use at exit (after the drain), or now for live reports.
    pub in_use_at_exit: u64,
    /// Sum of the baselines.
    pub baseline: u64,
}

/// One mempool.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct PoolStats {
    /// Mbufs in the pool.
    pub size: u64,
    /// Mbufs allocated now.
    pub in_use: u64,
    /// Mbufs allocated right after the ports started.
    pub baseline: u64,
}

/// The overload policy's view: which policy, and what each filter rule did
/// (summed over workers).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct OverloadStats {
    /// `overload.policy`.
    pub policy: String,
    /// Workers overloaded at the time of the report.
    pub workers_overloaded: usize,
    /// Filter rules in order, then `default`.
    pub rules: Vec<RuleStats>,
}

/// One filter rule.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct RuleStats {
    /// Rule name (`default` for the default action).
    pub name: String,
    /// Packets it matched.
    pub matched: u64,
    /// Packets it dropped.
    pub dropped: u64,
}

/// The whole report: `--stats-json`, and (live) `/status`.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Report {
    /// napifwd version.
    pub version: &'static str,
    /// Seconds since the workers started.
    pub uptime_seconds: f64,
    /// Totals.
    pub totals: Totals,
    /// Ports by configured name.
    pub ports: BTreeMap<String, PortStats>,
    /// Workers in id order.
    pub workers: Vec<WorkerStats>,
    /// Mempool accounting.
    pub mempools: MempoolStats,
    /// Overload policy and filter rules.
    pub overload: OverloadStats,
    /// Config reload status.
    pub config: ConfigStats,
}

/// SIGHUP reload bookkeeping.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ConfigStats {
    /// False when the last reload was rejected (invalid file, or a change
    /// that needs a restart); the previous config stays in effect.
    pub last_reload_successful: bool,
    /// Reloads applied.
    pub reloads_applied: u64,
    /// Reloads rejected.
    pub reloads_rejected: u64,
    /// Unix time of the last applied reload, 0 if none.
    pub last_reload_unix_seconds: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_into_balanced_totals() {
        let a = WorkerCounters::default();
        a.rx_packets.add(10);
        a.tx_packets.add(7);
        a.drop_one(DropReason::NoRoute);
        a.drop_n(DropReason::TtlExceeded, 2);
        let b = WorkerCounters::default();
        b.rx_packets.add(5);
        b.tx_packets.add(4);
        let ws = vec![a.snapshot(0, 1), b.snapshot(1, 2)];
        let t = Totals::from_workers(&ws, 1);
        assert_eq!(t.rx_packets, 15);
        assert_eq!(t.dropped_packets, 3);
        assert_eq!(t.dropped_by_reason["no_route"], 1);
        assert_eq!(t.dropped_by_reason["ttl_exceeded"], 2);
        assert!(!t.dropped_by_reason.contains_key("tx_full"));
        assert!(t.balanced());
        let t = Totals::from_workers(&ws, 0);
        assert!(!t.balanced(), "one packet unaccounted for must show");
    }

    #[test]
    fn worker_block_is_cache_line_aligned() {
        assert_eq!(std::mem::align_of::<WorkerCounters>(), 64);
    }
}
