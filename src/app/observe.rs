//! The [`Observer`]: read-only access to a running appliance's counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::OverloadPolicy;
use crate::dpdk::{self, Mempool, Port, RingProducer};
use crate::overload::FilterCounters;
use crate::stats::{
    ConfigStats, MempoolStats, OverloadStats, PoolStats, PortStats, Report, RuleStats, Totals,
    WorkerCounters,
};

/// Read-only access to a running appliance's counters, from any thread:
/// the final report, the live stats line, `/status` and `/metrics` all come
/// from [`Observer::report`], so they cannot disagree.
#[derive(Debug)]
pub struct Observer {
    pub(super) port_names: Vec<String>,
    pub(super) ports: Vec<Port>,
    pub(super) pools: Vec<(String, Mempool, u32)>,
    pub(super) worker_lcores: Vec<u32>,
    pub(super) counters: Vec<Arc<WorkerCounters>>,
    /// Producer handles of the backlogs, only to count the packets they
    /// hold (in flight). Defer rings are not here: what they hold was
    /// already dropped and counted; it is the workers' `defer_pending`.
    pub(super) backlogs: Vec<RingProducer>,
    /// What a reload changes.
    pub(super) live: Mutex<Live>,
    /// Reload bookkeeping.
    pub(super) reloads: ReloadStatus,
    pub(super) started: Instant,
}

/// The parts of the report that a reload replaces.
#[derive(Debug)]
pub(super) struct Live {
    /// `overload.policy`.
    pub policy: OverloadPolicy,
    /// Each worker's filter rule counters (new rules, new counters).
    pub filter_counters: Vec<Arc<FilterCounters>>,
}

/// Outcome of the last SIGHUP.
#[derive(Debug, Default)]
pub(super) struct ReloadStatus {
    /// 1 when the last reload was applied (or none was tried).
    pub last_ok: AtomicBool,
    /// Reloads applied.
    pub applied: AtomicU64,
    /// Reloads rejected.
    pub rejected: AtomicU64,
    /// Unix time of the last applied reload (0 = never).
    pub last_applied_unix: AtomicU64,
}

impl Observer {
    /// A point-in-time report. Worker counters are read without stopping
    /// the workers, so live totals may be a few packets apart; after the
    /// workers stopped, the report is exact.
    pub fn report(&self) -> Result<Report, dpdk::DpdkError> {
        let uptime = self.started.elapsed().as_secs_f64();
        let workers: Vec<_> = self
            .counters
            .iter()
            .zip(&self.worker_lcores)
            .enumerate()
            .map(|(i, (c, &lc))| c.snapshot(i, lc))
            .collect();
        let in_flight = self
            .counters
            .iter()
            .map(|c| c.tx_buffered.get())
            .sum::<u64>()
            + self
                .backlogs
                .iter()
                .map(|b| u64::from(b.count()))
                .sum::<u64>();
        let totals = Totals::from_workers(&workers, in_flight);
        let mut ports = BTreeMap::new();
        for (p, name) in self.ports.iter().zip(&self.port_names) {
            let st = p.stats()?;
            ports.insert(
                name.clone(),
                PortStats {
                    port_id: p.id(),
                    driver: p.driver().to_owned(),
                    rx_packets: st.rx_packets,
                    tx_packets: st.tx_packets,
                    rx_bytes: st.rx_bytes,
                    tx_bytes: st.tx_bytes,
                    rx_missed: st.rx_missed,
                    rx_errors: st.rx_errors,
                    tx_errors: st.tx_errors,
                    rx_nombuf: st.rx_nombuf,
                },
            );
        }
        let mut mempools = MempoolStats::default();
        for (name, pool, base) in &self.pools {
            let in_use = pool.in_use();
            mempools.in_use_at_exit += u64::from(in_use);
            mempools.baseline += u64::from(*base);
            mempools.pools.insert(
                name.clone(),
                PoolStats {
                    size: u64::from(pool.size()),
                    in_use: u64::from(in_use),
                    baseline: u64::from(*base),
                },
            );
        }
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let mut overload = OverloadStats {
            policy: live.policy.as_str().to_owned(),
            workers_overloaded: workers.iter().filter(|w| w.overloaded).count(),
            rules: Vec::new(),
        };
        if live.policy == OverloadPolicy::Filter {
            if let Some(first) = live.filter_counters.first() {
                overload.rules = first
                    .names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| RuleStats {
                        name: name.clone(),
                        matched: live
                            .filter_counters
                            .iter()
                            .map(|f| f.rules[i].matched.get())
                            .sum(),
                        dropped: live
                            .filter_counters
                            .iter()
                            .map(|f| f.rules[i].dropped.get())
                            .sum(),
                    })
                    .collect();
            }
        }
        Ok(Report {
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: uptime,
            totals,
            ports,
            workers,
            mempools,
            overload,
            config: ConfigStats {
                last_reload_successful: self.reloads.last_ok.load(Ordering::Relaxed),
                reloads_applied: self.reloads.applied.load(Ordering::Relaxed),
                reloads_rejected: self.reloads.rejected.load(Ordering::Relaxed),
                last_reload_unix_seconds: self.reloads.last_applied_unix.load(Ordering::Relaxed),
            },
        })
    }

    /// Total packets received so far.
    pub fn rx_packets(&self) -> u64 {
        self.counters.iter().map(|c| c.rx_packets.get()).sum()
    }

    /// Total packets transmitted so far.
    pub fn tx_packets(&self) -> u64 {
        self.counters.iter().map(|c| c.tx_packets.get()).sum()
    }

    /// Total packets dropped so far.
    pub fn dropped_packets(&self) -> u64 {
        self.counters.iter().map(|c| c.dropped_total()).sum()
    }
}
