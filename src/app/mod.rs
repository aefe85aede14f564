//! `napifwd run`: bring the appliance up from a validated config, run the
//! workers, supervise them from the main lcore, and report at exit.
//!
//! Order matters and is the reverse at shutdown: EAL, mempools, ports, plan,
//! workers; then stop workers (they flush TX), read counters, check the
//! accounting (`rx == tx + drops + in_flight`, mempools back to baseline),
//! drop ports (stop + close), drop the EAL.

mod observe;
mod params;
mod reload;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use observe::Observer;
use observe::{Live, ReloadStatus};
use params::Fixed;
pub use params::{assign_rx_queues, output_ports, rps_worker_ids};
use reload::Reloader;

use crate::config::{self, Config};
use crate::dpdk::{
    self, cycles, lcore, os, Eal, MbufRing, Mempool, Port, PortSetup, RingConsumer, RingProducer,
    RxQueue, RxTscField, TxQueue,
};
use crate::overload::FilterCounters;
use crate::stats::{Report, WorkerCounters};
use crate::worker::{self, FreeSetup, WorkerControl, WorkerSetup};

/// Options of `napifwd run` besides the config.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop once no packet has arrived for this long.
    pub until_idle: Option<Duration>,
    /// Write the final report as JSON here.
    pub stats_json: Option<PathBuf>,
    /// Print a stats line every second (default: when stdout is a terminal).
    pub live_stats: bool,
    /// The config file, re-read on SIGHUP.
    pub config_path: Option<PathBuf>,
}

/// Why `run` failed. Every variant's message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// EAL initialisation failed.
    #[error("EAL initialisation failed: {source}{}", hint.as_ref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    Eal {
        /// The DPDK error.
        source: dpdk::DpdkError,
        /// What napifwd thinks the cause is.
        hint: Option<String>,
    },
    /// Setting up pools, ports, tables or workers failed.
    #[error("{0}")]
    Setup(#[from] dpdk::DpdkError),
    /// The forwarding tables could not be built from a config that passed
    /// validation (a validation gap: please report it).
    #[error("cannot build the forwarding plan: {0}")]
    Plan(String),
    /// SCHED_FIFO was asked for and is not permitted.
    #[error("{0}")]
    Sched(String),
    /// A config value could only be checked at run time (a BPF object
    /// that does not load or verify): exit 78 like any config error.
    #[error("invalid config: {0}")]
    Config(String),
    /// Writing the stats JSON failed.
    #[error("cannot write stats JSON to {path}: {source}")]
    StatsJson {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The metrics endpoint could not start.
    #[error("{0}")]
    Metrics(#[from] crate::metrics::MetricsError),
    /// The accounting did not add up at exit: a bug, reported loudly.
    #[error("accounting error at exit: {0}")]
    Accounting(String),
}

/// Mbufs each worker's pool holds beyond what its RX rings and TX rings can
/// pin: bursts in flight, TX buffers, per-lcore caches, and the copies some
/// PMDs keep (net_pcap with infinite_rx holds the whole pcap in mbufs).
const POOL_SLACK: u32 = 8192;
/// Per-lcore mempool cache (DPDK's rule of thumb: a divisor of the pool size, <= 512).
const POOL_CACHE: u32 = 256;

/// Capacity of a backlog ring: four times `max_backlog` (at least 4096),
/// so a reload can raise `max_backlog` that far without new rings; the
/// configured `max_backlog` is enforced by the producers.
pub fn backlog_ring_size(max_backlog: u32) -> u32 {
    max_backlog.saturating_mul(4).clamp(4096, 1 << 20)
}

/// Capacity of a defer ring: room for several flushes' worth, so that a
/// busy owner rarely makes consumers free locally (`defer_overflow`).
fn defer_ring_size(defer_max: u32) -> u32 {
    // At least 8192: a few milliseconds of drops at line rate, enough to
    // ride out an owner that the kernel preempted; 4 flushes' worth above.
    defer_max.saturating_mul(4).clamp(8192, 65536)
}

/// How long workers get to acknowledge the end of RX before they are told
/// to stop anyway (a worker stuck in a round longer than this is a bug).
const STOP_RX_TIMEOUT: Duration = Duration::from_secs(2);

/// What napifwd can tell about a failed EAL init beyond DPDK's errno.
pub fn eal_hint(cfg: &Config, hugepages_total: Option<u64>, online_cpus: usize) -> Option<String> {
    if !cfg.eal.no_huge && hugepages_total == Some(0) {
        return Some(
            "no hugepages: reserve some (echo 512 > /proc/sys/vm/nr_hugepages) and mount hugetlbfs, \
             or set eal.no_huge = true"
                .into(),
        );
    }
    if let Ok(set) = config::parse_lcore_set(&cfg.eal.lcores) {
        if !cfg.eal.lcores.contains('@') {
            if let Some(bad) = set.iter().find(|&&l| l as usize >= online_cpus) {
                return Some(format!(
                    "lcore {bad} is not available ({online_cpus} CPUs online): list existing CPUs in \
                     eal.lcores, or map more lcores than CPUs with the '@' form, e.g. lcores = \"0@0,1@1,2@1\""
                ));
            }
        }
    }
    let devices: Vec<&str> = cfg.ports.iter().map(|p| p.device.as_str()).collect();
    Some(format!(
        "check eal.args and the port devices ({}): an unknown vdev driver or bad device \
         argument fails EAL init (EAL printed which one above)",
        devices.join(", ")
    ))
}

fn hugepages_total() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Total:"))
        .and_then(|v| v.trim().parse().ok())
}

struct Running {
    observer: Arc<Observer>,
    controls: Vec<Arc<WorkerControl>>,
    lcores: Vec<lcore::LaunchedLcore>,
    reloader: Reloader,
    drain_timeout_ms: u64,
}

/// The checks of a config that need more than parsing but no EAL:
/// loading and verifying the eBPF filter program. `check-config` runs them
/// so that it rejects what `run` would.
pub fn check_runtime(cfg: &Config) -> Result<(), RunError> {
    params::load_bpf(cfg).map(|_| ())
}

/// Runs the appliance until a signal, `--duration` or `--until-idle` stops
/// it. Returns the final report.
pub fn run(cfg: &Config, opts: &RunOptions) -> Result<Report, RunError> {
    crate::log::set_level(cfg.log.level);
    if let Err(e) = os::block_signals() {
        crate::log_warn!(
            "napifwd: warning: cannot block signals ({e}); Ctrl-C will kill without a report"
        );
    }
    // Bound before EAL init: a taken port fails fast, before any hugepage.
    let metrics_listener = crate::metrics::MetricsListener::bind(&cfg.metrics.listen)?;
    let args = config::eal_args(cfg, "napifwd");
    let eal = Eal::init(&args).map_err(|source| RunError::Eal {
        hint: eal_hint(
            cfg,
            hugepages_total(),
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        ),
        source,
    })?;
    let mut running = start(cfg)?;
    crate::log_info!(
        "napifwd: {} worker(s) on lcore(s) {:?}, {} port(s), mode {:?}; Ctrl-C to stop",
        cfg.workers.lcores.len(),
        cfg.workers.lcores,
        cfg.ports.len(),
        cfg.forward.mode
    );
    let metrics = metrics_listener.and_then(|l| l.serve_or_warn(running.observer.clone()));
    let failure = supervise(opts, &mut running);
    // Joined before the final report: no reader of the ports is left.
    if let Some(m) = metrics {
        m.stop();
    }
    let report = stop(running)?;
    if let Some(path) = &opts.stats_json {
        let json = serde_json::to_string_pretty(&report).expect("report serialises");
        std::fs::write(path, json + "\n").map_err(|source| RunError::StatsJson {
            path: path.clone(),
            source,
        })?;
    }
    print_final(&report);
    if let Some(msg) = failure {
        return Err(RunError::Sched(msg));
    }
    check_accounting(&report)?;
    drop(eal);
    Ok(report)
}

fn start(cfg: &Config) -> Result<Running, RunError> {
    let nworkers = cfg.workers.lcores.len();
    let nports = cfg.ports.len();
    let assignment = assign_rx_queues(cfg);

    // One pool per worker: RX queues a worker polls refill from its pool,
    // so the worker is the owner of the mbufs it receives.
    let mut pools = Vec::with_capacity(nworkers);
    for (w, &lc) in cfg.workers.lcores.iter().enumerate() {
        let rx_desc: u32 = assignment[w]
            .iter()
            .map(|&(p, _)| u32::from(cfg.ports[p].rx_descriptors))
            .sum();
        let tx_desc: u32 = cfg.ports.iter().map(|p| u32::from(p.tx_descriptors)).sum();
        // With RPS, this worker's mbufs may also sit in every backlog (up to
        // max_backlog each: a reload that raises it may run the pool short,
        // which shows as rx_nombuf, not as a fault), and its dropped mbufs
        // in its defer ring.
        let backlogs = if cfg.rps.enabled {
            cfg.rps.max_backlog.saturating_mul(nworkers as u32)
        } else {
            0
        };
        let defer = if nworkers > 1 {
            defer_ring_size(cfg.free.defer_max)
        } else {
            0
        };
        let n = (rx_desc + tx_desc + backlogs + defer + POOL_SLACK).next_power_of_two() - 1;
        let name = format!("napifwd_w{w}");
        let pool = Mempool::create(&name, n, POOL_CACHE, lcore::socket_of(lc))?;
        pools.push((name, pool, 0u32));
    }

    let outputs = output_ports(cfg);
    let mut ports = Vec::with_capacity(nports);
    let mut rx_by_port: Vec<Vec<Option<RxQueue>>> = Vec::with_capacity(nports);
    let mut tx_by_port: Vec<Vec<Option<TxQueue>>> = Vec::with_capacity(nports);
    for (p, pc) in cfg.ports.iter().enumerate() {
        // RX queue q of port p is polled by the worker assignment says.
        let rx_pools = (0..pc.rx_queues)
            .map(|q| {
                let w = assignment
                    .iter()
                    .position(|a| a.contains(&(p, q)))
                    .unwrap_or(0);
                pools[w].1
            })
            .collect();
        let setup = PortSetup {
            name: &pc.name,
            device: config::port_device_name(&pc.device),
            rx_pools,
            // Only ports something is forwarded to need TX queues: an
            // RX-only port (a capture source, a tap) may have none to give.
            tx_queues: if outputs.contains(&p) {
                nworkers as u16
            } else {
                0
            },
            rx_descriptors: pc.rx_descriptors,
            tx_descriptors: pc.tx_descriptors,
            mtu: pc.mtu,
            promiscuous: pc.promiscuous,
            mac: pc.mac.map(|m| m.0),
            socket: lcore::socket_of(cfg.workers.lcores[0]),
            rss_symmetric: cfg.rps.symmetric,
        };
        let (port, rx, tx) = Port::setup(&setup)?;
        ports.push(port);
        rx_by_port.push(rx.into_iter().map(Some).collect());
        tx_by_port.push(tx.into_iter().map(Some).collect());
    }

    // Baseline after the ports started: RX rings (and PMD-internal copies)
    // now hold what they will hold for the life of the port.
    for (_, pool, base) in pools.iter_mut() {
        *base = pool.in_use();
    }

    let start_gate = Arc::new(worker::StartGate::new(nworkers));
    let controls: Vec<Arc<WorkerControl>> = (0..nworkers)
        .map(|_| WorkerControl::new().map(Arc::new))
        .collect::<Result<_, _>>()
        .map_err(|e| RunError::Plan(format!("cannot create a worker eventfd: {e}")))?;

    // RPS: one MP/SC backlog ring per worker (all of them, so that a reload
    // can change the rps map), sized so max_backlog can grow live up to it.
    let backlog_capacity = backlog_ring_size(cfg.rps.max_backlog);
    let mut backlog_producers: Vec<Option<RingProducer>> = vec![None; nworkers];
    let mut backlog_consumers: Vec<Option<RingConsumer>> = (0..nworkers).map(|_| None).collect();
    if cfg.rps.enabled {
        for (w, &lc) in cfg.workers.lcores.iter().enumerate() {
            let (p, c) = MbufRing::create(
                &format!("napifwd_backlog{w}"),
                backlog_capacity,
                lcore::socket_of(lc),
            )?;
            backlog_producers[w] = Some(p);
            backlog_consumers[w] = Some(c);
        }
    }
    // Owner free: one MP/SC defer ring per worker when there is more than
    // one (a reload may switch free.mode to owner later).
    let mut defer_producers: Vec<Option<RingProducer>> = vec![None; nworkers];
    let mut defer_consumers: Vec<Option<RingConsumer>> = (0..nworkers).map(|_| None).collect();
    if nworkers > 1 {
        for (w, &lc) in cfg.workers.lcores.iter().enumerate() {
            let (p, c) = MbufRing::create(
                &format!("napifwd_defer{w}"),
                defer_ring_size(cfg.free.defer_max),
                lcore::socket_of(lc),
            )?;
            defer_producers[w] = Some(p);
            defer_consumers[w] = Some(c);
        }
    }
    let backlog_rings: Vec<RingProducer> = backlog_producers.iter().flatten().cloned().collect();
    let worker_pools: Vec<Mempool> = pools.iter().map(|(_, p, _)| *p).collect();

    let counters: Vec<Arc<WorkerCounters>> = (0..nworkers)
        .map(|_| Arc::new(WorkerCounters::default()))
        .collect();
    let fixed = Fixed {
        counters: counters.clone(),
        ports: ports.clone(),
        backlogs: backlog_producers,
        backlog_capacity,
        controls: controls.clone(),
    };
    let shared = params::shared(cfg, &fixed, None)?;
    if shared.sched.is_some() && cfg.eal.lcores.contains('@') {
        crate::log_warn!(
            "napifwd: warning: SCHED_FIFO workers with an lcore map ({:?}): a FIFO worker that \
             shares a CPU with the main lcore or another worker leaves it only the kernel's RT \
             throttling slack (5 %); give each FIFO worker a CPU of its own",
            cfg.eal.lcores
        );
    }
    let filter_counters: Vec<Arc<FilterCounters>> = (0..nworkers)
        .map(|_| Arc::new(FilterCounters::new(&cfg.overload.filter)))
        .collect();
    let latency = if cfg.metrics.latency {
        Some(RxTscField::register()?)
    } else {
        None
    };
    let (reply_tx, replies) = crossbeam_channel::unbounded();
    let mut commands = Vec::with_capacity(nworkers);

    let mut lcores = Vec::with_capacity(nworkers);
    for (w, &lc) in cfg.workers.lcores.iter().enumerate() {
        let rx = assignment[w]
            .iter()
            .filter_map(|&(p, q)| rx_by_port[p][usize::from(q)].take())
            .collect();
        let tx = tx_by_port
            .iter_mut()
            .map(|qs| qs.get_mut(w).and_then(Option::take))
            .collect();
        let prm = params::params(
            cfg,
            &fixed,
            &shared,
            &assignment[w],
            filter_counters[w].clone(),
        );
        let (cmd_tx, inbox) = crossbeam_channel::unbounded();
        commands.push(cmd_tx);
        let c = counters[w].clone();
        let setup = WorkerSetup {
            id: w,
            lcore: lc,
            rx,
            tx,
            backlog: backlog_consumers[w].take(),
            steering: prm.steering,
            plan: shared.plan.clone(),
            budget: prm.budget,
            idle: prm.idle,
            tx_drain_ticks: prm.tx_drain_ticks,
            drain_ticks: cycles::us_to_tsc(cfg.workers.drain_timeout_ms.saturating_mul(1000)),
            per_packet_cycles: prm.per_packet_cycles,
            overload: prm.overload,
            free: FreeSetup {
                mode: prm.free.mode,
                pools: worker_pools.clone(),
                defer_rings: defer_producers.clone(),
                own_ring: defer_consumers[w].take(),
                defer_max: prm.free.defer_max,
                max_age_ticks: prm.free.max_age_ticks,
            },
            sched: shared.sched,
            latency,
            counters: c.clone(),
            control: controls[w].clone(),
            start: start_gate.clone(),
            inbox,
            replies: reply_tx.clone(),
        };
        match lcore::launch(lc, move || worker::run(setup)) {
            Ok(l) => lcores.push(l),
            Err(e) => {
                for ctl in &controls {
                    ctl.request_stop();
                    ctl.request_finish();
                }
                for l in lcores {
                    l.wait();
                }
                return Err(e.into());
            }
        }
    }
    // Every worker is running: let them poll.
    for ctl in &controls {
        ctl.start();
    }
    let observer = Arc::new(Observer {
        port_names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
        ports,
        pools,
        worker_lcores: cfg.workers.lcores.clone(),
        counters,
        backlogs: backlog_rings,
        live: Mutex::new(Live {
            policy: cfg.overload.policy,
            filter_counters,
        }),
        reloads: ReloadStatus {
            last_ok: AtomicBool::new(true),
            ..ReloadStatus::default()
        },
        started: Instant::now(),
    });
    let reloader = Reloader {
        plan: shared.plan.clone(),
        cfg: cfg.clone(),
        fixed,
        commands,
        replies,
        assignment,
        removed: Default::default(),
    };
    Ok(Running {
        observer,
        controls,
        lcores,
        reloader,
        drain_timeout_ms: cfg.workers.drain_timeout_ms,
    })
}

/// The main lcore's loop: signals, stop conditions, the live stats line.
/// Returns why the run must fail, if it must (a worker that could not
/// start), or `None` for a normal stop.
fn supervise(opts: &RunOptions, r: &mut Running) -> Option<String> {
    let obs = r.observer.clone();
    let tick = opts
        .until_idle
        .map(|d| (d / 4).clamp(Duration::from_millis(1), Duration::from_millis(100)))
        .unwrap_or(Duration::from_millis(100));
    let mut last_rx = obs.rx_packets();
    let mut last_rx_change = Instant::now();
    let mut last_line = Instant::now();
    let mut line_rx = last_rx;
    let mut line_tx = obs.tx_packets();
    loop {
        if let Some(sig) = os::wait_signal(tick) {
            match sig {
                os::Signal::Interrupt | os::Signal::Terminate => {
                    crate::log_info!("napifwd: {sig:?}: stopping");
                    return None;
                }
                os::Signal::Hangup => match &opts.config_path {
                    Some(path) => r.reloader.reload(path, &obs),
                    None => crate::log_warn!("napifwd: SIGHUP: no config file to re-read"),
                },
            }
        }
        r.reloader.settle_late_replies();
        if let Some(why) = sched_failure(r) {
            return Some(why);
        }
        let now = Instant::now();
        if opts
            .duration
            .is_some_and(|d| now.duration_since(obs.started) >= d)
        {
            return None;
        }
        let rx = obs.rx_packets();
        if rx != last_rx {
            last_rx = rx;
            last_rx_change = now;
        } else if opts
            .until_idle
            .is_some_and(|d| now.duration_since(last_rx_change) >= d)
        {
            return None;
        }
        if opts.live_stats && now.duration_since(last_line) >= Duration::from_secs(1) {
            let secs = now.duration_since(last_line).as_secs_f64();
            let tx = obs.tx_packets();
            let drops = obs.dropped_packets();
            println!(
                "rx {:8.3} Mpps  tx {:8.3} Mpps  | total rx {} tx {} dropped {}",
                (rx - line_rx) as f64 / secs / 1e6,
                (tx - line_tx) as f64 / secs / 1e6,
                rx,
                tx,
                drops
            );
            line_rx = rx;
            line_tx = tx;
            last_line = now;
        }
    }
}

/// A worker that could not switch to SCHED_FIFO has returned without
/// polling anything: its RX queues would never be served, so the run stops
/// with the reason instead of going on without it.
fn sched_failure(r: &Running) -> Option<String> {
    r.controls
        .iter()
        .zip(&r.lcores)
        .enumerate()
        .find_map(|(w, (c, l))| {
            c.sched_failure().map(|e| {
                format!(
                    "worker {w} (lcore {}) could not switch to SCHED_FIFO: {e}, although the \
                     check before launch had passed (did RLIMIT_RTPRIO or the cgroup's RT \
                     budget change?); stopped",
                    l.lcore()
                )
            })
        })
}

/// Stops the workers and builds the final report.
fn stop(r: Running) -> Result<Report, RunError> {
    // Phase 1: every worker stops RX (so nobody feeds a backlog any more)
    // and says so; phase 2: each drains its backlog, flushes TX, returns.
    for c in &r.controls {
        c.request_stop_rx();
    }
    let deadline = Instant::now() + STOP_RX_TIMEOUT;
    while !r.controls.iter().all(|c| c.rx_stopped()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(100));
    }
    for c in &r.controls {
        c.request_stop();
    }
    // Phase 3 once every worker drained its backlog: nobody drops (and so
    // defers) any more, the owners free their defer rings and return.
    let deadline = Instant::now() + Duration::from_millis(r.drain_timeout_ms) + STOP_RX_TIMEOUT;
    while !r.controls.iter().all(|c| c.drained()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(100));
    }
    for c in &r.controls {
        c.request_finish();
    }
    for l in r.lcores {
        let lc = l.lcore();
        let rc = l.wait();
        if rc != 0 {
            crate::log_error!("napifwd: worker on lcore {lc} exited with {rc}");
        }
    }
    r.observer.report().map_err(RunError::from)
}

fn print_final(r: &Report) {
    let t = &r.totals;
    println!(
        "napifwd: final: rx {} tx {} dropped {} in_flight {} ({:.3} Mpps over {:.1} s)",
        t.rx_packets,
        t.tx_packets,
        t.dropped_packets,
        t.in_flight,
        t.rx_packets as f64 / r.uptime_seconds.max(1e-9) / 1e6,
        r.uptime_seconds
    );
    for (reason, n) in &t.dropped_by_reason {
        println!("napifwd: final: dropped {reason}: {n}");
    }
    for w in &r.workers {
        println!(
            "napifwd: final: worker {} (lcore {}): processed {} budget_exhausted {} time_exhausted {}",
            w.id, w.lcore, w.processed, w.budget_exhausted, w.time_exhausted
        );
    }
}

/// The checks that make a run trustworthy: every packet accounted for and
/// every mbuf back where it started.
fn check_accounting(r: &Report) -> Result<(), RunError> {
    let t = &r.totals;
    if !t.balanced() {
        return Err(RunError::Accounting(format!(
            "rx {} != tx {} + dropped {} + in_flight {}",
            t.rx_packets, t.tx_packets, t.dropped_packets, t.in_flight
        )));
    }
    // After the drain nothing may be left in a backlog or a TX buffer: a
    // packet there was accepted and never sent nor counted as dropped.
    if t.in_flight != 0 {
        return Err(RunError::Accounting(format!(
            "{} packets still in flight after the drain (left in a backlog or a TX buffer)",
            t.in_flight
        )));
    }
    if r.mempools.in_use_at_exit != r.mempools.baseline {
        return Err(RunError::Accounting(format!(
            "mbuf leak: {} mbufs in use at exit, baseline {} (per pool: {:?})",
            r.mempools.in_use_at_exit, r.mempools.baseline, r.mempools.pools
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exit checks, in order: balance, nothing in flight, no mbuf
    /// leaked.
    #[test]
    fn accounting_at_exit_requires_balance_nothing_in_flight_and_no_leak() {
        let mut r = Report::default();
        r.totals.rx_packets = 100;
        r.totals.tx_packets = 90;
        r.totals.dropped_packets = 10;
        assert!(check_accounting(&r).is_ok());

        r.totals.tx_packets = 89;
        let e = check_accounting(&r).unwrap_err().to_string();
        assert!(
            e.contains("rx 100 != tx 89 + dropped 10 + in_flight 0"),
            "{e}"
        );

        r.totals.in_flight = 1;
        let e = check_accounting(&r).unwrap_err().to_string();
        assert!(
            e.contains("1 packets still in flight after the drain"),
            "{e}"
        );

        r.totals.tx_packets = 90;
        r.totals.in_flight = 0;
        r.mempools.baseline = 256;
        r.mempools.in_use_at_exit = 265;
        let e = check_accounting(&r).unwrap_err().to_string();
        assert!(
            e.contains("mbuf leak: 265 mbufs in use at exit, baseline 256"),
            "{e}"
        );
    }

    fn port(name: &str, rxq: u16) -> config::PortConfig {
        config::PortConfig {
            name: name.into(),
            device: format!("net_null_{name}"),
            rx_queues: rxq,
            ..Default::default()
        }
    }

    #[test]
    fn rx_queues_spread_round_robin() {
        let mut cfg = Config {
            ports: vec![port("a", 3), port("b", 1)],
            ..Config::default()
        };
        cfg.workers.lcores = vec![1, 2];
        let a = assign_rx_queues(&cfg);
        assert_eq!(a, vec![vec![(0, 0), (0, 2)], vec![(0, 1), (1, 0)]]);
        cfg.workers.lcores = vec![1];
        assert_eq!(assign_rx_queues(&cfg)[0].len(), 4);
    }

    #[test]
    fn pinned_queues_first_then_round_robin() {
        let mut cfg = Config {
            ports: vec![port("a", 2), port("b", 1)],
            ..Config::default()
        };
        cfg.workers.lcores = vec![1, 2];
        cfg.workers.rx = vec![config::RxAssignment {
            port: "b".into(),
            queue: 0,
            lcore: 2,
        }];
        let a = assign_rx_queues(&cfg);
        assert_eq!(a, vec![vec![(0, 0)], vec![(1, 0), (0, 1)]]);
    }
}
