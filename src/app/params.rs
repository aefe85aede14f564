//! Worker parameters derived from a config: the forwarding plan, NAPI
//! budgets, steering, overload policy, freeing. Built at start and again
//! on every reload, from the same functions, so a reloaded worker is set up
//! exactly like a freshly started one.

use std::sync::Arc;
use std::time::Duration;

use super::RunError;
use crate::config::{Config, FilterWhen, ForwardMode, IdleMode, OverloadPolicy, RpsHash, SrcMac};
use crate::dpdk::{cycles, lcore, os, BpfProgram, Port, RingProducer};
use crate::fwd::l2::XconnectTable;
use crate::fwd::route::RouteTable;
use crate::napi::NapiBudget;
use crate::overload::{FilterCounters, RuleFilter, Thresholds};
use crate::plan::{L3Tables, Mode, Plan, PortInfo};
use crate::rps::RpsMap;
use crate::stats::WorkerCounters;
use crate::wire::MacAddr;
use crate::worker::{
    FreeParams, HashSource, Idle, OverloadSetup, PacketFilter, Steering, WorkerControl,
};

/// What is fixed at start and needed to build worker parameters.
#[derive(Debug)]
pub(super) struct Fixed {
    /// The started ports (their MACs go into the plan).
    pub ports: Vec<Port>,
    /// Every worker's backlog ring (producer end), when RPS is on.
    pub backlogs: Vec<Option<RingProducer>>,
    /// Capacity of each backlog ring: the most `rps.max_backlog` can be
    /// raised to without a restart.
    pub backlog_capacity: u32,
    /// Every worker's control block.
    pub controls: Vec<Arc<WorkerControl>>,
    /// Every worker's counters.
    pub counters: Vec<Arc<WorkerCounters>>,
}

/// Parameters shared by all workers for one config.
#[derive(Debug)]
pub(super) struct Shared {
    pub plan: Arc<Plan>,
    pub bpf: Option<Arc<BpfProgram>>,
    pub sched: Option<os::SchedClass>,
}

/// One worker's parameters for one config.
#[derive(Debug)]
pub(super) struct Params {
    pub budget: NapiBudget,
    pub idle: Idle,
    pub steering: Option<Steering>,
    pub overload: Option<OverloadSetup>,
    pub free: FreeParams,
    pub per_packet_cycles: u64,
    /// `forward.tx_drain_us` in TSC ticks.
    pub tx_drain_ticks: u64,
}

/// Builds what all workers share: checks SCHED_FIFO permission, loads
/// the BPF object, builds the plan — or reuses `plan` when given (a reload
/// that leaves `[forward]` alone: rte_lpm's tables take 64 MiB, and two
/// sets must fit in DPDK memory while a reload swaps them).
pub(super) fn shared(
    cfg: &Config,
    fixed: &Fixed,
    plan: Option<Arc<Plan>>,
) -> Result<Shared, RunError> {
    let plan = match plan {
        Some(p) => p,
        None => Arc::new(build_plan(cfg, &fixed.ports)?),
    };
    Ok(Shared {
        sched: sched_class(cfg)?,
        bpf: load_bpf(cfg)?,
        plan,
    })
}

/// Builds one worker's parameters; `rx` are the (port, queue) pairs it polls.
pub(super) fn params(
    cfg: &Config,
    fixed: &Fixed,
    shared: &Shared,
    rx: &[(usize, u16)],
    filter_counters: Arc<FilterCounters>,
) -> Params {
    let steering = rps_worker_ids(cfg).and_then(|map_workers| {
        Some(Steering {
            map: RpsMap::new(map_workers)?,
            backlogs: fixed.backlogs.clone(),
            peers: fixed.controls.clone(),
            hash: match cfg.rps.hash {
                RpsHash::Auto => HashSource::Auto,
                RpsHash::Software => HashSource::Software,
            },
            symmetric: cfg.rps.symmetric,
            local_fast_path: cfg.rps.local_fast_path,
            flow_limit: cfg.rps.flow_limit.then_some(cfg.rps.flow_limit_table_len),
            max_backlog: cfg.rps.max_backlog.min(fixed.backlog_capacity),
            peer_counters: fixed.counters.clone(),
            adaptive: cfg.rps.adaptive,
            balance: cfg.rps.balance,
        })
    });
    Params {
        budget: NapiBudget {
            weight: cfg.napi.weight,
            backlog_weight: cfg.napi.backlog_weight,
            budget: cfg.napi.budget,
            budget_ticks: cycles::us_to_tsc(u64::from(cfg.napi.budget_us)),
        },
        idle: match cfg.napi.idle {
            IdleMode::Poll => Idle::Poll,
            IdleMode::Park => Idle::Park {
                after_rounds: cfg.napi.park_after_rounds,
                max_sleep: Duration::from_micros(u64::from(cfg.napi.max_sleep_us)),
            },
        },
        steering,
        overload: overload_setup(cfg, rx, shared.bpf.clone(), filter_counters),
        free: FreeParams {
            mode: cfg.free.mode,
            defer_max: cfg.free.defer_max,
            max_age_ticks: cycles::us_to_tsc(cfg.free.max_age_us),
        },
        per_packet_cycles: cfg.bench.per_packet_cycles,
        tx_drain_ticks: cycles::us_to_tsc(u64::from(cfg.forward.tx_drain_us)),
    }
}

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

/// The scheduling class workers run in: SCHED_FIFO for the demote policy
/// (at `overload.demote.fifo_priority`) or when `workers.fifo_priority` is
/// set. Checked here, on the main thread, so that a missing permission
/// fails `run` at start with the fix instead of leaving a worker behind.
pub(super) fn sched_class(cfg: &Config) -> Result<Option<os::SchedClass>, RunError> {
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
pub(super) fn load_bpf(cfg: &Config) -> Result<Option<Arc<BpfProgram>>, RunError> {
    let f = &cfg.overload.filter;
    if cfg.overload.policy != OverloadPolicy::Filter || f.bpf_object.is_empty() {
        return Ok(None);
    }
    let (path, section) = f.bpf_path_and_section();
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
pub(super) fn build_plan(cfg: &Config, ports: &[Port]) -> Result<Plan, RunError> {
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
