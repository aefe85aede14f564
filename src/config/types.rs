//! The configuration types: one struct per TOML section, one field per key.
//!
//! Every default lives in exactly one named `DEFAULT_*` constant below; the
//! `Default` impls use the constants and nothing else repeats the literal.
//! Where Linux has a knob for the same idea, the default is Linux's (the
//! sysctl is named beside the constant).

use serde::{Deserialize, Serialize};

use crate::wire::{IpPrefix, MacAddr};

// ---------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------

/// `eal.lcores`: the main lcore and one worker.
pub const DEFAULT_EAL_LCORES: &str = "0-1";
/// `eal.main_lcore`.
pub const DEFAULT_MAIN_LCORE: u32 = 0;
/// `eal.no_huge`: run anywhere (containers and CI often have no hugepages).
pub const DEFAULT_NO_HUGE: bool = true;
/// `eal.memory_mb`.
pub const DEFAULT_MEMORY_MB: u32 = 1024;
/// `eal.in_memory`: no files under /var/run/dpdk.
pub const DEFAULT_IN_MEMORY: bool = true;
/// `eal.file_prefix` (used when `in_memory = false`).
pub const DEFAULT_FILE_PREFIX: &str = "napifwd";
/// `eal.iova_mode`.
pub const DEFAULT_IOVA_MODE: IovaMode = IovaMode::Va;

/// `ports[].rx_queues`.
pub const DEFAULT_RX_QUEUES: u16 = 1;
/// `ports[].rx_descriptors`.
pub const DEFAULT_RX_DESCRIPTORS: u16 = 1024;
/// `ports[].tx_descriptors`.
pub const DEFAULT_TX_DESCRIPTORS: u16 = 1024;
/// `ports[].mtu`: Ethernet's.
pub const DEFAULT_MTU: u16 = 1500;
/// `ports[].promiscuous`: a forwarder receives frames for other MACs in L2 mode.
pub const DEFAULT_PROMISCUOUS: bool = true;

/// `workers.lcores`: one worker beside the default main lcore 0.
pub const DEFAULT_WORKER_LCORES: &[u32] = &[1];

/// `napi.weight`: Linux `dev_weight` (net.core.dev_weight).
pub const DEFAULT_NAPI_WEIGHT: u32 = 64;
/// `napi.budget`: Linux `netdev_budget` (net.core.netdev_budget).
pub const DEFAULT_NAPI_BUDGET: u32 = 300;
/// `napi.budget_us`: Linux `netdev_budget_usecs` (net.core.netdev_budget_usecs).
pub const DEFAULT_NAPI_BUDGET_US: u32 = 2000;
/// `napi.backlog_weight`: Linux `dev_weight` × `dev_weight_rx_bias` (64 × 1).
pub const DEFAULT_BACKLOG_WEIGHT: u32 = 64;
/// `napi.idle`: busy-poll like a DPDK application.
pub const DEFAULT_IDLE_MODE: IdleMode = IdleMode::Poll;
/// `napi.park_after_rounds`: empty rounds before a worker parks (idle = "park").
pub const DEFAULT_PARK_AFTER_ROUNDS: u32 = 64;
/// `napi.max_sleep_us`: longest park, so RX queues are still polled when no one wakes us.
pub const DEFAULT_MAX_SLEEP_US: u32 = 1000;

/// `rps.enabled`: Linux ships RPS off (empty rps_cpus).
pub const DEFAULT_RPS_ENABLED: bool = false;
/// `rps.hash`.
pub const DEFAULT_RPS_HASH: RpsHash = RpsHash::Auto;
/// `rps.symmetric`.
pub const DEFAULT_RPS_SYMMETRIC: bool = true;
/// `rps.max_backlog`: Linux `netdev_max_backlog`.
pub const DEFAULT_MAX_BACKLOG: u32 = 1000;
/// `rps.flow_limit`: Linux ships flow limit off (empty flow_limit_cpu_bitmap).
pub const DEFAULT_FLOW_LIMIT: bool = false;
/// `rps.flow_limit_table_len`: Linux `flow_limit_table_len`.
pub const DEFAULT_FLOW_LIMIT_TABLE_LEN: u32 = 4096;
/// `rps.local_fast_path`: target == self is processed inline, like Linux
/// `netif_receive_skb` skipping the backlog when `get_rps_cpu` picks this CPU.
pub const DEFAULT_LOCAL_FAST_PATH: bool = true;

/// `rps.adaptive`: off, so the rps map is what decides (as `rps_cpus` does).
pub const DEFAULT_RPS_ADAPTIVE: bool = false;
/// `rps.balance`: off, so the rps map's weights are what they say.
pub const DEFAULT_RPS_BALANCE: bool = false;

/// `forward.mode`.
pub const DEFAULT_FORWARD_MODE: ForwardMode = ForwardMode::L3;
/// `forward.verify_ipv4_checksum`: RFC 1812 5.2.2 says a router must.
pub const DEFAULT_VERIFY_IPV4_CHECKSUM: bool = true;
/// `forward.tx_drain_us`: TX buffer flush timer, DPDK l3fwd's `BURST_TX_DRAIN_US`.
pub const DEFAULT_TX_DRAIN_US: u32 = 100;

/// `overload.policy`.
pub const DEFAULT_OVERLOAD_POLICY: OverloadPolicy = OverloadPolicy::None;
/// `overload.high_watermark`: the 75 % queue fill proposed as the DoS signal.
pub const DEFAULT_HIGH_WATERMARK: f64 = 0.75;
/// `overload.low_watermark`.
pub const DEFAULT_LOW_WATERMARK: f64 = 0.25;
/// `overload.enter_after_us`.
pub const DEFAULT_ENTER_AFTER_US: u64 = 1000;
/// `overload.exit_after_us`.
pub const DEFAULT_EXIT_AFTER_US: u64 = 10_000;
/// `overload.demote.fifo_priority`: SCHED_FIFO priority while not overloaded.
pub const DEFAULT_FIFO_PRIORITY: i32 = 10;
/// `overload.pps_ceiling`: 0, no packet-rate signal.
pub const DEFAULT_PPS_CEILING: u64 = 0;
/// `overload.drop.pause_rx_us`: 0, RX is never paused on entering overload.
pub const DEFAULT_PAUSE_RX_US: u64 = 0;
/// `overload.filter.when`.
pub const DEFAULT_FILTER_WHEN: FilterWhen = FilterWhen::Overload;
/// `overload.filter.bpf_object`: none.
pub const DEFAULT_BPF_OBJECT: &str = "";
/// `overload.filter.default_action`: a filter keeps what no rule names.
pub const DEFAULT_FILTER_ACTION: RuleAction = RuleAction::Pass;

/// `free.mode`: batch (one `rte_pktmbuf_free_bulk` per burst, where the
/// packets were dropped). design.md proposed `owner`, to be kept "only if it
/// wins or ties"; benches/free.sh measured owner at 0.67x batch on the
/// development VM (benches/FREE.md), so batch is the default.
pub const DEFAULT_FREE_MODE: FreeMode = FreeMode::Batch;
/// `free.defer_max`: Linux `skb_defer_max`.
pub const DEFAULT_DEFER_MAX: u32 = 128;
/// `free.max_age_us`: flush even when idle so nothing stays stuck.
pub const DEFAULT_MAX_AGE_US: u64 = 1000;

/// `metrics.listen`: loopback only; "" disables.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9469";

/// `workers.drain_timeout_ms`: a few seconds, as systemd's stop timeout is tens.
pub const DEFAULT_DRAIN_TIMEOUT_MS: u64 = 3000;
/// `workers.fifo_priority`: 0, workers stay SCHED_OTHER.
pub const DEFAULT_WORKERS_FIFO_PRIORITY: i32 = 0;
/// `bench.per_packet_cycles`: 0, no synthetic cost.
pub const DEFAULT_PER_PACKET_CYCLES: u64 = 0;

/// `metrics.latency`: off. Stamping each packet at RX and reading the
/// stamp at TX cost about 11 TSC cycles per packet on the l2 benchmark
/// (96 -> 107 cycles, ~10 % of throughput): opt in where the histogram is
/// worth it.
pub const DEFAULT_METRICS_LATENCY: bool = false;

/// `log.level`.
pub const DEFAULT_LOG_LEVEL: LogLevel = LogLevel::Info;

// ---------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------

/// The whole configuration file. Every section is optional in the TOML;
/// [`validate`](super::validate) says what a usable config needs (ports, and
/// either cross-connects or routes).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[eal]`: DPDK EAL arguments.
    pub eal: EalConfig,
    /// `[[ports]]`: the ports, referred to by name everywhere else.
    pub ports: Vec<PortConfig>,
    /// `[workers]`: the lcore-pinned worker threads.
    pub workers: WorkersConfig,
    /// `[napi]`: weights and budgets.
    pub napi: NapiConfig,
    /// `[rps]`: steering to per-worker backlogs.
    pub rps: RpsConfig,
    /// `[forward]`: L2 cross-connect or L3 routes.
    pub forward: ForwardConfig,
    /// `[overload]`: what a worker does when its queues fill.
    pub overload: OverloadConfig,
    /// `[free]`: deferred mbuf freeing.
    pub free: FreeConfig,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[bench]`: knobs for benchmarks only, never for production.
    pub bench: BenchConfig,
}

/// `[eal]`: how the DPDK EAL is started; see [`eal_args`](super::eal_args).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EalConfig {
    /// DPDK `-l` list ("0-3,5") or `--lcores` map ("0@0,(1-2)@1").
    pub lcores: String,
    /// The lcore running the control plane (metrics, stats, signals).
    pub main_lcore: u32,
    /// `--no-huge`: anonymous memory instead of hugepages.
    pub no_huge: bool,
    /// `-m`: memory to reserve, in MiB.
    pub memory_mb: u32,
    /// No shared runtime files (`--in-memory`, or `--no-shconf` with `no_huge`).
    pub in_memory: bool,
    /// `--file-prefix`, used when `in_memory = false`.
    pub file_prefix: String,
    /// `--iova-mode` (hugepages only).
    pub iova_mode: IovaMode,
    /// Extra EAL arguments, appended verbatim.
    pub args: Vec<String>,
}

impl Default for EalConfig {
    fn default() -> Self {
        EalConfig {
            lcores: DEFAULT_EAL_LCORES.to_owned(),
            main_lcore: DEFAULT_MAIN_LCORE,
            no_huge: DEFAULT_NO_HUGE,
            memory_mb: DEFAULT_MEMORY_MB,
            in_memory: DEFAULT_IN_MEMORY,
            file_prefix: DEFAULT_FILE_PREFIX.to_owned(),
            iova_mode: DEFAULT_IOVA_MODE,
            args: Vec::new(),
        }
    }
}

/// `eal.iova_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IovaMode {
    /// `--iova-mode=va`: what vdevs and VFIO want.
    Va,
    /// `--iova-mode=pa`: physical addresses (needs hugepages).
    Pa,
}

/// `[[ports]]`: one DPDK ethdev.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortConfig {
    /// The name every other section uses for this port (required).
    pub name: String,
    /// A vdev spec (`net_pcap0,rx_pcap=in.pcap`) or a PCI address (required).
    pub device: String,
    /// RX queues; (port, queue) pairs are spread round-robin over workers.
    pub rx_queues: u16,
    /// RX ring size.
    pub rx_descriptors: u16,
    /// TX ring size (one TX queue per worker).
    pub tx_descriptors: u16,
    /// L3 MTU in bytes.
    pub mtu: u16,
    /// Receive frames addressed to other MACs.
    pub promiscuous: bool,
    /// Override the device's own MAC address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            name: String::new(),
            device: String::new(),
            rx_queues: DEFAULT_RX_QUEUES,
            rx_descriptors: DEFAULT_RX_DESCRIPTORS,
            tx_descriptors: DEFAULT_TX_DESCRIPTORS,
            mtu: DEFAULT_MTU,
            promiscuous: DEFAULT_PROMISCUOUS,
            mac: None,
        }
    }
}

/// `[workers]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkersConfig {
    /// One worker per lcore, in this order (worker ids are indices here).
    pub lcores: Vec<u32>,
    /// `[[workers.rx]]`: explicit (port, queue) -> worker assignments. RX
    /// queues not listed are spread round-robin over the workers.
    pub rx: Vec<RxAssignment>,
    /// Run workers SCHED_FIFO at this priority (1..=99); 0 = SCHED_OTHER.
    /// `overload.policy = "demote"` uses `overload.demote.fifo_priority`.
    pub fifo_priority: i32,
    /// On SIGTERM/SIGINT: how long workers may take to finish their
    /// backlogs, defer rings and TX buffers before what is left is dropped
    /// (counted `shutdown`) and napifwd exits.
    pub drain_timeout_ms: u64,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        WorkersConfig {
            lcores: DEFAULT_WORKER_LCORES.to_vec(),
            rx: Vec::new(),
            fifo_priority: DEFAULT_WORKERS_FIFO_PRIORITY,
            drain_timeout_ms: DEFAULT_DRAIN_TIMEOUT_MS,
        }
    }
}

/// `[[workers.rx]]`: pin one RX queue to the worker on `lcore`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RxAssignment {
    /// Port name.
    pub port: String,
    /// RX queue of that port.
    pub queue: u16,
    /// The lcore of the worker that polls it (one of `workers.lcores`).
    pub lcore: u32,
}

/// `[napi]`: per-visit weights and per-round budgets, as in `net_rx_action`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NapiConfig {
    /// Max packets per poll source per visit (`dev_weight`).
    pub weight: u32,
    /// Max packets per round (`netdev_budget`).
    pub budget: u32,
    /// Max time per round in µs (`netdev_budget_usecs`).
    pub budget_us: u32,
    /// Weight of the backlog poll source.
    pub backlog_weight: u32,
    /// What an idle worker does.
    pub idle: IdleMode,
    /// Empty rounds before parking (idle = "park").
    pub park_after_rounds: u32,
    /// Longest park in µs (idle = "park").
    pub max_sleep_us: u32,
}

impl Default for NapiConfig {
    fn default() -> Self {
        NapiConfig {
            weight: DEFAULT_NAPI_WEIGHT,
            budget: DEFAULT_NAPI_BUDGET,
            budget_us: DEFAULT_NAPI_BUDGET_US,
            backlog_weight: DEFAULT_BACKLOG_WEIGHT,
            idle: DEFAULT_IDLE_MODE,
            park_after_rounds: DEFAULT_PARK_AFTER_ROUNDS,
            max_sleep_us: DEFAULT_MAX_SLEEP_US,
        }
    }
}

/// `napi.idle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdleMode {
    /// Keep polling (lowest latency, 100 % CPU).
    Poll,
    /// After `park_after_rounds` empty rounds, sleep on an eventfd until woken
    /// by an RPS enqueue or `max_sleep_us` passes.
    Park,
}

/// `[rps]`: Receive Packet Steering to per-worker backlogs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpsConfig {
    /// Steer packets to other workers' backlogs.
    pub enabled: bool,
    /// The rps map, as worker lcores; empty = all workers. A worker listed
    /// n times gets n shares of the flows.
    pub workers: Vec<u32>,
    /// Where the flow hash comes from.
    pub hash: RpsHash,
    /// Both directions of a flow hash to the same worker.
    pub symmetric: bool,
    /// Backlog ring bound per worker (`netdev_max_backlog`).
    pub max_backlog: u32,
    /// Per-flow limit when a backlog is over half full.
    pub flow_limit: bool,
    /// Flow limit buckets (`flow_limit_table_len`), a power of two.
    pub flow_limit_table_len: u32,
    /// Target == self: process inline, no ring.
    pub local_fast_path: bool,
    /// Steer only while it pays: each RX worker now and then tries
    /// processing everything itself and keeps whichever forwards more.
    pub adaptive: bool,
    /// Each RX worker finds the share of the flows it keeps (the rest go
    /// to the map's other workers) by trying one sixteenth more or fewer
    /// and keeping what forwards more, and half a sixteenth by its peers'
    /// refusals and idle time.
    pub balance: bool,
}

impl Default for RpsConfig {
    fn default() -> Self {
        RpsConfig {
            adaptive: DEFAULT_RPS_ADAPTIVE,
            balance: DEFAULT_RPS_BALANCE,
            enabled: DEFAULT_RPS_ENABLED,
            workers: Vec::new(),
            hash: DEFAULT_RPS_HASH,
            symmetric: DEFAULT_RPS_SYMMETRIC,
            max_backlog: DEFAULT_MAX_BACKLOG,
            flow_limit: DEFAULT_FLOW_LIMIT,
            flow_limit_table_len: DEFAULT_FLOW_LIMIT_TABLE_LEN,
            local_fast_path: DEFAULT_LOCAL_FAST_PATH,
        }
    }
}

/// `rps.hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpsHash {
    /// The NIC's RSS hash when the mbuf carries one, else software.
    Auto,
    /// Always hash in software.
    Software,
}

/// `[forward]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardConfig {
    /// L2 cross-connect or L3 routing.
    pub mode: ForwardMode,
    /// `[[forward.l2]]`: l2 mode only.
    pub l2: Vec<L2Xconnect>,
    /// `[[forward.routes]]`: l3 mode only.
    pub routes: Vec<Route>,
    /// Drop IPv4 packets with a bad header checksum (RFC 1812 5.2.2).
    pub verify_ipv4_checksum: bool,
    /// TX buffer flush timer in µs (l3fwd's `BURST_TX_DRAIN_US`).
    pub tx_drain_us: u32,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            mode: DEFAULT_FORWARD_MODE,
            l2: Vec::new(),
            routes: Vec::new(),
            verify_ipv4_checksum: DEFAULT_VERIFY_IPV4_CHECKSUM,
            tx_drain_us: DEFAULT_TX_DRAIN_US,
        }
    }
}

/// `forward.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardMode {
    /// Cross-connect: every frame from `input` goes to `output`.
    L2,
    /// Longest-prefix match on the destination address (IPv4 and IPv6).
    L3,
}

/// `[[forward.l2]]`: a cross-connect.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct L2Xconnect {
    /// Port name frames arrive on.
    pub input: String,
    /// Port name frames leave on.
    pub output: String,
    /// Rewrite the destination MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_mac: Option<MacAddr>,
    /// Rewrite the source MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_mac: Option<SrcMac>,
}

/// `forward.l2[].src_mac`: `"port"` or a MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrcMac {
    /// The output port's own MAC (toml `"port"`).
    Port,
    /// This MAC.
    Mac(MacAddr),
}

/// `[[forward.routes]]`: an L3 route.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// IPv4 or IPv6 prefix.
    pub prefix: IpPrefix,
    /// Output port name.
    pub port: String,
    /// Destination MAC written into forwarded frames.
    pub next_hop_mac: MacAddr,
}

/// `[overload]`: the per-worker overload detector and its action.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OverloadConfig {
    /// What to do while overloaded.
    pub policy: OverloadPolicy,
    /// Queue fill (0..1] that signals overload.
    pub high_watermark: f64,
    /// Queue fill below which overload ends.
    pub low_watermark: f64,
    /// Above `high_watermark` this long (µs) to enter overload.
    pub enter_after_us: u64,
    /// Below `low_watermark` this long (µs) to leave overload.
    pub exit_after_us: u64,
    /// Also signal overload when a worker processes more than this many
    /// packets per second (fill = rate / ceiling); 0 = no ceiling.
    pub pps_ceiling: u64,
    /// `[overload.drop]`.
    pub drop: DropPolicyConfig,
    /// `[overload.demote]`.
    pub demote: DemoteConfig,
    /// `[overload.filter]`.
    pub filter: FilterConfig,
}

impl Default for OverloadConfig {
    fn default() -> Self {
        OverloadConfig {
            policy: DEFAULT_OVERLOAD_POLICY,
            high_watermark: DEFAULT_HIGH_WATERMARK,
            low_watermark: DEFAULT_LOW_WATERMARK,
            enter_after_us: DEFAULT_ENTER_AFTER_US,
            exit_after_us: DEFAULT_EXIT_AFTER_US,
            pps_ceiling: DEFAULT_PPS_CEILING,
            drop: DropPolicyConfig::default(),
            demote: DemoteConfig::default(),
            filter: FilterConfig::default(),
        }
    }
}

/// `[overload.drop]`: the `drop` policy's option.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DropPolicyConfig {
    /// On entering overload, also stop polling RX queues for this long
    /// (µs): "stop processing and risk loss" (the NIC drops, counted as
    /// rx_missed). 0 = keep polling RX once the backlog is drained.
    pub pause_rx_us: u64,
}

impl Default for DropPolicyConfig {
    fn default() -> Self {
        DropPolicyConfig {
            pause_rx_us: DEFAULT_PAUSE_RX_US,
        }
    }
}

/// `overload.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverloadPolicy {
    /// Detect and count only.
    None,
    /// Drop new RX while overloaded (the backlog drains).
    Drop,
    /// Run SCHED_FIFO normally, drop to SCHED_OTHER while overloaded.
    Demote,
    /// Apply `[overload.filter]` rules.
    Filter,
}

/// `[overload.demote]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoteConfig {
    /// SCHED_FIFO priority (1..=99) outside overload.
    pub fifo_priority: i32,
}

impl Default for DemoteConfig {
    fn default() -> Self {
        DemoteConfig {
            fifo_priority: DEFAULT_FIFO_PRIORITY,
        }
    }
}

/// `[overload.filter]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// When the rules apply.
    pub when: FilterWhen,
    /// Optional eBPF object (XDP-like: return 0 = drop); "" = none.
    pub bpf_object: String,
    /// Action when no rule matches.
    pub default_action: RuleAction,
    /// `[[overload.filter.rules]]`: first match wins.
    pub rules: Vec<FilterRule>,
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            when: DEFAULT_FILTER_WHEN,
            bpf_object: DEFAULT_BPF_OBJECT.to_owned(),
            default_action: DEFAULT_FILTER_ACTION,
            rules: Vec::new(),
        }
    }
}

/// `overload.filter.when`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterWhen {
    /// Only while the worker is overloaded.
    Overload,
    /// On every packet.
    Always,
}

/// `[[overload.filter.rules]]`: all given fields must match.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilterRule {
    /// Unique name (counters and logs use it).
    pub name: String,
    /// EtherType (e.g. 0x0800, 0x86dd, 0x0806).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethertype: Option<u16>,
    /// IP protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<IpProto>,
    /// Source prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<IpPrefix>,
    /// Destination prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<IpPrefix>,
    /// L4 source port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    /// L4 destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    /// DSCP (0..=63).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dscp: Option<u8>,
    /// TCP flags that must be set (`"syn"`) or clear (`"!ack"`), comma separated;
    /// see [`parse_tcp_flags`](super::parse_tcp_flags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_flags: Option<String>,
    /// What a match does.
    pub action: RuleAction,
    /// Rate limit in packets per second (`rate_limit` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pps: Option<u64>,
    /// Token bucket depth in packets (`rate_limit` only; default `pps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
}

impl FilterRule {
    /// The token bucket depth: `burst`, or `pps` when `burst` is not given.
    pub fn effective_burst(&self) -> Option<u64> {
        self.burst.or(self.pps)
    }
}

/// An IP protocol: the named ones, or any protocol number.
///
/// Numbers of the named protocols deserialize to the name (`6` is `Tcp`), so
/// comparing two `IpProto`s compares protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProto {
    /// 6
    Tcp,
    /// 17
    Udp,
    /// 1
    Icmp,
    /// 58
    Icmpv6,
    /// Any other protocol number.
    Other(u8),
}

impl IpProto {
    /// The IP protocol number (IPv4 `protocol`, IPv6 `next header`).
    pub const fn number(self) -> u8 {
        match self {
            IpProto::Tcp => 6,
            IpProto::Udp => 17,
            IpProto::Icmp => 1,
            IpProto::Icmpv6 => 58,
            IpProto::Other(n) => n,
        }
    }

    /// The protocol for a number, named when it has a name.
    pub const fn from_number(n: u8) -> Self {
        match n {
            6 => IpProto::Tcp,
            17 => IpProto::Udp,
            1 => IpProto::Icmp,
            58 => IpProto::Icmpv6,
            n => IpProto::Other(n),
        }
    }

    /// True for protocols whose header starts with 16-bit source and
    /// destination ports: TCP, UDP, DCCP (33), SCTP (132), UDP-Lite (136).
    pub const fn has_ports(self) -> bool {
        matches!(self.number(), 6 | 17 | 33 | 132 | 136)
    }
}

/// `action` of a filter rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// Keep the packet.
    Pass,
    /// Drop it (counted as `filter`).
    Drop,
    /// Token bucket of `pps` / `burst`; over the limit = drop.
    RateLimit,
}

/// `[free]`: where consumed mbufs are freed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FreeConfig {
    /// The freeing strategy.
    pub mode: FreeMode,
    /// Defer ring flush threshold (`skb_defer_max`).
    pub defer_max: u32,
    /// Flush deferred mbufs older than this (µs), even when idle.
    pub max_age_us: u64,
}

impl Default for FreeConfig {
    fn default() -> Self {
        FreeConfig {
            mode: DEFAULT_FREE_MODE,
            defer_max: DEFAULT_DEFER_MAX,
            max_age_us: DEFAULT_MAX_AGE_US,
        }
    }
}

/// `free.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FreeMode {
    /// Free each mbuf where it is consumed.
    Immediate,
    /// Free in bulk where consumed.
    Batch,
    /// Return to the owning worker's defer ring; the owner frees in bulk.
    Owner,
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `ADDR:PORT` of the Prometheus endpoint; "" disables it.
    pub listen: String,
    /// Measure packet latency: stamp each packet's mbuf with the TSC of its
    /// RX burst and record the age at TX (`napifwd_packet_latency_seconds`).
    pub latency: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: DEFAULT_METRICS_LISTEN.to_owned(),
            latency: DEFAULT_METRICS_LATENCY,
        }
    }
}

/// Upper bound of `bench.per_packet_cycles` (about 1 ms at 3 GHz).
pub const MAX_PER_PACKET_CYCLES: u64 = 3_000_000;

impl FilterConfig {
    /// `bpf_object` split into the ELF file and the section holding the
    /// program: `PATH` means section `.text` (where clang puts a plain
    /// function), `PATH:section:NAME` picks section NAME.
    pub fn bpf_path_and_section(&self) -> (&str, &str) {
        match self.bpf_object.rsplit_once(":section:") {
            Some((path, section)) => (path, section),
            None => (self.bpf_object.as_str(), ".text"),
        }
    }
}

/// `[bench]`: benchmark-only knobs. They make napifwd slower on purpose so
/// that benchmarks and flood tests can model a heavier pipeline on a small
/// machine; leave them at their defaults in production.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BenchConfig {
    /// TSC cycles burned per forwarded packet on the worker that forwards
    /// it (after RPS steering), standing in for ACLs, NAT or crypto. 0 = off.
    pub per_packet_cycles: u64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            per_packet_cycles: DEFAULT_PER_PACKET_CYCLES,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// napifwd's level; DPDK's is derived from it (see [`eal_args`](super::eal_args)).
    pub level: LogLevel,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: DEFAULT_LOG_LEVEL,
        }
    }
}

/// `log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Also warnings.
    Warn,
    /// Also start-up and state changes.
    Info,
    /// Also per-event detail.
    Debug,
    /// Everything.
    Trace,
}

impl Config {
    /// The effective configuration as TOML, every default filled in: what
    /// `napifwd check-config` prints. Parsing it gives back `self`.
    pub fn to_toml(&self) -> String {
        match toml::to_string(self) {
            Ok(s) => s,
            // Only integers above i64::MAX (TOML's range) fail, and no parsed
            // config holds one; say so rather than print half a file.
            Err(e) => format!("# the effective config cannot be printed as TOML: {e}\n"),
        }
    }
}
