//! Every metric napifwd exports, defined once: name, type, HELP text and
//! label names. The exposition ([`super::exposition`]), the tests, the
//! Grafana dashboard and the docs all use these names; a metric that is not
//! here cannot be exported.
//!
//! Conventions (design.md §3, Prometheus naming): prefix `napifwd_`;
//! counters end in `_total`; base units in the name (`_seconds`, `_bytes`,
//! `_packets`); labels only `worker`, `port`, `queue`, `reason`, `policy`,
//! `pool` — never addresses or flows — except `napifwd_build_info`, whose
//! value is always 1 and whose labels carry the versions (one series per
//! process, the usual `*_build_info` pattern). The unit tests check all of
//! this for every entry of [`ALL`].

/// The Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic; name ends in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// `_bucket{le}`, `_sum`, `_count`.
    Histogram,
}

/// One metric's definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// The full name.
    pub name: &'static str,
    /// The `# HELP` text: what it counts, and where the number comes from.
    pub help: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Label names, in the order values are given.
    pub labels: &'static [&'static str],
}

/// Label names the design allows (design.md §3).
pub const ALLOWED_LABELS: &[&str] = &["worker", "port", "queue", "reason", "policy", "pool"];

/// Defines each metric as a `pub const` and lists them all in [`ALL`].
macro_rules! metrics {
    ($($(#[$doc:meta])* $id:ident = $kind:ident $name:literal [$($label:literal),*] $help:literal;)*) => {
        $(
            $(#[$doc])*
            #[doc = $help]
            pub const $id: MetricDef = MetricDef {
                name: $name,
                help: $help,
                kind: Kind::$kind,
                labels: &[$($label),*],
            };
        )*
        /// Every metric, in definition (and exposition) order.
        pub const ALL: &[MetricDef] = &[$($id),*];
    };
}

metrics! {
    // per worker (the softnet_stat of napifwd)
    WORKER_RECEIVED_PACKETS = Counter "napifwd_worker_received_packets_total" ["worker"]
        "Packets the worker took from its RX queues.";
    WORKER_PROCESSED_PACKETS = Counter "napifwd_worker_processed_packets_total" ["worker"]
        "Packets that reached a forwarding decision on the worker (softnet_stat processed).";
    WORKER_TRANSMITTED_PACKETS = Counter "napifwd_worker_transmitted_packets_total" ["worker"]
        "Packets the worker's TX queues accepted.";
    WORKER_DROPPED_PACKETS = Counter "napifwd_worker_dropped_packets_total" ["worker", "reason"]
        "Packets the worker dropped, by drop reason (every reason is present, zeros included).";
    WORKER_BUDGET_EXHAUSTED = Counter "napifwd_worker_budget_exhausted_total" ["worker"]
        "NAPI rounds that ended because the packet budget (napi.budget) ran out with work left.";
    WORKER_TIME_EXHAUSTED = Counter "napifwd_worker_time_exhausted_total" ["worker"]
        "NAPI rounds that ended because the time budget (napi.budget_us) ran out with work left.";
    WORKER_ROUNDS = Counter "napifwd_worker_rounds_total" ["worker"]
        "NAPI rounds the worker ran.";
    WORKER_RPS_SENT_PACKETS = Counter "napifwd_worker_rps_sent_packets_total" ["worker"]
        "Packets the worker steered (RPS) to other workers' backlogs.";
    WORKER_RPS_RECEIVED_PACKETS = Counter "napifwd_worker_rps_received_packets_total" ["worker"]
        "Packets the worker took from its own backlog (steered to it by RPS).";
    WORKER_FLOW_LIMITED_PACKETS = Counter "napifwd_worker_flow_limited_packets_total" ["worker"]
        "Packets the worker dropped under the RPS flow limit when steering them (also counted as reason flow_limit).";
    WORKER_RPS_LOCAL_MODE = Gauge "napifwd_worker_rps_local_mode" ["worker"]
        "Adaptive RPS (rps.adaptive): 1 while the worker forwards everything it receives itself, 0 while it steers.";
    WORKER_RPS_MODE_SWITCHES = Counter "napifwd_worker_rps_mode_switches_total" ["worker"]
        "Adaptive RPS: probes after which the worker changed between steering and forwarding inline.";
    WORKER_RPS_LOCAL_SHARE = Gauge "napifwd_worker_rps_local_share" ["worker"]
        "Share of the flows (by hash) the RX worker forwards itself, 0 to 1: the rps map's, or what rps.balance or rps.adaptive chose.";
    WORKER_RPS_SHARE_CHANGES = Counter "napifwd_worker_rps_share_changes_total" ["worker"]
        "RPS balancing (rps.balance): times the worker moved flows between itself and its peers (a step moves 1/16 of them, a half step 1/32).";
    WORKER_BACKLOG_PACKETS = Gauge "napifwd_worker_backlog_packets" ["worker"]
        "Packets the worker found in its backlog ring at its last visit.";
    WORKER_BACKLOG_HIGH_WATER = Gauge "napifwd_worker_backlog_high_water_packets" ["worker"]
        "Highest backlog length the worker has seen since start.";
    WORKER_PARKS = Counter "napifwd_worker_parks_total" ["worker"]
        "Times the worker parked (slept) for lack of work.";
    WORKER_KICKS = Counter "napifwd_worker_kicks_total" ["worker"]
        "Times another worker woke this worker from a park.";
    WORKER_BUSY_CYCLES = Counter "napifwd_worker_busy_cycles_total" ["worker"]
        "TSC cycles the worker spent in rounds that found work.";
    WORKER_IDLE_CYCLES = Counter "napifwd_worker_idle_cycles_total" ["worker"]
        "TSC cycles the worker spent in rounds that found no work.";
    WORKER_BUSY_SECONDS = Counter "napifwd_worker_busy_seconds_total" ["worker"]
        "Seconds the worker spent in rounds that found work (busy cycles / TSC Hz).";
    WORKER_IDLE_SECONDS = Counter "napifwd_worker_idle_seconds_total" ["worker"]
        "Seconds the worker spent in rounds that found no work (idle cycles / TSC Hz).";
    DEFERRED_FREE_SENT = Counter "napifwd_deferred_free_sent_mbufs_total" ["worker"]
        "Dropped mbufs the worker handed back to their owner's defer ring (free.mode = owner).";
    DEFERRED_FREE_FREED = Counter "napifwd_deferred_free_freed_mbufs_total" ["worker"]
        "Mbufs the worker freed in bulk from its own defer ring.";
    DEFERRED_FREE_OVERFLOW = Counter "napifwd_deferred_free_overflow_mbufs_total" ["worker"]
        "Dropped mbufs freed where they were consumed because the owner's defer ring was full.";
    DEFERRED_FREE_FLUSHES = Counter "napifwd_deferred_free_flushes_total" ["worker"]
        "Flushes of the worker's defer ring (at defer_max, at max_age_us, or when idle).";
    DEFERRED_FREE_PENDING = Gauge "napifwd_deferred_free_pending_mbufs" ["worker"]
        "Mbufs waiting in the worker's defer ring for it to free them.";
    OVERLOAD_STATE = Gauge "napifwd_overload_state" ["worker"]
        "1 while the worker's overload detector says overloaded, else 0.";
    OVERLOAD_TRANSITIONS = Counter "napifwd_overload_transitions_total" ["worker"]
        "Times the worker's overload detector changed state (in or out).";
    OVERLOAD_SECONDS = Counter "napifwd_overload_seconds_total" ["worker"]
        "Seconds the worker has spent overloaded.";
    PACKET_LATENCY_SECONDS = Histogram "napifwd_packet_latency_seconds" ["worker"]
        "Time from RX (stamped per burst) to TX of forwarded packets, per worker.";

    // overload policy
    OVERLOAD_POLICY = Gauge "napifwd_overload_policy" ["policy"]
        "Always 1; the label is the configured overload.policy (none, drop, demote, filter).";

    // per port (rte_eth_stats)
    PORT_RECEIVE_PACKETS = Counter "napifwd_port_receive_packets_total" ["port"]
        "Packets the device received (rte_eth_stats ipackets).";
    PORT_TRANSMIT_PACKETS = Counter "napifwd_port_transmit_packets_total" ["port"]
        "Packets the device transmitted (rte_eth_stats opackets).";
    PORT_RECEIVE_BYTES = Counter "napifwd_port_receive_bytes_total" ["port"]
        "Bytes the device received (rte_eth_stats ibytes).";
    PORT_TRANSMIT_BYTES = Counter "napifwd_port_transmit_bytes_total" ["port"]
        "Bytes the device transmitted (rte_eth_stats obytes).";
    PORT_RECEIVE_MISSED = Counter "napifwd_port_receive_missed_total" ["port"]
        "Packets the device dropped because no RX descriptor was free (rte_eth_stats imissed): the workers did not keep up.";
    PORT_RECEIVE_ERRORS = Counter "napifwd_port_receive_errors_total" ["port"]
        "Erroneous packets the device received (rte_eth_stats ierrors).";
    PORT_TRANSMIT_ERRORS = Counter "napifwd_port_transmit_errors_total" ["port"]
        "Packets the device failed to transmit (rte_eth_stats oerrors).";
    PORT_RECEIVE_NOMBUF = Counter "napifwd_port_receive_nombuf_total" ["port"]
        "RX mbuf allocation failures (rte_eth_stats rx_nombuf): the mempool ran dry.";

    // per mempool
    MEMPOOL_MBUFS = Gauge "napifwd_mempool_mbufs" ["pool"]
        "Mbufs in the mempool (its size).";
    MEMPOOL_MBUFS_IN_USE = Gauge "napifwd_mempool_mbufs_in_use" ["pool"]
        "Mbufs of the mempool allocated when scraped.";
    MEMPOOL_MBUFS_BASELINE = Gauge "napifwd_mempool_mbufs_baseline" ["pool"]
        "Mbufs of the mempool allocated right after the ports started (RX rings); in use returns here when idle.";

    // process
    PACKETS_IN_FLIGHT = Gauge "napifwd_packets_in_flight" []
        "Packets held inside napifwd (TX buffers, backlogs) when scraped: received = transmitted + dropped + in flight, exactly at exit, within one NAPI round (napi.budget packets) per worker while forwarding (workers are not stopped to be read).";
    UPTIME_SECONDS = Gauge "napifwd_uptime_seconds" []
        "Seconds since the workers started.";
    BUILD_INFO = Gauge "napifwd_build_info" ["version", "dpdk_version", "commit"]
        "Always 1; the labels say which napifwd (version, git commit) and which DPDK runs.";
    CONFIG_LAST_RELOAD_SUCCESSFUL = Gauge "napifwd_config_last_reload_successful" []
        "1 if the last configuration load or reload succeeded, else 0.";
    CONFIG_LAST_RELOAD_SECONDS = Gauge "napifwd_config_last_reload_success_timestamp_seconds" []
        "Unix time of the last applied SIGHUP reload (0 if none).";
    CONFIG_RELOADS = Counter "napifwd_config_reloads_total" []
        "SIGHUP reloads applied.";
    CONFIG_RELOADS_REJECTED = Counter "napifwd_config_reloads_rejected_total" []
        "SIGHUP reloads rejected (invalid file, or a change that needs a restart).";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_snake(s: &str) -> bool {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !s.starts_with('_')
            && !s.ends_with('_')
            && !s.contains("__")
    }

    #[test]
    fn names_follow_the_conventions() {
        let mut seen = std::collections::HashSet::new();
        for m in ALL {
            assert!(seen.insert(m.name), "{} defined twice", m.name);
            assert!(m.name.starts_with("napifwd_"), "{}: prefix", m.name);
            assert!(is_snake(m.name), "{}: snake_case", m.name);
            assert_eq!(
                m.name.ends_with("_total"),
                m.kind == Kind::Counter,
                "{}: counters and only counters end in _total",
                m.name
            );
            for suffix in ["_count", "_sum", "_bucket"] {
                assert!(!m.name.ends_with(suffix), "{}: reserved suffix", m.name);
            }
            for word in m.name.split('_') {
                let scaled = [
                    "milliseconds",
                    "microseconds",
                    "nanoseconds",
                    "us",
                    "ms",
                    "ns",
                    "kb",
                    "mb",
                    "kilobytes",
                    "megabytes",
                    "percent",
                    "ratio_percent",
                ];
                assert!(!scaled.contains(&word), "{}: base units only", m.name);
            }
            if m.kind == Kind::Histogram {
                assert!(m.name.ends_with("_seconds"), "{}: histogram unit", m.name);
            }
            assert!(
                m.help.len() > 10 && m.help.ends_with('.'),
                "{}: help says what it counts",
                m.name
            );
            for l in m.labels {
                assert!(is_snake(l), "{}: label {l}", m.name);
                if m.name != BUILD_INFO.name {
                    assert!(
                        ALLOWED_LABELS.contains(l),
                        "{}: label {l} not allowed",
                        m.name
                    );
                }
            }
        }
    }
}
