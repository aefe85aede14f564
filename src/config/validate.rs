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
/// SCHED_FIFO priority range (`sched_get_priority_min/max`).
pub const FIFO_PRIORITIES: std::ops::RangeInclusive<i32> = 1..=99;
/// Largest DSCP value (6 bits).
pub const MAX_DSCP: u8 = 63;
/// The smallest EtherType; values below are 802.3 lengths.
pub const MIN_ETHERTYPE: u16 = 0x0600;

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
        let free: Vec<u32> = eal_lcores
            .map(|s| s.iter().copied().filter(|&l| l != main).collect())
            .unwrap_or_default();
        let suggestion = if free.is_empty() {
            "add lcores to eal.lcores beyond the main lcore".to_owned()
        } else {
            format!("use one of {}", list(&free))
        };
        let lcores = &cfg.workers.lcores;
        if lcores.is_empty() {
            self.err(
                "workers.lcores",
                format!(
                    "no workers: list the lcores to run workers on ({suggestion}), e.g. lcores = [{}]",
                    free.first().copied().unwrap_or(main + 1)
                ),
            );
        }
        let dups: BTreeSet<usize> = duplicates(lcores).into_iter().map(|(_, i)| i).collect();
        for (i, &l) in lcores.iter().enumerate() {
            let path = format!("workers.lcores[{i}]");
            if dups.contains(&i) {
                self.err(path, format!("lcore {l} listed twice: remove one (an lcore runs one worker)"));
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
        let dups: BTreeSet<usize> = duplicates(&rps.workers).into_iter().map(|(_, i)| i).collect();
        for (i, &l) in rps.workers.iter().enumerate() {
            let path = format!("rps.workers[{i}]");
            if dups.contains(&i) {
                self.err(path, format!("lcore {l} listed twice: remove one"));
            } else if !cfg.workers.lcores.contains(&l) {
                self.err(
                    path,
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
                format!("0 would drop every steered packet: use at least 1, e.g. {DEFAULT_MAX_BACKLOG}"),
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
                v.err(path, format!("unknown port {name:?} ({})", known_ports(cfg)));
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
                format!("{high} is not a queue fill fraction in (0, 1]: e.g. {DEFAULT_HIGH_WATERMARK}"),
            );
        }
        if !low_ok {
            self.err(
                "overload.low_watermark",
                format!("{low} is not a queue fill fraction in (0, 1]: e.g. {DEFAULT_LOW_WATERMARK}"),
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
                self.err(path("dscp"), format!("{d} is out of range: DSCP is 0..={MAX_DSCP}"));
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
