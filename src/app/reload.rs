//! SIGHUP: re-read the config, validate it completely, and apply what can
//! change without a restart, while forwarding goes on.
//!
//! The swap is RCU-style: each worker takes its new parameters between two
//! rounds and sends the old ones back, and the control plane drops them
//! only after every worker has replied, so no worker ever reads a table
//! that is being freed. Changes to the rps map or to who polls which RX
//! queue need more: every worker pauses RX (packets wait in the NIC rings),
//! the backlogs drain (so no flow has packets queued at its old worker),
//! RX queues are handed over, the new map is applied, RX resumes. That
//! keeps per-flow order across the move, like the kernel does not need to
//! (it accepts reordering on `rps_cpus` changes).
//!
//! Removing a worker from the rps map is the analogue of CPU hot-unplug:
//! it gets no new flows, its backlog is finished, its defer ring keeps
//! being flushed (the worker still runs), and its RX queues move to the
//! remaining workers; adding it back returns them.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender};

use super::observe::Observer;
use super::params::{self, Fixed};
use super::{assign_rx_queues, output_ports, rps_worker_ids};
use crate::config::{self, Config};
use crate::dpdk::RxQueue;
use crate::overload::FilterCounters;
use crate::worker::{Command, Reply, Update};

/// How long workers get to answer a reload step.
const STEP_TIMEOUT: Duration = Duration::from_secs(2);

/// The config sections whose change needs a restart, by name. Everything
/// else (napi, rps map and parameters, forward tables, overload, free,
/// bench) is applied live.
pub fn restart_required(old: &Config, new: &Config, backlog_capacity: u32) -> Vec<String> {
    let mut out = Vec::new();
    if old.eal != new.eal {
        out.push("[eal]".to_owned());
    }
    if old.ports != new.ports {
        out.push("[[ports]]".to_owned());
    }
    if old.workers != new.workers {
        out.push("[workers]".to_owned());
    }
    if old.rps.enabled != new.rps.enabled {
        out.push("rps.enabled".to_owned());
    }
    if new.rps.enabled && new.rps.max_backlog > backlog_capacity {
        out.push(format!(
            "rps.max_backlog above {backlog_capacity} (the backlog rings' size, set at start)"
        ));
    }
    if old.metrics != new.metrics {
        out.push("[metrics]".to_owned());
    }
    let (old_out, new_out) = (output_ports(old), output_ports(new));
    if let Some(p) = new_out.iter().find(|p| !old_out.contains(p)) {
        out.push(format!(
            "a route or cross-connect to port {:?}, which had none at start (it has no TX queues)",
            new.ports.get(*p).map(|p| p.name.as_str()).unwrap_or("?")
        ));
    }
    out
}

/// RX queue assignment once `removed` workers have given theirs away:
/// their queues go round-robin to the workers that are not removed.
pub fn assignment_without(
    base: &[Vec<(usize, u16)>],
    removed: &BTreeSet<usize>,
) -> Vec<Vec<(usize, u16)>> {
    let keep: Vec<usize> = (0..base.len()).filter(|w| !removed.contains(w)).collect();
    if keep.is_empty() {
        return base.to_vec();
    }
    let mut out: Vec<Vec<(usize, u16)>> = base
        .iter()
        .enumerate()
        .map(|(w, a)| {
            if removed.contains(&w) {
                Vec::new()
            } else {
                a.clone()
            }
        })
        .collect();
    let mut k = 0;
    for (w, a) in base.iter().enumerate() {
        if removed.contains(&w) {
            for &pq in a {
                out[keep[k % keep.len()]].push(pq);
                k += 1;
            }
        }
    }
    out
}

/// The control plane's reload machinery.
#[derive(Debug)]
pub(super) struct Reloader {
    /// The config in effect.
    pub cfg: Config,
    /// The plan in effect (reused when a reload leaves `[forward]` alone).
    pub plan: Arc<crate::plan::Plan>,
    pub fixed: Fixed,
    pub commands: Vec<Sender<Command>>,
    pub replies: Receiver<Reply>,
    /// Who polls which (port index, queue) now.
    pub assignment: Vec<Vec<(usize, u16)>>,
    /// Workers taken out of the rps map by a reload (their RX queues moved).
    pub removed: BTreeSet<usize>,
}

impl Reloader {
    /// Handles one SIGHUP: applies `path` or keeps the old config, and says
    /// which on stderr and in the report.
    pub fn reload(&mut self, path: &Path, obs: &Observer) {
        let t0 = Instant::now();
        match self.try_reload(path, obs) {
            Ok(summary) => {
                obs.reloads.last_ok.store(true, Ordering::Relaxed);
                obs.reloads.applied.fetch_add(1, Ordering::Relaxed);
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                obs.reloads.last_applied_unix.store(now, Ordering::Relaxed);
                crate::log_info!(
                    "napifwd: SIGHUP: {} reloaded in {:.1} ms{summary}",
                    path.display(),
                    t0.elapsed().as_secs_f64() * 1e3
                );
            }
            Err(why) => {
                obs.reloads.last_ok.store(false, Ordering::Relaxed);
                obs.reloads.rejected.fetch_add(1, Ordering::Relaxed);
                crate::log_warn!(
                    "napifwd: SIGHUP: {} rejected, the running config stays: {why}",
                    path.display()
                );
            }
        }
    }

    fn try_reload(&mut self, path: &Path, obs: &Observer) -> Result<String, String> {
        let new = config::load(path).map_err(|e| format!("invalid config:\n{e}"))?;
        let restart = restart_required(&self.cfg, &new, self.fixed.backlog_capacity);
        if !restart.is_empty() {
            return Err(format!(
                "these changes need a restart: {}",
                restart.join(", ")
            ));
        }
        let reuse = (new.forward == self.cfg.forward).then(|| self.plan.clone());
        let shared = params::shared(&new, &self.fixed, reuse).map_err(|e| {
            format!("{e} (a route change builds new LPM tables beside the old ones: raise eal.memory_mb if DPDK ran out of memory)")
        })?;

        let old_map: BTreeSet<usize> = rps_worker_ids(&self.cfg)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let new_map: BTreeSet<usize> = rps_worker_ids(&new)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut removed: BTreeSet<usize> = self
            .removed
            .union(&(&old_map - &new_map))
            .copied()
            .collect();
        removed.retain(|w| !new_map.contains(w));
        let assignment = assignment_without(&assign_rx_queues(&new), &removed);
        // Anything that can send a flow to another worker while packets of
        // it still wait in the old one's backlog needs RX paused and the
        // backlogs drained first: the map as a list (order and repeats are
        // weights, not just membership), the hash, and whether a worker's
        // own flows bypass its backlog. With `rps.adaptive` or
        // `rps.balance` on (before or after), every reload does: the
        // workers restart adapting from the map, in steer mode, so flows
        // move from whatever mode and split they had reached.
        let (old_rps, new_rps) = (&self.cfg.rps, &new.rps);
        let adapting = |r: &config::RpsConfig| r.enabled && (r.adaptive || r.balance);
        let flows_move = rps_worker_ids(&self.cfg) != rps_worker_ids(&new)
            || old_rps.hash != new_rps.hash
            || old_rps.symmetric != new_rps.symmetric
            || old_rps.local_fast_path != new_rps.local_fast_path
            || adapting(old_rps)
            || adapting(new_rps);
        let regroup = flows_move || assignment != self.assignment;

        let n = self.commands.len();
        let counters: Vec<Arc<FilterCounters>> = (0..n)
            .map(|_| Arc::new(FilterCounters::new(&new.overload.filter)))
            .collect();
        let mut rx_pool: Vec<Option<RxQueue>> = Vec::new();
        if regroup {
            self.broadcast(|| Command::PauseRx);
            let paused = self
                .await_n(n, |r| matches!(r, Reply::RxPaused(_)), |_| {})
                .and_then(|()| self.wait_backlogs_empty());
            if let Err(e) = paused {
                // Never leave RX paused: give up this reload, resume.
                self.broadcast(|| Command::ResumeRx);
                let _ = self.await_n(n, |r| matches!(r, Reply::RxResumed(_)), |_| {});
                return Err(e);
            }
            self.broadcast(|| Command::TakeRx);
            let mut taken = Vec::new();
            let took = self.await_n(
                n,
                |r| matches!(r, Reply::Rx(..)),
                |r| {
                    if let Reply::Rx(w, qs) = r {
                        taken.push((w, qs));
                    }
                },
            );
            if let Err(e) = took {
                // Never leave RX paused or a queue unpolled: what was taken
                // goes back to its worker (a late worker's queues come back
                // the same way when its answer arrives: see await_n).
                for (w, qs) in taken {
                    self.send(w, Command::GiveRx(qs));
                }
                self.broadcast(|| Command::ResumeRx);
                let _ = self.await_n(n, |r| matches!(r, Reply::RxResumed(_)), |_| {});
                return Err(format!("handing RX queues over: {e}"));
            }
            rx_pool = taken.into_iter().flat_map(|(_, qs)| qs).map(Some).collect();
        }
        let port_index = |id: u16| self.fixed.ports.iter().position(|p| p.id() == id);
        for w in 0..n {
            let prm = params::params(
                &new,
                &self.fixed,
                &shared,
                &assignment[w],
                counters[w].clone(),
            );
            let rx = regroup.then(|| {
                assignment[w]
                    .iter()
                    .filter_map(|&(p, q)| {
                        let slot = rx_pool.iter_mut().find(|s| {
                            s.as_ref().is_some_and(|rq| {
                                port_index(rq.ids().0) == Some(p) && rq.ids().1 == q
                            })
                        })?;
                        slot.take()
                    })
                    .collect()
            });
            let update = Update {
                plan: shared.plan.clone(),
                budget: prm.budget,
                idle: prm.idle,
                steering: prm.steering,
                overload: prm.overload,
                free: prm.free,
                per_packet_cycles: prm.per_packet_cycles,
                tx_drain_ticks: prm.tx_drain_ticks,
                sched: shared.sched,
                rx,
            };
            self.send(w, Command::Apply(Box::new(update)));
        }
        let mut retired = Vec::new();
        let applied = self.await_n(n, |r| matches!(r, Reply::Applied(..)), |r| retired.push(r));
        if regroup {
            self.broadcast(|| Command::ResumeRx);
            self.await_n(n, |r| matches!(r, Reply::RxResumed(_)), |_| {})?;
        }
        applied?;
        // Every worker now runs on the new values: the old ones can go.
        drop(retired);
        // Any RX queue nobody took back (cannot happen: same ports, same
        // queues) would be dropped here, keeping its port alive until then.
        drop(rx_pool);
        {
            let mut live = obs.live.lock().unwrap_or_else(|e| e.into_inner());
            live.policy = new.overload.policy;
            live.filter_counters = counters;
        }
        let summary = if regroup {
            format!(
                "; rps map {:?}, workers out of the map {:?}",
                rps_worker_ids(&new).unwrap_or_default(),
                removed.iter().collect::<Vec<_>>()
            )
        } else {
            String::new()
        };
        if new.log != self.cfg.log {
            crate::log::set_level(new.log.level);
            crate::dpdk::set_log_level(config::dpdk_log_level(new.log.level));
        }
        self.cfg = new;
        self.plan = shared.plan.clone();
        self.assignment = assignment;
        self.removed = removed;
        Ok(summary)
    }

    fn send(&self, w: usize, cmd: Command) {
        if let Some(tx) = self.commands.get(w) {
            // A closed channel means the worker is gone (stopping): the
            // await below reports the missing reply.
            let _ = tx.send(cmd);
        }
        if let Some(ctl) = self.fixed.controls.get(w) {
            ctl.notify();
        }
    }

    fn broadcast(&self, cmd: impl Fn() -> Command) {
        for w in 0..self.commands.len() {
            self.send(w, cmd());
        }
    }

    /// Waits for `n` replies matching `want`, passing each to `take`.
    fn await_n(
        &self,
        n: usize,
        want: impl Fn(&Reply) -> bool,
        mut take: impl FnMut(Reply),
    ) -> Result<(), String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut got = 0;
        while got < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left) {
                Ok(r) if want(&r) => {
                    got += 1;
                    take(r);
                }
                Ok(r) => self.settle(r),
                Err(_) => {
                    return Err(format!(
                        "only {got} of {n} workers answered within {STEP_TIMEOUT:?}"
                    ))
                }
            }
        }
        Ok(())
    }

    /// Deals with a reply that came after the step that asked for it
    /// gave up. RX queues from a late [`Command::TakeRx`] go back to their
    /// worker; anything else (a late pause, resume or applied update, whose
    /// retired tables can go since that worker has switched) is dropped.
    fn settle(&self, r: Reply) {
        if let Reply::Rx(w, qs) = r {
            if !qs.is_empty() {
                self.send(w, Command::GiveRx(qs));
            }
        }
    }

    /// Settles every late reply waiting in the channel (called by the
    /// control loop between reloads, so that queues a late worker handed
    /// over after its reload gave up are polled again without waiting for
    /// the next reload).
    pub fn settle_late_replies(&self) {
        while let Ok(r) = self.replies.try_recv() {
            self.settle(r);
        }
    }

    fn wait_backlogs_empty(&self) -> Result<(), String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        while self.fixed.backlogs.iter().flatten().any(|b| b.count() > 0) {
            if Instant::now() >= deadline {
                return Err("backlogs did not drain".into());
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_sections_do_not_need_a_restart() {
        let old = Config::default();
        let mut new = old.clone();
        new.napi.budget = 100;
        new.rps.workers = vec![1];
        new.overload.policy = config::OverloadPolicy::Drop;
        new.free.defer_max = 64;
        assert!(restart_required(&old, &new, 4096).is_empty());
    }

    #[test]
    fn restart_only_changes_are_named() {
        let old = Config::default();
        let mut new = old.clone();
        new.eal.memory_mb = 2048;
        new.workers.lcores = vec![1, 2];
        new.rps.enabled = true;
        new.rps.max_backlog = 10_000;
        let r = restart_required(&old, &new, 4096);
        assert_eq!(r.len(), 4, "{r:?}");
        assert!(r[0].contains("[eal]"));
        assert!(r[3].contains("max_backlog above 4096"));
    }

    #[test]
    fn removed_workers_give_their_queues_away_round_robin() {
        let base = vec![vec![(0, 0), (0, 2)], vec![(0, 1)], vec![(1, 0)]];
        let removed: BTreeSet<usize> = [0].into_iter().collect();
        let a = assignment_without(&base, &removed);
        assert_eq!(a, vec![vec![], vec![(0, 1), (0, 0)], vec![(1, 0), (0, 2)]]);
        assert_eq!(assignment_without(&base, &BTreeSet::new()), base);
        let all: BTreeSet<usize> = [0, 1, 2].into_iter().collect();
        assert_eq!(
            assignment_without(&base, &all),
            base,
            "nobody left to take them"
        );
    }
}
