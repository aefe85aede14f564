//! `napifwd run`: bring the appliance up from a validated config, run the
//! workers, supervise them from the main lcore, and report at exit.
//!
//! Order matters and is the reverse at shutdown: EAL, mempools, ports, plan,
//! workers; then stop workers (they flush TX), read counters, check the
//! accounting (`rx == tx + drops + in_flight`, mempools back to baseline),
//! drop ports (stop + close), drop the EAL.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{
    self, Config, FilterWhen, ForwardMode, IdleMode, OverloadPolicy, RpsHash, SrcMac,
};
use crate::dpdk::{
    self, cycles, lcore, os, BpfProgram, Eal, MbufRing, Mempool, Port, PortSetup, RingConsumer,
    RingProducer, RxQueue, TxQueue,
};
use crate::fwd::l2::XconnectTable;
use crate::fwd::route::RouteTable;
use crate::napi::NapiBudget;
use crate::overload::{FilterCounters, RuleFilter, Thresholds};
use crate::plan::{L3Tables, Mode, Plan, PortInfo};
use crate::rps::RpsMap;
use crate::stats::{
    MempoolStats, OverloadStats, PoolStats, PortStats, Report, RuleStats, Totals, WorkerCounters,
};
use crate::wire::MacAddr;
use crate::worker::{
    self, HashSource, Idle, OverloadSetup, PacketFilter, Steering, WorkerControl, WorkerSetup,
};

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

/// How long workers get to acknowledge the end of RX before they are told
/// to stop anyway (a worker stuck in a round longer than this is a bug).
const STOP_RX_TIMEOUT: Duration = Duration::from_secs(2);

/// The worker ids in the rps map when RPS is on: `rps.workers` lcores
/// translated to worker ids, or every worker when the list is empty.
pub fn rps_worker_ids(cfg: &Config) -> Option<Vec<usize>> {
    if !cfg.rps.enabled {
        return None;
    }
    let ids: Vec<usize> = if cfg.rps.workers.is_empty() {
        (0..cfg.workers.lcores.len()).collect()
    } else {
        cfg.rps
            .workers
            .iter()
            .filter_map(|lc| cfg.workers.lcores.iter().position(|l| l == lc))
            .collect()
    };
    (!ids.is_empty()).then_some(ids)
}

/// Indices of the ports packets can be forwarded to: route ports (l3) or
/// cross-connect outputs (l2).
pub fn output_ports(cfg: &Config) -> Vec<usize> {
    let index_of = |name: &str| cfg.ports.iter().position(|p| p.name == name);
    let mut out: Vec<usize> = match cfg.forward.mode {
        ForwardMode::L3 => cfg
            .forward
            .routes
            .iter()
            .filter_map(|r| index_of(&r.port))
            .collect(),
        ForwardMode::L2 => cfg
            .forward
            .l2
            .iter()
            .filter_map(|x| index_of(&x.output))
            .collect(),
    };
    out.sort_unstable();
    out.dedup();
    out
}

/// Assigns (port, rx queue) pairs to workers: `[[workers.rx]]` pins first,
/// then the rest round-robin in config order. Returns, per worker, the
/// (port index, queue) pairs it polls.
pub fn assign_rx_queues(cfg: &Config) -> Vec<Vec<(usize, u16)>> {
    let n = cfg.workers.lcores.len().max(1);
    let mut out = vec![Vec::new(); n];
    let mut pinned = std::collections::BTreeSet::new();
    for a in &cfg.workers.rx {
        let port = cfg.ports.iter().position(|p| p.name == a.port);
        let worker = cfg.workers.lcores.iter().position(|&l| l == a.lcore);
        if let (Some(p), Some(w)) = (port, worker) {
            if pinned.insert((p, a.queue)) {
                out[w].push((p, a.queue));
            }
        }
    }
    let mut k = 0usize;
    for (p, port) in cfg.ports.iter().enumerate() {
        for q in 0..port.rx_queues {
            if !pinned.contains(&(p, q)) {
                out[k % n].push((p, q));
                k += 1;
            }
        }
    }
    out
}

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
}

/// Runs the appliance until a signal, `--duration` or `--until-idle` stops
/// it. Returns the final report.
pub fn run(cfg: &Config, opts: &RunOptions) -> Result<Report, RunError> {
    if let Err(e) = os::block_signals() {
        eprintln!(
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
    let running = start(cfg)?;
    eprintln!(
        "napifwd: {} worker(s) on lcore(s) {:?}, {} port(s), mode {:?}; Ctrl-C to stop",
        cfg.workers.lcores.len(),
        cfg.workers.lcores,
        cfg.ports.len(),
        cfg.forward.mode
    );
    let metrics = metrics_listener.and_then(|l| l.serve_or_warn(running.observer.clone()));
    supervise(cfg, opts, &running);
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
        // With RPS, this worker's mbufs may also sit in every backlog.
        let backlogs = if cfg.rps.enabled {
            cfg.rps.max_backlog.saturating_mul(nworkers as u32)
        } else {
            0
        };
        let n = (rx_desc + tx_desc + backlogs + POOL_SLACK).next_power_of_two() - 1;
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

    let plan = Arc::new(build_plan(cfg, &ports)?);

    // Baseline after the ports started: RX rings (and PMD-internal copies)
    // now hold what they will hold for the life of the port.
    for (_, pool, base) in pools.iter_mut() {
        *base = pool.in_use();
    }

    let budget = NapiBudget {
        weight: cfg.napi.weight,
        backlog_weight: cfg.napi.backlog_weight,
        budget: cfg.napi.budget,
        budget_ticks: cycles::us_to_tsc(u64::from(cfg.napi.budget_us)),
    };
    let tx_drain_ticks = cycles::us_to_tsc(u64::from(cfg.forward.tx_drain_us));
    let idle = match cfg.napi.idle {
        IdleMode::Poll => Idle::Poll,
        IdleMode::Park => Idle::Park {
            after_rounds: cfg.napi.park_after_rounds,
            max_sleep: Duration::from_micros(u64::from(cfg.napi.max_sleep_us)),
        },
    };

    let sched = sched_class(cfg)?;
    let bpf = load_bpf(cfg)?;
    let filter_counters: Vec<Arc<FilterCounters>> = (0..nworkers)
        .map(|_| Arc::new(FilterCounters::new(&cfg.overload.filter)))
        .collect();
    let controls: Vec<Arc<WorkerControl>> = (0..nworkers)
        .map(|_| WorkerControl::new().map(Arc::new))
        .collect::<Result<_, _>>()
        .map_err(|e| RunError::Plan(format!("cannot create a worker eventfd: {e}")))?;

    // RPS: one MP/SC backlog ring per worker in the rps map.
    let rps_workers = rps_worker_ids(cfg);
    let mut producers: Vec<Option<RingProducer>> = vec![None; nworkers];
    let mut consumers: Vec<Option<RingConsumer>> = (0..nworkers).map(|_| None).collect();
    if let Some(map_workers) = &rps_workers {
        for &w in map_workers {
            let (p, c) = MbufRing::create(
                &format!("napifwd_backlog{w}"),
                cfg.rps.max_backlog,
                lcore::socket_of(cfg.workers.lcores[w]),
            )?;
            producers[w] = Some(p);
            consumers[w] = Some(c);
        }
    }
    let backlogs: Vec<RingProducer> = producers.iter().flatten().cloned().collect();

    let mut counters = Vec::with_capacity(nworkers);
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
        let steering = rps_workers.as_ref().and_then(|map_workers| {
            Some(Steering {
                map: RpsMap::new(map_workers.clone())?,
                backlogs: producers.clone(),
                peers: controls.clone(),
                hash: match cfg.rps.hash {
                    RpsHash::Auto => HashSource::Auto,
                    RpsHash::Software => HashSource::Software,
                },
                symmetric: cfg.rps.symmetric,
                local_fast_path: cfg.rps.local_fast_path,
                flow_limit: cfg.rps.flow_limit.then_some(cfg.rps.flow_limit_table_len),
                max_backlog: cfg.rps.max_backlog,
            })
        });
        let overload = overload_setup(cfg, &assignment[w], bpf.clone(), filter_counters[w].clone());
        let c = Arc::new(WorkerCounters::default());
        let setup = WorkerSetup {
            id: w,
            lcore: lc,
            rx,
            tx,
            backlog: consumers[w].take(),
            steering,
            plan: plan.clone(),
            budget,
            idle,
            tx_drain_ticks,
            per_packet_cycles: cfg.bench.per_packet_cycles,
            overload,
            sched,
            counters: c.clone(),
            control: controls[w].clone(),
        };
        counters.push(c);
        match lcore::launch(lc, move || worker::run(setup)) {
            Ok(l) => lcores.push(l),
            Err(e) => {
                for ctl in &controls {
                    ctl.request_stop();
                }
                for l in lcores {
                    l.wait();
                }
                return Err(e.into());
            }
        }
    }
    let observer = Arc::new(Observer {
        port_names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
        ports,
        pools,
        worker_lcores: cfg.workers.lcores.clone(),
        counters,
        backlogs,
        policy: cfg.overload.policy,
        filter_counters,
        started: Instant::now(),
    });
    Ok(Running {
        observer,
        controls,
        lcores,
    })
}

/// The scheduling class workers run in: SCHED_FIFO for the demote policy
/// (at `overload.demote.fifo_priority`) or when `workers.fifo_priority` is
/// set. Checked here, on the main thread, so that a missing permission
/// fails `run` at start with the fix instead of leaving a worker behind.
fn sched_class(cfg: &Config) -> Result<Option<os::SchedClass>, RunError> {
    let prio = if cfg.overload.policy == OverloadPolicy::Demote {
        cfg.overload.demote.fifo_priority
    } else {
        cfg.workers.fifo_priority
    };
    if prio == 0 {
        return Ok(None);
    }
    let class = os::SchedClass::Fifo(prio);
    os::set_sched_class(class)
        .and_then(|()| os::set_sched_class(os::SchedClass::Other))
        .map_err(|e| {
            RunError::Sched(format!(
                "cannot run workers SCHED_FIFO at priority {prio}: {e}. Run napifwd as root or \
                 give it CAP_SYS_NICE (docker run --cap-add SYS_NICE), or raise RLIMIT_RTPRIO; \
                 or choose another overload.policy / set workers.fifo_priority = 0"
            ))
        })?;
    Ok(Some(class))
}

/// Loads and verifies `overload.filter.bpf_object` (its `.text` section,
/// where clang puts an unannotated function; a `section:NAME` suffix picks
/// another). A file that does not load is a config error.
fn load_bpf(cfg: &Config) -> Result<Option<Arc<BpfProgram>>, RunError> {
    let f = &cfg.overload.filter;
    if cfg.overload.policy != OverloadPolicy::Filter || f.bpf_object.is_empty() {
        return Ok(None);
    }
    let (path, section) = match f.bpf_object.rsplit_once(":section:") {
        Some((p, s)) => (p, s),
        None => (f.bpf_object.as_str(), ".text"),
    };
    BpfProgram::load(std::path::Path::new(path), section)
        .map(|p| Some(Arc::new(p)))
        .map_err(|e| RunError::Config(format!("overload.filter.bpf_object: {e}")))
}

/// One worker's overload policy setup, or `None` for policy "none" with
/// nothing to detect for.
fn overload_setup(
    cfg: &Config,
    rx: &[(usize, u16)],
    bpf: Option<Arc<BpfProgram>>,
    counters: Arc<FilterCounters>,
) -> Option<OverloadSetup> {
    let o = &cfg.overload;
    let hz = cycles::tsc_hz();
    let filter = match o.policy {
        OverloadPolicy::Filter => Some(match bpf {
            Some(p) => PacketFilter::Bpf(p),
            None => PacketFilter::Rules(RuleFilter::new(&o.filter, counters, hz, cycles::rdtsc())),
        }),
        _ => None,
    };
    Some(OverloadSetup {
        policy: o.policy,
        thresholds: Thresholds {
            high: o.high_watermark,
            low: o.low_watermark,
            enter_after: cycles::us_to_tsc(o.enter_after_us),
            exit_after: cycles::us_to_tsc(o.exit_after_us),
        },
        pps_ceiling: o.pps_ceiling,
        pause_rx_ticks: cycles::us_to_tsc(o.drop.pause_rx_us),
        fifo_priority: o.demote.fifo_priority,
        filter,
        filter_always: o.filter.when == FilterWhen::Always,
        rx_descriptors: rx
            .iter()
            .map(|&(p, _)| cfg.ports[p].rx_descriptors)
            .collect(),
        tsc_hz: hz,
    })
}

/// Builds the forwarding plan from the config and the started ports.
fn build_plan(cfg: &Config, ports: &[Port]) -> Result<Plan, RunError> {
    let infos: Vec<PortInfo> = ports
        .iter()
        .zip(&cfg.ports)
        .map(|(p, pc)| PortInfo {
            mac: MacAddr(p.mac()),
            mtu: pc.mtu,
        })
        .collect();
    let index_of = |name: &str| cfg.ports.iter().position(|p| p.name == name);
    let socket = lcore::socket_of(cfg.workers.lcores[0]);
    let mode = match cfg.forward.mode {
        ForwardMode::L3 => {
            let routes = RouteTable::new(
                cfg.forward
                    .routes
                    .iter()
                    .filter_map(|r| index_of(&r.port).map(|p| (r.prefix, p, r.next_hop_mac))),
            )
            .map_err(|e| RunError::Plan(e.to_string()))?;
            Mode::L3(L3Tables::build(&routes, socket)?)
        }
        ForwardMode::L2 => {
            let entries = cfg.forward.l2.iter().filter_map(|x| {
                let input = index_of(&x.input)?;
                let output = index_of(&x.output)?;
                let src = match x.src_mac {
                    None => None,
                    Some(SrcMac::Port) => Some(infos[output].mac),
                    Some(SrcMac::Mac(m)) => Some(m),
                };
                Some((input, output, x.dst_mac, src))
            });
            Mode::L2(Box::new(
                XconnectTable::new(entries).map_err(|e| RunError::Plan(e.to_string()))?,
            ))
        }
    };
    let max_id = ports.iter().map(|p| usize::from(p.id())).max().unwrap_or(0);
    let mut index_by_port_id = vec![None; max_id + 1];
    for (i, p) in ports.iter().enumerate() {
        index_by_port_id[usize::from(p.id())] = Some(i);
    }
    Ok(Plan {
        mode,
        index_by_port_id,
        ports: infos,
        verify_ipv4_checksum: cfg.forward.verify_ipv4_checksum,
    })
}

/// The main lcore's loop: signals, stop conditions, the live stats line.
fn supervise(_cfg: &Config, opts: &RunOptions, r: &Running) {
    let obs = &r.observer;
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
                    eprintln!("napifwd: {sig:?}: stopping");
                    return;
                }
                os::Signal::Hangup => {
                    eprintln!("napifwd: SIGHUP: live reload is not supported yet; restart to apply config changes");
                }
            }
        }
        let now = Instant::now();
        if opts
            .duration
            .is_some_and(|d| now.duration_since(obs.started) >= d)
        {
            return;
        }
        let rx = obs.rx_packets();
        if rx != last_rx {
            last_rx = rx;
            last_rx_change = now;
        } else if opts
            .until_idle
            .is_some_and(|d| now.duration_since(last_rx_change) >= d)
        {
            return;
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
    for l in r.lcores {
        let lc = l.lcore();
        let rc = l.wait();
        if rc != 0 {
            eprintln!("napifwd: worker on lcore {lc} exited with {rc}");
        }
    }
    r.observer.report().map_err(RunError::from)
}

/// Read-only access to a running appliance's counters, from any thread:
/// the final report, the live stats line, `/status` and `/metrics` all come
/// from [`Observer::report`], so they cannot disagree.
#[derive(Debug)]
pub struct Observer {
    port_names: Vec<String>,
    ports: Vec<Port>,
    pools: Vec<(String, Mempool, u32)>,
    worker_lcores: Vec<u32>,
    counters: Vec<Arc<WorkerCounters>>,
    /// Producer handles of the backlogs, only to count what they hold.
    backlogs: Vec<RingProducer>,
    /// `overload.policy`, for the report.
    policy: OverloadPolicy,
    /// Each worker's filter rule counters.
    filter_counters: Vec<Arc<FilterCounters>>,
    started: Instant,
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
        let mut overload = OverloadStats {
            policy: self.policy.as_str().to_owned(),
            workers_overloaded: workers.iter().filter(|w| w.overloaded).count(),
            rules: Vec::new(),
        };
        if self.policy == OverloadPolicy::Filter {
            if let Some(first) = self.filter_counters.first() {
                overload.rules = first
                    .names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| RuleStats {
                        name: name.clone(),
                        matched: self
                            .filter_counters
                            .iter()
                            .map(|f| f.rules[i].matched.get())
                            .sum(),
                        dropped: self
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
