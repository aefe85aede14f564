//! Semantic validation: what serde cannot see. Every rule reports under the
//! key path it is about and says how to fix it; all problems are collected,
//! so one `napifwd check-config` run lists everything wrong with a file.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use super::eal::{is_pci, is_vdev, parse_lcore_set, pci_address, port_device_name};
use super::error::ConfigError;
use super::types::*;
use crate::wire::{IpPrefix, MacAddr};

/// `ports[].rx_queues` upper bound.
pub const MAX_RX_QUEUES: u16 = 64;
/// `ports[].rx_descriptors` / `tx_descriptors` bounds (powers of two).
pub const MIN_DESCRIPTORS: u16 = 64;
/// See [`MIN_DESCRIPTORS`].
pub const MAX_DESCRIPTORS: u16 = 32768;
/// `ports[].mtu` lower bound: the smallest MTU IPv4 allows (RFC 791).
pub const MIN_MTU: u16 = 68;
/// `ports[].mtu` upper bound: common jumbo-frame limit of DPDK PMDs.
pub const MAX_MTU: u16 = 9600;
/// `napi.weight` / `napi.backlog_weight` upper bound.
pub const MAX_WEIGHT: u32 = 4096;
/// Longest rps map: entries are shares, and 256 is finer than any useful
/// split (the kernel's map is bounded by the CPU count).
pub const MAX_RPS_MAP_LEN: usize = 256;
/// SCHED_FIFO priority range (`sched_get_priority_min/max`).
pub const FIFO_PRIORITIES: std::ops::RangeInclusive<i32> = 1..=99;
/// Largest DSCP value (6 bits).
pub const MAX_DSCP: u8 = 63;
/// The smallest EtherType; values below are 802.3 lengths.
pub const MIN_ETHERTYPE: u16 = 0x0600;

/// EAL options [`eal_args`](super::eal_args) derives from config keys, and
/// the key to set instead: given again in `eal.args` they would contradict
/// the config (DPDK rejects `-m` with `--socket-mem`, `--in-memory` with
/// `--no-huge`, ...).
const MANAGED_EAL_OPTIONS: &[(&str, &str)] = &[
    ("-l", "eal.lcores"),
    ("--lcores", "eal.lcores"),
    ("-c", "eal.lcores"),
    ("--main-lcore", "eal.main_lcore"),
    ("--master-lcore", "eal.main_lcore"),
    ("--no-huge", "eal.no_huge"),
    ("-m", "eal.memory_mb"),
    ("--socket-mem", "eal.memory_mb"),
    ("--in-memory", "eal.in_memory"),
    ("--file-prefix", "eal.file_prefix"),
    ("--iova-mode", "eal.iova_mode"),
];

/// The managed option `arg` spells, if any: `--opt`, `--opt=V`, `-x`, `-xV`.
fn managed_eal_option(arg: &str) -> Option<(&'static str, &'static str)> {
    MANAGED_EAL_OPTIONS.iter().copied().find(|(opt, _)| {
        if opt.starts_with("--") {
            arg == *opt || arg.strip_prefix(opt).is_some_and(|v| v.starts_with('='))
        } else {
            !arg.starts_with("--") && arg.starts_with(opt)
        }
    })
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// TCP flag names in header bit order (FIN = bit 0 ... CWR = bit 7).
pub const TCP_FLAG_NAMES: [&str; 8] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"];

/// A parsed `tcp_flags` match: a packet matches when every bit of
/// `must_set` is set and every bit of `must_clear` is clear in its flags byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags {
    /// Flags named plainly (`"syn"`).
    pub must_set: u8,
    /// Flags named with `!` (`"!ack"`).
    pub must_clear: u8,
}

impl TcpFlags {
    /// True when the TCP flags byte `flags` matches.
    pub const fn matches(self, flags: u8) -> bool {
        flags & self.must_set == self.must_set && flags & self.must_clear == 0
    }
}

/// Parses a `tcp_flags` match such as `"syn"` or `"syn,!ack"`: a comma
/// separated list of fin, syn, rst, psh, ack, urg, ece, cwr, each optionally
/// prefixed by `!` (must be clear). Case and blanks around items are ignored.
pub fn parse_tcp_flags(s: &str) -> Result<TcpFlags, String> {
    let mut out = TcpFlags::default();
    for item in s.split(',') {
        let item = item.trim();
        let (negated, name) = match item.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, item),
        };
        let bit = TCP_FLAG_NAMES
            .iter()
            .position(|f| f.eq_ignore_ascii_case(name))
            .map(|i| 1u8 << i)
            .ok_or_else(|| {
                if item.is_empty() {
                    format!("empty item in tcp_flags {s:?}: write flags like \"syn,!ack\"")
                } else {
                    format!(
                        "unknown TCP flag {name:?} in {s:?}: use {} (each optionally prefixed by '!')",
                        TCP_FLAG_NAMES.join(", ")
                    )
                }
            })?;
        if (out.must_set | out.must_clear) & bit != 0 {
            return Err(format!(
                "TCP flag {name:?} appears twice in {s:?}: name each flag once"
            ));
        }
        if negated {
            out.must_clear |= bit;
        } else {
            out.must_set |= bit;
        }
    }
    Ok(out)
}

/// Checks everything serde cannot. The errors have no line numbers (see
/// [`parse`](super::parse), which adds them); an empty vector means valid.
pub fn validate(cfg: &Config) -> Vec<ConfigError> {
    let mut v = Validator::default();
    let eal_lcores = v.eal(&cfg.eal);
    v.ports(&cfg.ports);
    v.workers(cfg, eal_lcores.as_ref());
    v.napi(&cfg.napi);
    v.rps(cfg);
    v.forward(cfg);
    v.overload(&cfg.overload);
    v.free(&cfg.free);
    v.metrics(&cfg.metrics);
    v.bench(&cfg.bench);
    v.errors
}

#[derive(Default)]
struct Validator {
    errors: Vec<ConfigError>,
}

/// "1, 2, 3"
fn list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn known_ports(cfg: &Config) -> String {
    if cfg.ports.is_empty() {
        "no ports are defined: add a [[ports]] section".to_owned()
    } else {
        format!(
            "known ports: {}",
            list(cfg.ports.iter().map(|p| p.name.as_str()))
        )
    }
}

/// The first index of each value, and every later index repeating one.
fn duplicates<T: Eq + std::hash::Hash>(items: impl IntoIterator<Item = T>) -> Vec<(usize, usize)> {
    let mut first = HashMap::new();
    let mut dups = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match first.get(&item) {
            Some(&f) => dups.push((f, i)),
            None => {
                first.insert(item, i);
            }
        }
    }
    dups
}

impl Validator {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }

    /// Returns the lcore set when `eal.lcores` parses.
    fn eal(&mut self, eal: &EalConfig) -> Option<BTreeSet<u32>> {
        let lcores = match parse_lcore_set(&eal.lcores) {
            Ok(set) => Some(set),
            Err(e) => {
                self.err("eal.lcores", e);
                None
            }
        };
        if let Some(set) = &lcores {
            if !set.contains(&eal.main_lcore) {
                self.err(
                    "eal.main_lcore",
                    format!(
                        "main lcore {} is not in eal.lcores {:?}: add it there or pick one of {}",
                        eal.main_lcore,
                        eal.lcores,
                        list(set)
                    ),
                );
            }
        }
        if eal.memory_mb == 0 {
            self.err(
                "eal.memory_mb",
                format!("must be at least 1 (MiB for DPDK's heap), e.g. {DEFAULT_MEMORY_MB}"),
            );
        }
        if eal.no_huge && eal.iova_mode == IovaMode::Pa {
            self.err(
                "eal.iova_mode",
                "\"pa\" needs hugepages (anonymous memory has no usable physical addresses): \
                 set eal.no_huge = false or iova_mode = \"va\"",
            );
        }
        for (i, arg) in eal.args.iter().enumerate() {
            if let Some((opt, key)) = managed_eal_option(arg) {
                self.err(
                    format!("eal.args[{i}]"),
                    format!(
                        "{opt} is set from {key}: remove {arg:?} from eal.args and set {key} instead"
                    ),
                );
            }
        }
        if !eal.in_memory && eal.file_prefix.is_empty() {
            self.err(
                "eal.file_prefix",
                format!(
                    "empty: set a prefix for DPDK's runtime files, e.g. \"{DEFAULT_FILE_PREFIX}\", \
                     or in_memory = true"
                ),
            );
        }
        lcores
    }

    fn ports(&mut self, ports: &[PortConfig]) {
        if ports.is_empty() {
            self.err(
                "ports",
                "no ports: add a [[ports]] section with a name and a device, e.g. \
                 name = \"wan\" and device = \"net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap\"",
            );
        }
        for (i, p) in ports.iter().enumerate() {
            let at = |key: &str| format!("ports[{i}].{key}");
            if p.name.is_empty() {
                self.err(
                    at("name"),
                    "missing: give the port a name other sections can refer to, e.g. name = \"wan\"",
                );
            }
            if p.device.is_empty() {
                self.err(
                    at("device"),
                    "missing: set a vdev spec (e.g. \"net_pcap0,rx_pcap=in.pcap\") \
                     or a PCI address (e.g. \"0000:03:00.0\")",
                );
            } else if !is_vdev(&p.device) && !is_pci(&p.device) && !p.device.contains(':') {
                let name = port_device_name(&p.device);
                self.err(
                    at("device"),
                    format!(
                        "{name:?} is neither a DPDK vdev nor a PCI address: for a kernel \
                         interface use \"net_af_packet0,iface={name}\"; for a NIC use its PCI \
                         address (e.g. \"0000:03:00.0\", see `dpdk-devbind.py --status`)"
                    ),
                );
            }
            if !(1..=MAX_RX_QUEUES).contains(&p.rx_queues) {
                self.err(
                    at("rx_queues"),
                    format!("{} is out of range: use 1..={MAX_RX_QUEUES}", p.rx_queues),
                );
            }
            for (key, n) in [
                ("rx_descriptors", p.rx_descriptors),
                ("tx_descriptors", p.tx_descriptors),
            ] {
                if !(n.is_power_of_two() && (MIN_DESCRIPTORS..=MAX_DESCRIPTORS).contains(&n)) {
                    let hint = n
                        .clamp(MIN_DESCRIPTORS, MAX_DESCRIPTORS)
                        .checked_next_power_of_two()
                        .unwrap_or(MAX_DESCRIPTORS);
                    self.err(
                        at(key),
                        format!(
                            "{n} is not a power of two in {MIN_DESCRIPTORS}..={MAX_DESCRIPTORS}: \
                             try {hint}"
                        ),
                    );
                }
            }
            if !(MIN_MTU..=MAX_MTU).contains(&p.mtu) {
                self.err(
                    at("mtu"),
                    format!("{} is out of range: use {MIN_MTU}..={MAX_MTU}", p.mtu),
                );
            }
            if let Some(mac) = p.mac {
                self.unicast(at("mac"), mac, "a port MAC");
            }
        }
        for (f, i) in duplicates(ports.iter().map(|p| p.name.as_str())) {
            if ports[i].name.is_empty() {
                continue; // already reported as missing
            }
            self.err(
                format!("ports[{i}].name"),
                format!(
                    "port name {:?} is already used by ports[{f}]: port names must be unique",
                    ports[i].name
                ),
            );
        }
        let device_key = |d: &str| match pci_address(d) {
            Some(pci) => format!("pci:{pci:?}"),
            None => port_device_name(d).to_owned(),
        };
        for (f, i) in duplicates(ports.iter().map(|p| device_key(&p.device))) {
            if ports[i].device.is_empty() {
                continue;
            }
            self.err(
                format!("ports[{i}].device"),
                format!(
                    "device {:?} is already used by ports[{f}] ({:?}): each port needs its own \
                     device; number vdevs apart, e.g. net_null0 and net_null1",
                    port_device_name(&ports[i].device),
                    ports[f].name
                ),
            );
        }
    }

    fn unicast(&mut self, path: String, mac: MacAddr, what: &str) {
        if mac.is_multicast() {
            self.err(
                path,
                format!(
                    "{mac} is a multicast address; {what} must be unicast (the first octet \
                     must be even, e.g. 02:...)"
                ),
            );
        }
    }

    fn workers(&mut self, cfg: &Config, eal_lcores: Option<&BTreeSet<u32>>) {
        let main = cfg.eal.main_lcore;
        let lcores = &cfg.workers.lcores;
        // eal.lcores not yet taken by the main lcore or another worker.
        let free: Vec<u32> = eal_lcores
            .map(|s| {
                s.iter()
                    .copied()
                    .filter(|&l| l != main && !lcores.contains(&l))
                    .collect()
            })
            .unwrap_or_default();
        let suggestion = if free.is_empty() {
            "add an lcore to eal.lcores for it".to_owned()
        } else {
            format!("use one of {}", list(&free))
        };
        if lcores.is_empty() {
            self.err(
                "workers.lcores",
                format!(
                    "no workers: list the lcores to run workers on ({suggestion}), e.g. lcores = [{}]",
                    free.first().copied().unwrap_or(main.saturating_add(1))
                ),
            );
        }
        let dups: BTreeSet<usize> = duplicates(lcores).into_iter().map(|(_, i)| i).collect();
        for (i, &l) in lcores.iter().enumerate() {
            let path = format!("workers.lcores[{i}]");
            if dups.contains(&i) {
                self.err(
                    path,
                    format!("lcore {l} listed twice: remove one (an lcore runs one worker)"),
                );
            } else if l == main {
                self.err(
                    path,
                    format!(
                        "lcore {l} is the main lcore (eal.main_lcore), which runs the control \
                         plane: {suggestion}"
                    ),
                );
            } else if let Some(set) = eal_lcores {
                if !set.contains(&l) {
                    self.err(
                        path,
                        format!(
                            "lcore {l} is not in eal.lcores {:?}: add it there or {suggestion}",
                            cfg.eal.lcores
                        ),
                    );
                }
            }
        }
        let prio = cfg.workers.fifo_priority;
        if prio != 0 && !FIFO_PRIORITIES.contains(&prio) {
            self.err(
                "workers.fifo_priority",
                format!(
                    "{prio} is not a SCHED_FIFO priority: use {}..={}, or 0 for SCHED_OTHER",
                    FIFO_PRIORITIES.start(),
                    FIFO_PRIORITIES.end()
                ),
            );
        }
        let mut pinned = BTreeSet::new();
        for (i, a) in cfg.workers.rx.iter().enumerate() {
            let path = format!("workers.rx[{i}]");
            match cfg.ports.iter().find(|p| p.name == a.port) {
                None => self.err(
                    format!("{path}.port"),
                    format!("unknown port {:?} ({})", a.port, known_ports(cfg)),
                ),
                Some(p) if a.queue >= p.rx_queues => self.err(
                    format!("{path}.queue"),
                    format!(
                        "port {:?} has {} RX queue(s) (ports.rx_queues): use 0..={}",
                        a.port,
                        p.rx_queues,
                        p.rx_queues.saturating_sub(1)
                    ),
                ),
                Some(_) => {
                    if !pinned.insert((a.port.as_str(), a.queue)) {
                        self.err(
                            path.clone(),
                            format!(
                                "RX queue {} of port {:?} is assigned twice: one worker polls a queue",
                                a.queue, a.port
                            ),
                        );
                    }
                }
            }
            if !lcores.contains(&a.lcore) {
                self.err(
                    format!("{path}.lcore"),
                    format!(
                        "lcore {} runs no worker: use one of workers.lcores {:?}",
                        a.lcore, lcores
                    ),
                );
            }
        }
    }

    fn napi(&mut self, napi: &NapiConfig) {
        for (key, n, max) in [
            ("weight", napi.weight, Some(MAX_WEIGHT)),
            ("budget", napi.budget, None),
            ("budget_us", napi.budget_us, None),
            ("backlog_weight", napi.backlog_weight, Some(MAX_WEIGHT)),
        ] {
            let path = format!("napi.{key}");
            match max {
                Some(max) if !(1..=max).contains(&n) => {
                    self.err(path, format!("{n} is out of range: use 1..={max}"))
                }
                None if n == 0 => self.err(path, "0 would never poll anything: use at least 1"),
                _ => {}
            }
        }
        if napi.idle == IdleMode::Park {
            if napi.park_after_rounds == 0 {
                self.err(
                    "napi.park_after_rounds",
                    format!(
                        "0 would park before polling once: use at least 1, e.g. {DEFAULT_PARK_AFTER_ROUNDS}"
                    ),
                );
            }
            if napi.max_sleep_us == 0 {
                self.err(
                    "napi.max_sleep_us",
                    format!(
                        "0 would never park: use at least 1, e.g. {DEFAULT_MAX_SLEEP_US}, \
                         or idle = \"poll\""
                    ),
                );
            }
        }
    }

    fn rps(&mut self, cfg: &Config) {
        let rps = &cfg.rps;
        // A worker may appear more than once: the map is a list, as the
        // kernel's `struct rps_map` is, and `reciprocal_scale` picks an
        // entry, so each entry is an equal share of the flows (a weight).
        if rps.workers.len() > MAX_RPS_MAP_LEN {
            self.err(
                "rps.workers",
                format!(
                    "{} entries: at most {MAX_RPS_MAP_LEN} (list a worker n times for n shares)",
                    rps.workers.len()
                ),
            );
        }
        for (i, &l) in rps.workers.iter().enumerate() {
            if !cfg.workers.lcores.contains(&l) {
                self.err(
                    format!("rps.workers[{i}]"),
                    format!(
                        "lcore {l} is not a worker (workers.lcores = [{}]): list worker lcores \
                         only, or leave rps.workers empty for all workers",
                        list(&cfg.workers.lcores)
                    ),
                );
            }
        }
        if rps.max_backlog == 0 {
            self.err(
                "rps.max_backlog",
                format!(
                    "0 would drop every steered packet: use at least 1, e.g. {DEFAULT_MAX_BACKLOG}"
                ),
            );
        }
        if rps.balance && !rps.local_fast_path {
            self.err(
                "rps.balance",
                "balancing moves flows onto the RX worker, which needs rps.local_fast_path = true \
                 (flows kept are forwarded inline)",
            );
        }
        if !rps.flow_limit_table_len.is_power_of_two() {
            let hint = rps
                .flow_limit_table_len
                .checked_next_power_of_two()
                .unwrap_or(DEFAULT_FLOW_LIMIT_TABLE_LEN)
                .max(1);
            self.err(
                "rps.flow_limit_table_len",
                format!(
                    "{} is not a power of two: try {hint}",
                    rps.flow_limit_table_len
                ),
            );
        }
    }

    fn forward(&mut self, cfg: &Config) {
        let fwd = &cfg.forward;
        let port_exists = |name: &str| cfg.ports.iter().any(|p| p.name == name);
        let unknown_port = |v: &mut Self, path: String, name: &str| {
            if !port_exists(name) {
                v.err(
                    path,
                    format!("unknown port {name:?} ({})", known_ports(cfg)),
                );
            }
        };
        match fwd.mode {
            ForwardMode::L2 => {
                if fwd.l2.is_empty() {
                    self.err(
                        "forward.l2",
                        format!(
                            "l2 mode needs at least one [[forward.l2]] cross-connect with input and \
                             output ports ({})",
                            known_ports(cfg)
                        ),
                    );
                }
                if !fwd.routes.is_empty() {
                    self.err(
                        "forward.routes",
                        format!(
                            "{} route(s) are ignored in l2 mode: remove them or set forward.mode = \"l3\"",
                            fwd.routes.len()
                        ),
                    );
                }
            }
            ForwardMode::L3 => {
                if fwd.routes.is_empty() {
                    self.err(
                        "forward.routes",
                        "l3 mode needs at least one [[forward.routes]] with prefix, port and \
                         next_hop_mac (for a default route use prefix = \"0.0.0.0/0\" or \"::/0\")",
                    );
                }
                if !fwd.l2.is_empty() {
                    self.err(
                        "forward.l2",
                        format!(
                            "{} cross-connect(s) are ignored in l3 mode: remove them or set \
                             forward.mode = \"l2\"",
                            fwd.l2.len()
                        ),
                    );
                }
            }
        }
        for (i, x) in fwd.l2.iter().enumerate() {
            unknown_port(self, format!("forward.l2[{i}].input"), &x.input);
            unknown_port(self, format!("forward.l2[{i}].output"), &x.output);
            if let Some(SrcMac::Mac(mac)) = x.src_mac {
                self.unicast(format!("forward.l2[{i}].src_mac"), mac, "a source MAC");
            }
        }
        for (f, i) in duplicates(fwd.l2.iter().map(|x| x.input.as_str())) {
            self.err(
                format!("forward.l2[{i}].input"),
                format!(
                    "port {:?} is already the input of forward.l2[{f}]: a port feeds one \
                     cross-connect; remove one of them",
                    fwd.l2[i].input
                ),
            );
        }
        for (i, r) in fwd.routes.iter().enumerate() {
            unknown_port(self, format!("forward.routes[{i}].port"), &r.port);
        }
        for (f, i) in duplicates(fwd.routes.iter().map(|r| r.prefix)) {
            self.err(
                format!("forward.routes[{i}].prefix"),
                format!(
                    "prefix {} is routed twice, by forward.routes[{f}] and forward.routes[{i}]: \
                     remove one",
                    fwd.routes[i].prefix
                ),
            );
        }
    }

    fn overload(&mut self, o: &OverloadConfig) {
        let (low, high) = (o.low_watermark, o.high_watermark);
        let high_ok = high > 0.0 && high <= 1.0;
        let low_ok = low > 0.0 && low <= 1.0;
        if !high_ok {
            self.err(
                "overload.high_watermark",
                format!(
                    "{high} is not a queue fill fraction in (0, 1]: e.g. {DEFAULT_HIGH_WATERMARK}"
                ),
            );
        }
        if !low_ok {
            self.err(
                "overload.low_watermark",
                format!(
                    "{low} is not a queue fill fraction in (0, 1]: e.g. {DEFAULT_LOW_WATERMARK}"
                ),
            );
        }
        if high_ok && low_ok && low >= high {
            self.err(
                "overload.low_watermark",
                format!(
                    "{low} must be below high_watermark {high} (the gap is the hysteresis): \
                     lower low_watermark or raise high_watermark"
                ),
            );
        }
        if !FIFO_PRIORITIES.contains(&o.demote.fifo_priority) {
            self.err(
                "overload.demote.fifo_priority",
                format!(
                    "{} is not a SCHED_FIFO priority: use {}..={}",
                    o.demote.fifo_priority,
                    FIFO_PRIORITIES.start(),
                    FIFO_PRIORITIES.end()
                ),
            );
        }
        let f = &o.filter;
        if f.default_action == RuleAction::RateLimit {
            self.err(
                "overload.filter.default_action",
                "\"rate_limit\" needs a rate: use \"pass\" or \"drop\" here and add a last rule \
                 with action = \"rate_limit\" and pps = N that matches everything",
            );
        }
        if !f.bpf_object.is_empty() && !f.rules.is_empty() {
            self.err(
                "overload.filter.bpf_object",
                "set either bpf_object or [[overload.filter.rules]], not both: the eBPF \
                 program decides alone when it is given",
            );
        }
        let (bpf_path, _) = f.bpf_path_and_section();
        if !f.bpf_object.is_empty() && !std::path::Path::new(bpf_path).is_file() {
            self.err(
                "overload.filter.bpf_object",
                format!(
                    "{bpf_path:?} is not a readable file: build it with `clang -O2 -target bpf -c \
                     prog.c -o prog.o` (see conf/overload-filter-bpf.c)"
                ),
            );
        }
        if o.policy == OverloadPolicy::Filter
            && f.rules.is_empty()
            && f.bpf_object.is_empty()
            && f.default_action == RuleAction::Pass
        {
            self.err(
                "overload.filter",
                "policy \"filter\" with no rules, no bpf_object and default_action \"pass\" \
                 filters nothing: add [[overload.filter.rules]] or choose another policy",
            );
        }
        for (i, rule) in f.rules.iter().enumerate() {
            self.filter_rule(&format!("overload.filter.rules[{i}]"), rule);
        }
        for (first, i) in duplicates(f.rules.iter().map(|r| r.name.as_str())) {
            if f.rules[i].name.is_empty() {
                continue;
            }
            self.err(
                format!("overload.filter.rules[{i}].name"),
                format!(
                    "rule name {:?} is already used by overload.filter.rules[{first}]: names \
                     must be unique",
                    f.rules[i].name
                ),
            );
        }
    }

    fn filter_rule(&mut self, at: &str, r: &FilterRule) {
        let path = |key: &str| format!("{at}.{key}");
        if r.name.is_empty() {
            self.err(
                path("name"),
                "missing: give the rule a name (its counters use it), e.g. name = \"keep-bgp\"",
            );
        }
        if let Some(e) = r.ethertype {
            if e < MIN_ETHERTYPE {
                self.err(
                    path("ethertype"),
                    format!(
                        "{e:#06x} is an 802.3 length, not an EtherType: use e.g. 0x0800 (IPv4), \
                         0x86dd (IPv6), 0x0806 (ARP)"
                    ),
                );
            }
        }
        if let Some(d) = r.dscp {
            if d > MAX_DSCP {
                self.err(
                    path("dscp"),
                    format!("{d} is out of range: DSCP is 0..={MAX_DSCP}"),
                );
            }
        }
        if let Some(flags) = &r.tcp_flags {
            if let Err(e) = parse_tcp_flags(flags) {
                self.err(path("tcp_flags"), e);
            }
            if let Some(p) = r.proto.filter(|&p| p != IpProto::Tcp) {
                self.err(
                    path("tcp_flags"),
                    format!("tcp_flags only match TCP, but proto is \"{p}\": remove tcp_flags or set proto = \"tcp\""),
                );
            }
        }
        if let Some(p) = r.proto.filter(|p| !p.has_ports()) {
            for (key, port) in [("src_port", r.src_port), ("dst_port", r.dst_port)] {
                if port.is_some() {
                    self.err(
                        path(key),
                        format!(
                            "proto \"{p}\" has no ports: remove {key} or match proto \"tcp\" or \"udp\""
                        ),
                    );
                }
            }
        }
        self.rule_family(at, r);
        match r.action {
            RuleAction::RateLimit => {
                match r.pps {
                    None => self.err(
                        path("pps"),
                        "action \"rate_limit\" needs pps = N (packets per second, at least 1)",
                    ),
                    Some(0) => self.err(
                        path("pps"),
                        "0 packets per second is a drop: use at least 1, or action = \"drop\"",
                    ),
                    Some(_) => {}
                }
                if r.burst == Some(0) {
                    self.err(
                        path("burst"),
                        "0 would drop every packet: use at least 1, or leave it out to default to pps",
                    );
                }
            }
            RuleAction::Pass | RuleAction::Drop => {
                for (key, v) in [("pps", r.pps), ("burst", r.burst)] {
                    if v.is_some() {
                        self.err(
                            path(key),
                            format!(
                                "{key} is only used with action = \"rate_limit\": remove it or \
                                 change the action"
                            ),
                        );
                    }
                }
            }
        }
    }

    /// A rule whose fields imply different IP versions can never match.
    fn rule_family(&mut self, at: &str, r: &FilterRule) {
        let mut implied: Vec<(&str, bool)> = Vec::new(); // (key, is_ipv4)
        match r.ethertype {
            Some(ETHERTYPE_IPV4) => implied.push(("ethertype", true)),
            Some(ETHERTYPE_IPV6) => implied.push(("ethertype", false)),
            Some(e) if e >= MIN_ETHERTYPE => {
                let ip_key = [
                    ("proto", r.proto.is_some()),
                    ("src", r.src.is_some()),
                    ("dst", r.dst.is_some()),
                    ("src_port", r.src_port.is_some()),
                    ("dst_port", r.dst_port.is_some()),
                    ("dscp", r.dscp.is_some()),
                    ("tcp_flags", r.tcp_flags.is_some()),
                ]
                .into_iter()
                .find(|(_, set)| *set);
                if let Some((key, _)) = ip_key {
                    self.err(
                        format!("{at}.{key}"),
                        format!(
                            "matches an IP field but ethertype {e:#06x} is not IPv4 (0x0800) or \
                             IPv6 (0x86dd), so the rule can never match: remove {key} or the ethertype"
                        ),
                    );
                }
                return;
            }
            _ => {}
        }
        match r.proto {
            Some(IpProto::Icmp) => implied.push(("proto", true)),
            Some(IpProto::Icmpv6) => implied.push(("proto", false)),
            _ => {}
        }
        let family = |p: &IpPrefix| p.is_ipv4();
        if let Some(p) = &r.src {
            implied.push(("src", family(p)));
        }
        if let Some(p) = &r.dst {
            implied.push(("dst", family(p)));
        }
        let name = |v4: bool| if v4 { "IPv4" } else { "IPv6" };
        if let Some(&(first, v4)) = implied.first() {
            if let Some(&(key, _)) = implied.iter().find(|(_, f)| *f != v4) {
                self.err(
                    format!("{at}.{key}"),
                    format!(
                        "{key} is {} but {first} is {}, so the rule can never match: make them \
                         the same IP version (icmp is IPv4's, icmpv6 IPv6's)",
                        name(!v4),
                        name(v4)
                    ),
                );
            }
        }
    }

    fn free(&mut self, free: &FreeConfig) {
        if free.defer_max == 0 {
            self.err(
                "free.defer_max",
                format!("0 is too small: use at least 1, e.g. {DEFAULT_DEFER_MAX}"),
            );
        }
    }

    fn bench(&mut self, b: &BenchConfig) {
        if b.per_packet_cycles > MAX_PER_PACKET_CYCLES {
            self.err(
                "bench.per_packet_cycles",
                format!(
                    "{} cycles per packet is more than {MAX_PER_PACKET_CYCLES} (about 1 ms): \
                     this knob models a heavier pipeline, use 0..={MAX_PER_PACKET_CYCLES}",
                    b.per_packet_cycles
                ),
            );
        }
    }

    fn metrics(&mut self, m: &MetricsConfig) {
        if !m.listen.is_empty() && m.listen.parse::<SocketAddr>().is_err() {
            self.err(
                "metrics.listen",
                format!(
                    "{:?} is not an IP:PORT address: use e.g. \"{DEFAULT_METRICS_LISTEN}\" or \
                     \"[::1]:9469\" (\"\" disables metrics)",
                    m.listen
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use proptest::prelude::*;

    const EAL: &str = "[eal]\nlcores = \"0-2\"\n";
    const PORTS: &str = "[[ports]]\nname = \"wan\"\ndevice = \"net_null0\"\n\n\
                         [[ports]]\nname = \"lan\"\ndevice = \"net_null1\"\n";
    const WORKERS: &str = "[workers]\nlcores = [1, 2]\n";
    const ROUTES: &str = "[[forward.routes]]\nprefix = \"0.0.0.0/0\"\nport = \"lan\"\n\
                          next_hop_mac = \"02:00:00:00:00:02\"\n";

    /// A valid config plus `extra` sections.
    fn base_with(extra: &str) -> String {
        [EAL, PORTS, WORKERS, ROUTES, extra].join("\n")
    }

    /// 1-based line of the first occurrence of `needle`.
    fn line_of(text: &str, needle: &str) -> usize {
        let at = text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in\n{text}"));
        text[..at].matches('\n').count() + 1
    }

    /// `text` fails with exactly one error: at `path`, on the line holding
    /// `needle` (no line when `None`), its message containing `message`.
    #[track_caller]
    fn check(text: &str, path: &str, needle: Option<&str>, message: &str) {
        let errs = match parse(text, "v.toml") {
            Ok(_) => panic!("expected an error at {path}, config is valid:\n{text}"),
            Err(e) => e,
        };
        assert_eq!(errs.len(), 1, "expected one error at {path}, got:\n{errs}");
        check_among(text, path, needle, message);
    }

    /// Like [`check`], but other errors may be reported too.
    #[track_caller]
    fn check_among(text: &str, path: &str, needle: Option<&str>, message: &str) {
        let errs = parse(text, "v.toml").expect_err("config should be invalid");
        let e = errs
            .iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no error at {path}:\n{errs}"));
        assert!(
            e.message.contains(message),
            "{path}: message {:?} lacks {message:?}",
            e.message
        );
        assert_eq!(
            e.line,
            needle.map(|n| line_of(text, n)),
            "{path}: wrong line\n{errs}"
        );
    }

    #[test]
    fn base_is_valid() {
        parse(&base_with(""), "v.toml").unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn eal_rules() {
        let t = [PORTS, WORKERS, ROUTES, "[eal]\nlcores = \"0-\"\n"].join("\n");
        check(
            &t,
            "eal.lcores",
            Some("lcores = \"0-\""),
            "invalid lcore list \"0-\"",
        );

        let t = [
            PORTS,
            WORKERS,
            ROUTES,
            "[eal]\nlcores = \"0-2\"\nmain_lcore = 5\n",
        ]
        .join("\n");
        check(
            &t,
            "eal.main_lcore",
            Some("main_lcore = 5"),
            "main lcore 5 is not in eal.lcores \"0-2\": add it there or pick one of 0, 1, 2",
        );

        let t = [
            PORTS,
            WORKERS,
            ROUTES,
            "[eal]\nlcores = \"0-2\"\nmemory_mb = 0\n",
        ]
        .join("\n");
        check(
            &t,
            "eal.memory_mb",
            Some("memory_mb = 0"),
            "must be at least 1",
        );

        let t = [
            PORTS,
            WORKERS,
            ROUTES,
            "[eal]\nlcores = \"0-2\"\niova_mode = \"pa\"\n",
        ]
        .join("\n");
        check(
            &t,
            "eal.iova_mode",
            Some("iova_mode"),
            "set eal.no_huge = false or iova_mode = \"va\"",
        );
        let t = t.replace("iova_mode", "no_huge = false\niova_mode");
        parse(&t, "v.toml").unwrap_or_else(|e| panic!("{e}"));

        for (arg, opt, key) in [
            ("-l0-3", "-l", "eal.lcores"),
            ("--lcores", "--lcores", "eal.lcores"),
            ("-m", "-m", "eal.memory_mb"),
            ("--socket-mem=512", "--socket-mem", "eal.memory_mb"),
            ("--in-memory", "--in-memory", "eal.in_memory"),
            ("--file-prefix=x", "--file-prefix", "eal.file_prefix"),
        ] {
            let eal = format!("[eal]\nlcores = \"0-2\"\nargs = [\"-n\", {arg:?}]\n");
            check(
                &[PORTS, WORKERS, ROUTES, &eal].join("\n"),
                "eal.args[1]",
                Some("args = "),
                &format!(
                    "{opt} is set from {key}: remove {arg:?} from eal.args and set {key} instead"
                ),
            );
        }
        let ok =
            "[eal]\nlcores = \"0-2\"\nargs = [\"-n\", \"4\", \"--log-level=pmd.net.pcap:debug\", \
                  \"--lcores-extra\", \"--no-telemetry\", \"--vdev\", \"net_ring0\"]\n";
        parse(&[PORTS, WORKERS, ROUTES, ok].join("\n"), "v").unwrap_or_else(|e| panic!("{e}"));

        let t = [
            PORTS,
            WORKERS,
            ROUTES,
            "[eal]\nlcores = \"0-2\"\nin_memory = false\nfile_prefix = \"\"\n",
        ]
        .join("\n");
        check(
            &t,
            "eal.file_prefix",
            Some("file_prefix"),
            "or in_memory = true",
        );
    }

    #[test]
    fn worker_rules() {
        let t = [EAL, PORTS, ROUTES, "[workers]\nlcores = []\n"].join("\n");
        check(
            &t,
            "workers.lcores",
            Some("lcores = []"),
            "no workers: list the lcores to run workers on (use one of 1, 2), e.g. lcores = [1]",
        );

        let t = [EAL, PORTS, ROUTES, "[workers]\nlcores = [1, 2, 1]\n"].join("\n");
        check(
            &t,
            "workers.lcores[2]",
            Some("lcores = [1, 2, 1]"),
            "lcore 1 listed twice",
        );

        let t = [EAL, PORTS, ROUTES, "[workers]\nlcores = [\n  0,\n  1,\n]\n"].join("\n");
        check(
            &t,
            "workers.lcores[0]",
            Some("  0,"),
            "lcore 0 is the main lcore (eal.main_lcore), which runs the control plane: use one of 2",
        );

        let t = [EAL, PORTS, ROUTES, "[workers]\nlcores = [1, 5]\n"].join("\n");
        check(
            &t,
            "workers.lcores[1]",
            Some("lcores = [1, 5]"),
            "lcore 5 is not in eal.lcores \"0-2\": add it there or use one of 2",
        );

        // The default worker (lcore 1) is not in this eal.lcores; the file
        // has no [workers], so there is no line to point at.
        let t = [PORTS, ROUTES, "[eal]\nlcores = \"2-3\"\nmain_lcore = 2\n"].join("\n");
        check(
            &t,
            "workers.lcores[0]",
            None,
            "lcore 1 is not in eal.lcores \"2-3\"",
        );
    }

    #[test]
    fn port_rules() {
        let t = [
            EAL,
            WORKERS,
            "[forward]\nmode = \"l2\"\n[[forward.l2]]\ninput = \"a\"\noutput = \"a\"\n",
        ]
        .join("\n");
        check_among(
            &t,
            "ports",
            None,
            "no ports: add a [[ports]] section with a name and a device",
        );
        check_among(
            &t,
            "forward.l2[0].input",
            Some("input"),
            "unknown port \"a\" (no ports are defined",
        );

        let p = |body: &str| {
            [
                EAL,
                WORKERS,
                ROUTES,
                "[[ports]]\nname = \"lan\"\ndevice = \"net_null1\"\n",
                body,
            ]
            .join("\n")
        };
        check(
            &p("[[ports]] # second\ndevice = \"net_null0\"\n"),
            "ports[1].name",
            Some("[[ports]] # second"),
            "missing: give the port a name",
        );
        check(
            &p("[[ports]]\nname = \"lan\" # again\ndevice = \"net_null0\"\n"),
            "ports[1].name",
            Some("name = \"lan\" # again"),
            "port name \"lan\" is already used by ports[0]",
        );
        check(
            &p("[[ports]] # second\nname = \"wan\"\n"),
            "ports[1].device",
            Some("[[ports]] # second"),
            "missing: set a vdev spec",
        );
        check(
            &p("[[ports]]\nname = \"wan\"\ndevice = \"eth0\"\n"),
            "ports[1].device",
            Some("device = \"eth0\""),
            "use \"net_af_packet0,iface=eth0\"",
        );
        // A bus-qualified name (auxiliary:, vmbus ...) is left to DPDK.
        parse(
            &p("[[ports]]\nname = \"wan\"\ndevice = \"auxiliary:mlx5_core.sf.2\"\n"),
            "v",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        check(
            &p("[[ports]]\nname = \"wan\"\ndevice = \"net_null1,no-rx=1\"\n"),
            "ports[1].device",
            Some("no-rx=1"),
            "device \"net_null1\" is already used by ports[0] (\"lan\"): each port needs its own device",
        );
        let pci = [
            EAL,
            WORKERS,
            ROUTES,
            "[[ports]]\nname = \"lan\"\ndevice = \"03:00.0\"\n\
                   [[ports]]\nname = \"wan\"\ndevice = \"0000:03:00.0\"\n",
        ]
        .join("\n");
        check(
            &pci,
            "ports[1].device",
            Some("\"0000:03:00.0\""),
            "already used by ports[0]",
        );

        for (key, value, message) in [
            ("rx_queues", "0", "0 is out of range: use 1..=64"),
            ("rx_queues", "65", "65 is out of range: use 1..=64"),
            (
                "rx_descriptors",
                "1000",
                "1000 is not a power of two in 64..=32768: try 1024",
            ),
            (
                "tx_descriptors",
                "32",
                "32 is not a power of two in 64..=32768: try 64",
            ),
            ("tx_descriptors", "65535", "try 32768"),
            ("mtu", "67", "67 is out of range: use 68..=9600"),
            ("mtu", "9601", "9601 is out of range: use 68..=9600"),
            (
                "mac",
                "\"01:00:5e:00:00:01\"",
                "01:00:5e:00:00:01 is a multicast address; a port MAC must be unicast",
            ),
        ] {
            let line = format!("{key} = {value}");
            check(
                &p(&format!(
                    "[[ports]]\nname = \"wan\"\ndevice = \"net_null0\"\n{line}\n"
                )),
                &format!("ports[1].{key}"),
                Some(&line),
                message,
            );
        }
        for ok in [
            "mtu = 68",
            "mtu = 9600",
            "rx_descriptors = 64",
            "tx_descriptors = 32768",
            "rx_queues = 64",
        ] {
            parse(
                &p(&format!(
                    "[[ports]]\nname = \"wan\"\ndevice = \"net_null0\"\n{ok}\n"
                )),
                "v",
            )
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn napi_rules() {
        for (line, path, message) in [
            (
                "weight = 0",
                "napi.weight",
                "0 is out of range: use 1..=4096",
            ),
            (
                "weight = 4097",
                "napi.weight",
                "4097 is out of range: use 1..=4096",
            ),
            ("budget = 0", "napi.budget", "use at least 1"),
            ("budget_us = 0", "napi.budget_us", "use at least 1"),
            ("backlog_weight = 0", "napi.backlog_weight", "use 1..=4096"),
            (
                "backlog_weight = 5000",
                "napi.backlog_weight",
                "use 1..=4096",
            ),
            (
                "idle = \"park\"\npark_after_rounds = 0",
                "napi.park_after_rounds",
                "use at least 1, e.g. 64",
            ),
            (
                "idle = \"park\"\nmax_sleep_us = 0",
                "napi.max_sleep_us",
                "or idle = \"poll\"",
            ),
        ] {
            let key = path.trim_start_matches("napi.");
            check(
                &base_with(&format!("[napi]\n{line}\n")),
                path,
                Some(&format!("{key} =")),
                message,
            );
        }
        // Park knobs are only checked when parking.
        parse(
            &base_with("[napi]\npark_after_rounds = 0\nmax_sleep_us = 0\n"),
            "v",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        parse(
            &base_with("[napi]\nweight = 4096\nbacklog_weight = 1\n"),
            "v",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn rps_map_may_weight_a_worker_by_listing_it_again() {
        parse(&base_with("[rps]\nworkers = [1, 2, 2, 2]\n"), "v.toml")
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn rps_rules() {
        check(
            &base_with("[rps]\nworkers = [2, 5]\n"),
            "rps.workers[1]",
            Some("workers = [2, 5]"),
            "lcore 5 is not a worker (workers.lcores = [1, 2]): list worker lcores only, or leave rps.workers empty",
        );
        check(
            &base_with(&format!(
                "[rps]\nworkers = [{}]\n",
                vec!["2"; MAX_RPS_MAP_LEN + 1].join(", ")
            )),
            "rps.workers",
            Some("workers = [2, 2"),
            "257 entries: at most 256",
        );
        check(
            &base_with("[rps]\nmax_backlog = 0\n"),
            "rps.max_backlog",
            Some("max_backlog"),
            "use at least 1, e.g. 1000",
        );
        check(
            &base_with("[rps]\nflow_limit_table_len = 1000\n"),
            "rps.flow_limit_table_len",
            Some("flow_limit_table_len"),
            "1000 is not a power of two: try 1024",
        );
        check(
            &base_with("[rps]\nbalance = true\nlocal_fast_path = false\n"),
            "rps.balance",
            Some("balance = true"),
            "needs rps.local_fast_path = true",
        );
        check(
            &base_with("[rps]\nflow_limit_table_len = 0\n"),
            "rps.flow_limit_table_len",
            Some("flow_limit_table_len"),
            "try 1",
        );
        parse(
            &base_with("[rps]\nworkers = [2]\nflow_limit_table_len = 1\n"),
            "v",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn l2_rules() {
        let l2 = |body: &str| [EAL, PORTS, WORKERS, "[forward]\nmode = \"l2\"\n", body].join("\n");
        check(
            &l2(""),
            "forward.l2",
            Some("[forward]"),
            "l2 mode needs at least one [[forward.l2]] cross-connect with input and output ports (known ports: wan, lan)",
        );
        let t = l2(ROUTES);
        check_among(
            &t,
            "forward.routes",
            Some("[[forward.routes]]"),
            "1 route(s) are ignored in l2 mode: remove them or set forward.mode = \"l3\"",
        );
        assert_eq!(parse(&t, "v").unwrap_err().len(), 2);

        check(
            &l2("[[forward.l2]]\ninput = \"wan\"\noutput = \"lan2\"\n"),
            "forward.l2[0].output",
            Some("output"),
            "unknown port \"lan2\" (known ports: wan, lan)",
        );
        check(
            &l2("[[forward.l2]]\ninput = \"wan\"\noutput = \"lan\"\n[[forward.l2]]\ninput = \"wan\" # again\noutput = \"wan\"\n"),
            "forward.l2[1].input",
            Some("input = \"wan\" # again"),
            "port \"wan\" is already the input of forward.l2[0]",
        );
        check(
            &l2("[[forward.l2]]\ninput = \"wan\"\noutput = \"lan\"\nsrc_mac = \"ff:ff:ff:ff:ff:ff\"\n"),
            "forward.l2[0].src_mac",
            Some("src_mac"),
            "a source MAC must be unicast",
        );
        parse(&l2("[[forward.l2]]\ninput = \"wan\"\noutput = \"lan\"\n[[forward.l2]]\ninput = \"lan\"\noutput = \"wan\"\n"), "v")
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn l3_rules() {
        let t = [EAL, PORTS, WORKERS, "[forward]\nmode = \"l3\"\n"].join("\n");
        check(
            &t,
            "forward.routes",
            Some("[forward]"),
            "l3 mode needs at least one [[forward.routes]]",
        );
        let t = [EAL, PORTS, WORKERS].join("\n");
        check(
            &t,
            "forward.routes",
            None,
            "prefix = \"0.0.0.0/0\" or \"::/0\"",
        );

        check_among(
            &base_with("[[forward.l2]]\ninput = \"wan\"\noutput = \"lan\"\n"),
            "forward.l2",
            Some("[[forward.l2]]"),
            "1 cross-connect(s) are ignored in l3 mode: remove them or set forward.mode = \"l2\"",
        );
        check(
            &base_with("[[forward.routes]]\nprefix = \"10.0.0.0/8\"\nport = \"lan2\"\nnext_hop_mac = \"02:00:00:00:00:02\"\n"),
            "forward.routes[1].port",
            Some("port = \"lan2\""),
            "unknown port \"lan2\" (known ports: wan, lan)",
        );
        check(
            &base_with("[[forward.routes]]\nprefix = \"2001:db8::/32\"\nport = \"wan\"\nnext_hop_mac = \"02:00:00:00:00:03\"\n\
                        [[forward.routes]]\nprefix = \"0.0.0.0/0\" # again\nport = \"wan\"\nnext_hop_mac = \"02:00:00:00:00:03\"\n"),
            "forward.routes[2].prefix",
            Some("prefix = \"0.0.0.0/0\" # again"),
            "prefix 0.0.0.0/0 is routed twice, by forward.routes[0] and forward.routes[2]: remove one",
        );
    }

    #[test]
    fn overload_rules() {
        let o = |body: &str| base_with(&format!("[overload]\n{body}\n"));
        check(
            &o("high_watermark = 1.5"),
            "overload.high_watermark",
            Some("high_watermark"),
            "1.5 is not a queue fill fraction in (0, 1]",
        );
        check(
            &o("high_watermark = nan"),
            "overload.high_watermark",
            Some("high_watermark"),
            "NaN is not a queue fill fraction",
        );
        check(
            &o("low_watermark = 0"),
            "overload.low_watermark",
            Some("low_watermark"),
            "0 is not a queue fill fraction in (0, 1]",
        );
        check(
            &o("low_watermark = 0.8"),
            "overload.low_watermark",
            Some("low_watermark"),
            "0.8 must be below high_watermark 0.75 (the gap is the hysteresis)",
        );
        check(
            &o("low_watermark = 0.75"),
            "overload.low_watermark",
            Some("low_watermark"),
            "must be below",
        );
        parse(&o("low_watermark = 0.5\nhigh_watermark = 1"), "v").unwrap_or_else(|e| panic!("{e}"));

        check(
            &o("[overload.demote]\nfifo_priority = 0"),
            "overload.demote.fifo_priority",
            Some("fifo_priority"),
            "0 is not a SCHED_FIFO priority: use 1..=99",
        );
        check(
            &o("[overload.demote]\nfifo_priority = 100"),
            "overload.demote.fifo_priority",
            Some("fifo_priority"),
            "use 1..=99",
        );
        parse(&o("[overload.demote]\nfifo_priority = 99"), "v").unwrap_or_else(|e| panic!("{e}"));

        check(
            &o("policy = \"filter\""),
            "overload.filter",
            Some("[overload]"),
            "filters nothing: add [[overload.filter.rules]]",
        );
        parse(
            &o("policy = \"filter\"\n[overload.filter]\ndefault_action = \"drop\""),
            "v",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// `overload.filter.rules[1]` is `rule`, after a valid rules[0].
    fn with_rule(rule: &str) -> String {
        base_with(&format!(
            "[[overload.filter.rules]]\nname = \"keep-bgp\"\nproto = \"tcp\"\ndst_port = 179\naction = \"pass\"\n\n\
             [[overload.filter.rules]] # under test\n{rule}\n"
        ))
    }

    #[test]
    fn filter_rule_rules() {
        const R: &str = "overload.filter.rules[1]";
        let header = Some("[[overload.filter.rules]] # under test");
        for (rule, key, needle, message) in [
            ("name = \"keep-bgp\" # dup\naction = \"drop\"", "name", Some("name = \"keep-bgp\" # dup"),
             "rule name \"keep-bgp\" is already used by overload.filter.rules[0]"),
            ("name = \"\"\naction = \"drop\"", "name", Some("name = \"\""), "missing: give the rule a name"),
            ("name = \"r\"\naction = \"rate_limit\"", "pps", header,
             "action \"rate_limit\" needs pps = N (packets per second, at least 1)"),
            ("name = \"r\"\naction = \"rate_limit\"\npps = 0", "pps", Some("pps = 0"), "0 packets per second is a drop"),
            ("name = \"r\"\naction = \"rate_limit\"\npps = 10\nburst = 0", "burst", Some("burst = 0"), "leave it out to default to pps"),
            ("name = \"r\"\naction = \"pass\"\npps = 10", "pps", Some("pps = 10"),
             "pps is only used with action = \"rate_limit\": remove it or change the action"),
            ("name = \"r\"\naction = \"drop\"\nburst = 10", "burst", Some("burst = 10"), "burst is only used with action = \"rate_limit\""),
            ("name = \"r\"\naction = \"drop\"\ndscp = 64", "dscp", Some("dscp = 64"), "64 is out of range: DSCP is 0..=63"),
            ("name = \"r\"\naction = \"drop\"\ntcp_flags = \"syn,bogus\"", "tcp_flags", Some("tcp_flags"),
             "unknown TCP flag \"bogus\" in \"syn,bogus\": use fin, syn, rst, psh, ack, urg, ece, cwr"),
            ("name = \"r\"\naction = \"drop\"\nproto = \"udp\"\ntcp_flags = \"syn\"", "tcp_flags", Some("tcp_flags"),
             "tcp_flags only match TCP, but proto is \"udp\""),
            ("name = \"r\"\naction = \"drop\"\nproto = \"icmp\"\ndst_port = 7", "dst_port", Some("dst_port = 7"),
             "proto \"icmp\" has no ports: remove dst_port"),
            ("name = \"r\"\naction = \"drop\"\nproto = 47\nsrc_port = 7", "src_port", Some("src_port = 7"),
             "proto \"47\" has no ports"),
            ("name = \"r\"\naction = \"drop\"\nethertype = 0x0100", "ethertype", Some("ethertype"),
             "0x0100 is an 802.3 length, not an EtherType"),
            ("name = \"r\"\naction = \"drop\"\nethertype = 0x0806\nsrc = \"10.0.0.0/8\"", "src", Some("src ="),
             "ethertype 0x0806 is not IPv4 (0x0800) or IPv6 (0x86dd), so the rule can never match"),
            ("name = \"r\"\naction = \"drop\"\nsrc = \"10.0.0.0/8\"\ndst = \"2001:db8::/32\"", "dst", Some("dst ="),
             "dst is IPv6 but src is IPv4, so the rule can never match"),
            ("name = \"r\"\naction = \"drop\"\nproto = \"icmpv6\"\nsrc = \"10.0.0.0/8\"", "src", Some("src ="),
             "src is IPv4 but proto is IPv6"),
            ("name = \"r\"\naction = \"drop\"\nethertype = 0x86dd\nproto = \"icmp\"", "proto", Some("proto = \"icmp\""),
             "proto is IPv4 but ethertype is IPv6"),
        ] {
            check(&with_rule(rule), &format!("{R}.{key}"), needle, message);
        }
        for ok in [
            "name = \"r\"\naction = \"rate_limit\"\npps = 1",
            "name = \"r\"\naction = \"drop\"\nproto = \"tcp\"\ntcp_flags = \"syn,!ack\"\ndscp = 63",
            "name = \"r\"\naction = \"drop\"\ntcp_flags = \"rst\"",
            "name = \"r\"\naction = \"drop\"\nproto = 132\ndst_port = 2905",
            "name = \"r\"\naction = \"drop\"\nethertype = 0x86dd\nproto = \"icmpv6\"\ndst = \"::/0\"",
            "name = \"r\"\naction = \"drop\"\nethertype = 0x0806",
        ] {
            parse(&with_rule(ok), "v").unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn burst_defaults_to_pps() {
        let cfg = parse(
            &with_rule("name = \"r\"\naction = \"rate_limit\"\npps = 500"),
            "v",
        )
        .unwrap();
        let rule = &cfg.overload.filter.rules[1];
        assert_eq!(rule.burst, None);
        assert_eq!(rule.effective_burst(), Some(500));
        let cfg = parse(
            &with_rule("name = \"r\"\naction = \"rate_limit\"\npps = 500\nburst = 32"),
            "v",
        )
        .unwrap();
        assert_eq!(cfg.overload.filter.rules[1].effective_burst(), Some(32));
    }

    #[test]
    fn rx_assignment_rules() {
        let base = "[[workers.rx]]\nport = \"wan\"\nqueue = 0\nlcore = 1\n";
        let cfg = parse(&base_with(base), "t.toml");
        assert!(cfg.is_ok(), "{:?}", cfg.err());
        check(
            &base_with("[[workers.rx]]\nport = \"nope\"\nqueue = 0\nlcore = 1\n"),
            "workers.rx[0].port",
            Some("\"nope\""),
            "unknown port \"nope\"",
        );
        check(
            &base_with("[[workers.rx]]\nport = \"wan\"\nqueue = 3\nlcore = 1\n"),
            "workers.rx[0].queue",
            Some("queue = 3"),
            "has 1 RX queue(s)",
        );
        check(
            &base_with("[[workers.rx]]\nport = \"wan\"\nqueue = 0\nlcore = 7\n"),
            "workers.rx[0].lcore",
            Some("lcore = 7"),
            "lcore 7 runs no worker",
        );
        let twice = base_with(&format!(
            "{base}\n[[workers.rx]] # again\nport = \"wan\"\nqueue = 0\nlcore = 2\n"
        ));
        check(
            &twice,
            "workers.rx[1]",
            Some("[[workers.rx]] # again"),
            "assigned twice",
        );
    }

    #[test]
    fn bench_rules() {
        check(
            &base_with("[bench]\nper_packet_cycles = 5000000\n"),
            "bench.per_packet_cycles",
            Some("per_packet_cycles"),
            "use 0..=3000000",
        );
    }

    #[test]
    fn free_and_metrics_rules() {
        check(
            &base_with("[free]\ndefer_max = 0\n"),
            "free.defer_max",
            Some("defer_max"),
            "use at least 1, e.g. 128",
        );
        check(
            &base_with("[metrics]\nlisten = \"localhost:9469\"\n"),
            "metrics.listen",
            Some("listen"),
            "\"localhost:9469\" is not an IP:PORT address: use e.g. \"127.0.0.1:9469\"",
        );
        check(
            &base_with("[metrics]\nlisten = \"127.0.0.1\"\n"),
            "metrics.listen",
            Some("listen"),
            "not an IP:PORT",
        );
        for ok in ["\"\"", "\"[::1]:9469\"", "\"0.0.0.0:80\""] {
            parse(&base_with(&format!("[metrics]\nlisten = {ok}\n")), "v")
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn validate_without_a_file_has_no_lines() {
        let mut cfg = parse(&base_with(""), "v").unwrap();
        assert!(validate(&cfg).is_empty());
        cfg.napi.weight = 0;
        cfg.ports[0].name = "lan".into();
        let errors = validate(&cfg);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["ports[1].name", "napi.weight"], "{errors:?}");
        assert!(errors.iter().all(|e| e.line.is_none()));
    }

    #[test]
    fn tcp_flags() {
        assert_eq!(
            parse_tcp_flags("syn").unwrap(),
            TcpFlags {
                must_set: 0x02,
                must_clear: 0
            }
        );
        let f = parse_tcp_flags("syn,!ack").unwrap();
        assert_eq!(
            f,
            TcpFlags {
                must_set: 0x02,
                must_clear: 0x10
            }
        );
        assert!(f.matches(0x02));
        assert!(!f.matches(0x12));
        assert!(!f.matches(0x10));
        assert_eq!(
            parse_tcp_flags(" FIN , ! cwr ").unwrap(),
            TcpFlags {
                must_set: 0x01,
                must_clear: 0x80
            }
        );
        for (bad, why) in [
            ("", "empty item"),
            ("syn,,ack", "empty item"),
            ("syn,", "empty item"),
            ("!", "unknown TCP flag \"\""),
            ("syn,!syn", "appears twice"),
            ("ack,ack", "appears twice"),
            ("sin", "unknown TCP flag \"sin\""),
        ] {
            let e = parse_tcp_flags(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    proptest! {
        /// Any set of distinct flags, each maybe negated, in any order,
        /// parses to the masks of a simple model.
        #[test]
        fn tcp_flags_match_model(picks in prop::sample::subsequence((0..8usize).collect::<Vec<_>>(), 1..=8),
                                 negate in prop::collection::vec(any::<bool>(), 8),
                                 order in any::<prop::sample::Index>()) {
            let mut items: Vec<String> = picks.iter()
                .map(|&i| format!("{}{}", if negate[i] { "!" } else { "" }, TCP_FLAG_NAMES[i]))
                .collect();
            let n = items.len();
            items.rotate_left(order.index(n));
            let (mut set, mut clear) = (0u8, 0u8);
            for &i in &picks {
                if negate[i] { clear |= 1 << i } else { set |= 1 << i }
            }
            prop_assert_eq!(parse_tcp_flags(&items.join(",")).unwrap(), TcpFlags { must_set: set, must_clear: clear });
        }
    }
}
