//! The Prometheus view of a [`Report`]: metric families built at scrape
//! time from one point-in-time report, so `/metrics`, `/status` and the
//! final stats JSON read the same counters the same way.
//!
//! Workers never touch a registry: [`ReportCollector`] is a
//! `prometheus::core::Collector` that asks its [`ReportSource`] for a
//! report when Prometheus scrapes and converts it with [`families`]. Each
//! exported field is one line in one of the tables below (`WORKER_VALUES`,
//! `WORKER_REALS`, `PORT_VALUES`, `POOL_VALUES`), next to the [`names`] constant it feeds.

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{Encoder, Registry, TextEncoder};

use super::names::{self, Kind, MetricDef};
use crate::drop_reason::DropReason;
use crate::latency::LatencySnapshot;
use crate::stats::{PoolStats, PortStats, Report, WorkerStats};

/// Where reports come from: the running appliance ([`crate::app::Observer`])
/// or, in tests, a fixed report.
pub trait ReportSource: Send + Sync + 'static {
    /// A point-in-time report.
    fn report(&self) -> Result<Report, crate::dpdk::DpdkError>;
}

impl ReportSource for crate::app::Observer {
    fn report(&self) -> Result<Report, crate::dpdk::DpdkError> {
        crate::app::Observer::report(self)
    }
}

/// Facts about the process that are not in the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// TSC ticks per second: converts cycle counters to seconds.
    pub tsc_hz: u64,
    /// napifwd version (`napifwd_build_info{version}`).
    pub version: String,
    /// DPDK version string (`napifwd_build_info{dpdk_version}`).
    pub dpdk_version: String,
    /// Git commit napifwd was built from (`napifwd_build_info{commit}`).
    pub commit: String,
}

impl Context {
    /// The context of this build and process (call after EAL init, so the
    /// TSC rate is DPDK's).
    pub fn current() -> Context {
        Context {
            tsc_hz: crate::dpdk::cycles::tsc_hz(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            dpdk_version: crate::dpdk::dpdk_version(),
            commit: env!("NAPIFWD_GIT_COMMIT").to_owned(),
        }
    }

    fn seconds(&self, cycles: u64) -> f64 {
        cycles as f64 / self.tsc_hz.max(1) as f64
    }
}

/// `le` bounds of `napifwd_packet_latency_seconds`: 1 us to 10 s, 1-2.5-5
/// per decade (a forwarder's latency lives in the microseconds; the top
/// buckets show stalls).
pub const LATENCY_LE_SECONDS: &[f64] = &[
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
    5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A table row: the metric and how to read it from one report entry.
type Row<T> = (MetricDef, fn(&T) -> u64);
/// A row for values that are not counts: seconds (some converted from TSC
/// cycles) and fractions.
type RealRow = (MetricDef, fn(&WorkerStats, &Context) -> f64);

/// Per-worker counters and gauges (label `worker`): one line per exported
/// [`WorkerStats`] field. Drops (by reason) and latency (a histogram) are
/// built separately below.
const WORKER_VALUES: &[Row<WorkerStats>] = &[
    (names::WORKER_RECEIVED_PACKETS, |w| w.rx_packets),
    (names::WORKER_PROCESSED_PACKETS, |w| w.processed),
    (names::WORKER_TRANSMITTED_PACKETS, |w| w.tx_packets),
    (names::WORKER_BUDGET_EXHAUSTED, |w| w.budget_exhausted),
    (names::WORKER_TIME_EXHAUSTED, |w| w.time_exhausted),
    (names::WORKER_ROUNDS, |w| w.rounds),
    (names::WORKER_RPS_SENT_PACKETS, |w| w.rps_sent),
    (names::WORKER_RPS_RECEIVED_PACKETS, |w| w.rps_received),
    (names::WORKER_FLOW_LIMITED_PACKETS, |w| w.flow_limited),
    (names::WORKER_RPS_LOCAL_MODE, |w| {
        u64::from(w.rps_local_mode)
    }),
    (names::WORKER_RPS_MODE_SWITCHES, |w| w.rps_mode_switches),
    (names::WORKER_RPS_SHARE_CHANGES, |w| w.rps_share_changes),
    (names::WORKER_BACKLOG_PACKETS, |w| w.backlog_len),
    (names::WORKER_BACKLOG_HIGH_WATER, |w| w.backlog_high_water),
    (names::WORKER_PARKS, |w| w.parks),
    (names::WORKER_KICKS, |w| w.kicks),
    (names::WORKER_BUSY_CYCLES, |w| w.busy_cycles),
    (names::WORKER_IDLE_CYCLES, |w| w.idle_cycles),
    (names::DEFERRED_FREE_SENT, |w| w.deferred_sent),
    (names::DEFERRED_FREE_FREED, |w| w.deferred_freed),
    (names::DEFERRED_FREE_OVERFLOW, |w| w.defer_overflow),
    (names::DEFERRED_FREE_FLUSHES, |w| w.defer_flushes),
    (names::DEFERRED_FREE_PENDING, |w| w.defer_pending),
    (names::OVERLOAD_STATE, |w| u64::from(w.overloaded)),
    (names::OVERLOAD_TRANSITIONS, |w| w.overload_transitions),
];

/// Per-worker values in seconds or fractions (label `worker`).
const WORKER_REALS: &[RealRow] = &[
    (names::WORKER_BUSY_SECONDS, |w, c| c.seconds(w.busy_cycles)),
    (names::WORKER_IDLE_SECONDS, |w, c| c.seconds(w.idle_cycles)),
    (names::OVERLOAD_SECONDS, |w, _| w.overload_seconds),
    (names::WORKER_RPS_LOCAL_SHARE, |w, _| w.rps_local_share),
];

/// The worker's latency counts (empty when `metrics.latency` is off).
fn worker_latency(w: &WorkerStats) -> Option<&LatencySnapshot> {
    Some(&w.latency.histogram)
}

/// Per-port counters (label `port`, the configured name).
const PORT_VALUES: &[Row<PortStats>] = &[
    (names::PORT_RECEIVE_PACKETS, |p| p.rx_packets),
    (names::PORT_TRANSMIT_PACKETS, |p| p.tx_packets),
    (names::PORT_RECEIVE_BYTES, |p| p.rx_bytes),
    (names::PORT_TRANSMIT_BYTES, |p| p.tx_bytes),
    (names::PORT_RECEIVE_MISSED, |p| p.rx_missed),
    (names::PORT_RECEIVE_ERRORS, |p| p.rx_errors),
    (names::PORT_TRANSMIT_ERRORS, |p| p.tx_errors),
    (names::PORT_RECEIVE_NOMBUF, |p| p.rx_nombuf),
];

/// Per-mempool gauges (label `pool`).
const POOL_VALUES: &[Row<PoolStats>] = &[
    (names::MEMPOOL_MBUFS, |p| p.size),
    (names::MEMPOOL_MBUFS_IN_USE, |p| p.in_use),
    (names::MEMPOOL_MBUFS_BASELINE, |p| p.baseline),
];

/// One family being filled.
struct Family {
    def: MetricDef,
    mf: MetricFamily,
}

impl Family {
    fn new(def: MetricDef) -> Family {
        let mut mf = MetricFamily::default();
        mf.set_name(def.name.to_owned());
        mf.set_help(def.help.to_owned());
        mf.set_field_type(match def.kind {
            Kind::Counter => MetricType::COUNTER,
            Kind::Gauge => MetricType::GAUGE,
            Kind::Histogram => MetricType::HISTOGRAM,
        });
        Family { def, mf }
    }

    fn metric(&self, label_values: &[&str]) -> proto::Metric {
        debug_assert_eq!(
            label_values.len(),
            self.def.labels.len(),
            "{}",
            self.def.name
        );
        let mut m = proto::Metric::default();
        m.set_label(
            self.def
                .labels
                .iter()
                .zip(label_values)
                .map(|(&name, &value)| {
                    let mut lp = proto::LabelPair::default();
                    lp.set_name(name.to_owned());
                    lp.set_value(value.to_owned());
                    lp
                })
                .collect(),
        );
        m
    }

    /// Adds a counter or gauge sample.
    fn push(&mut self, label_values: &[&str], value: f64) {
        let mut m = self.metric(label_values);
        match self.def.kind {
            Kind::Counter => {
                let mut c = proto::Counter::default();
                c.set_value(value);
                m.set_counter(c);
            }
            Kind::Gauge => {
                let mut g = proto::Gauge::default();
                g.set_value(value);
                m.set_gauge(g);
            }
            Kind::Histogram => unreachable!("{}: use push_histogram", self.def.name),
        }
        self.mf.mut_metric().push(m);
    }

    /// Adds a histogram from latency counts.
    fn push_histogram(&mut self, label_values: &[&str], s: &LatencySnapshot, tsc_hz: u64) {
        let mut m = self.metric(label_values);
        let mut h = proto::Histogram::default();
        h.set_sample_count(s.count());
        h.set_sample_sum(s.sum_seconds(tsc_hz));
        h.set_bucket(
            s.cumulative(LATENCY_LE_SECONDS, tsc_hz)
                .into_iter()
                .map(|(le, n)| {
                    let mut b = proto::Bucket::default();
                    b.set_upper_bound(le);
                    b.set_cumulative_count(n);
                    b
                })
                .collect(),
        );
        m.set_histogram(h);
        self.mf.mut_metric().push(m);
    }
}

/// The metric families of one report, in [`names::ALL`] order. Families
/// with no sample (e.g. latency before any worker records it) are left
/// out, as the registry would.
pub fn families(r: &Report, ctx: &Context) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    let ids: Vec<String> = r.workers.iter().map(|w| w.id.to_string()).collect();

    for (def, value) in WORKER_VALUES {
        let mut f = Family::new(*def);
        for (w, id) in r.workers.iter().zip(&ids) {
            f.push(&[id], value(w) as f64);
        }
        out.push(f);
    }
    for (def, value) in WORKER_REALS {
        let mut f = Family::new(*def);
        for (w, id) in r.workers.iter().zip(&ids) {
            f.push(&[id], value(w, ctx));
        }
        out.push(f);
    }

    let mut f = Family::new(names::WORKER_DROPPED_PACKETS);
    for (w, id) in r.workers.iter().zip(&ids) {
        for reason in DropReason::ALL {
            let n = w
                .dropped_by_reason
                .get(reason.as_str())
                .copied()
                .unwrap_or(0);
            f.push(&[id, reason.as_str()], n as f64);
        }
    }
    out.push(f);

    let mut f = Family::new(names::PACKET_LATENCY_SECONDS);
    for (w, id) in r.workers.iter().zip(&ids) {
        if let Some(s) = worker_latency(w) {
            f.push_histogram(&[id], s, ctx.tsc_hz);
        }
    }
    out.push(f);

    for (def, value) in PORT_VALUES {
        let mut f = Family::new(*def);
        for (name, p) in &r.ports {
            f.push(&[name], value(p) as f64);
        }
        out.push(f);
    }

    for (def, value) in POOL_VALUES {
        let mut f = Family::new(*def);
        for (name, p) in &r.mempools.pools {
            f.push(&[name], value(p) as f64);
        }
        out.push(f);
    }

    let mut global = |def: MetricDef, labels: &[&str], v: f64| {
        let mut f = Family::new(def);
        f.push(labels, v);
        out.push(f);
    };
    if !r.overload.policy.is_empty() {
        global(names::OVERLOAD_POLICY, &[&r.overload.policy], 1.0);
    }
    global(names::PACKETS_IN_FLIGHT, &[], r.totals.in_flight as f64);
    global(names::UPTIME_SECONDS, &[], r.uptime_seconds);
    global(
        names::BUILD_INFO,
        &[&ctx.version, &ctx.dpdk_version, &ctx.commit],
        1.0,
    );
    let c = &r.config;
    global(
        names::CONFIG_LAST_RELOAD_SUCCESSFUL,
        &[],
        f64::from(u8::from(c.last_reload_successful)),
    );
    global(
        names::CONFIG_LAST_RELOAD_SECONDS,
        &[],
        c.last_reload_unix_seconds as f64,
    );
    global(names::CONFIG_RELOADS, &[], c.reloads_applied as f64);
    global(
        names::CONFIG_RELOADS_REJECTED,
        &[],
        c.reloads_rejected as f64,
    );

    let order = |f: &Family| names::ALL.iter().position(|d| d.name == f.def.name);
    out.sort_by_key(order);
    out.into_iter()
        .filter(|f| !f.mf.get_metric().is_empty())
        .map(|f| f.mf)
        .collect()
}

/// Encodes families in the Prometheus text format 0.0.4.
pub fn encode_text(families: &[MetricFamily]) -> String {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(families, &mut buf)
        .expect("families built from names::ALL are valid");
    String::from_utf8(buf).expect("the text encoder writes UTF-8")
}

/// The `Content-Type` of [`encode_text`]'s output.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The collector: asks the source for a report at every scrape.
pub struct ReportCollector<S: ReportSource> {
    source: std::sync::Arc<S>,
    ctx: Context,
    descs: Vec<Desc>,
}

impl<S: ReportSource> std::fmt::Debug for ReportCollector<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportCollector")
            .field("ctx", &self.ctx)
            .finish_non_exhaustive()
    }
}

impl<S: ReportSource> ReportCollector<S> {
    /// A collector over `source`.
    pub fn new(source: std::sync::Arc<S>, ctx: Context) -> ReportCollector<S> {
        let descs = names::ALL
            .iter()
            .map(|d| {
                Desc::new(
                    d.name.to_owned(),
                    d.help.to_owned(),
                    d.labels.iter().map(|l| (*l).to_owned()).collect(),
                    Default::default(),
                )
                .expect("names::ALL holds valid names (unit-tested)")
            })
            .collect();
        ReportCollector { source, ctx, descs }
    }
}

impl<S: ReportSource> Collector for ReportCollector<S> {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        match self.source.report() {
            Ok(r) => families(&r, &self.ctx),
            Err(e) => {
                // Export what does not need the report, so a scrape still
                // says which build is up; the log says why the rest is missing.
                crate::log_warn!("napifwd: metrics: cannot read counters: {e}");
                families(&Report::default(), &self.ctx)
                    .into_iter()
                    .filter(|f| f.get_name() == names::BUILD_INFO.name)
                    .collect()
            }
        }
    }
}

/// A registry with the report collector registered.
pub fn registry<S: ReportSource>(source: std::sync::Arc<S>, ctx: Context) -> Registry {
    let r = Registry::new();
    r.register(Box::new(ReportCollector::new(source, ctx)))
        .expect("a fresh registry accepts the collector");
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::LatencyHistogram;
    use crate::stats::{MempoolStats, OverloadStats, Totals, WorkerCounters};
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    fn ctx() -> Context {
        Context {
            tsc_hz: 2_000_000_000,
            version: "0.1.0".into(),
            dpdk_version: "DPDK 22.11.4".into(),
            commit: "abc123".into(),
        }
    }

    pub(crate) fn sample_report() -> Report {
        let c = WorkerCounters::default();
        c.rx_packets.add(1000);
        c.processed.add(1000);
        c.tx_packets.add(990);
        c.drop_n(DropReason::NoRoute, 7);
        c.drop_n(DropReason::TtlExceeded, 3);
        c.busy_cycles.add(3_000_000_000);
        c.idle_cycles.add(1_000_000_000);
        c.budget_exhausted.add(5);
        let mut w0 = c.snapshot(0, 1);
        w0.overloaded = true;
        w0.overload_transitions = 1;
        w0.overload_seconds = 2.5;
        let w1 = WorkerCounters::default().snapshot(1, 2);
        let workers = vec![w0, w1];
        let mut ports = BTreeMap::new();
        ports.insert(
            "wan".to_owned(),
            PortStats {
                rx_packets: 1000,
                rx_bytes: 64000,
                rx_missed: 4,
                ..PortStats::default()
            },
        );
        ports.insert("lan".to_owned(), PortStats::default());
        let mut mempools = MempoolStats::default();
        mempools.pools.insert(
            "napifwd_w0".into(),
            PoolStats {
                size: 16383,
                in_use: 1100,
                baseline: 1024,
            },
        );
        Report {
            version: "0.1.0",
            uptime_seconds: 12.5,
            totals: Totals::from_workers(&workers, 0),
            ports,
            workers,
            mempools,
            overload: OverloadStats {
                policy: "drop".into(),
                workers_overloaded: 1,
                rules: Vec::new(),
            },
            config: crate::stats::ConfigStats {
                last_reload_successful: true,
                ..Default::default()
            },
        }
    }

    /// `name{labels} value` lines of the text output, by series.
    fn samples(text: &str) -> BTreeMap<String, f64> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').expect("sample line");
                (k.to_owned(), v.parse().expect("value"))
            })
            .collect()
    }

    #[test]
    fn every_defined_metric_is_exported_from_a_full_report() {
        let fams = families(&sample_report(), &ctx());
        let got: BTreeSet<&str> = fams.iter().map(|f| f.get_name()).collect();
        let want: BTreeSet<&str> = names::ALL.iter().map(|d| d.name).collect();
        assert_eq!(got, want);
        for f in &fams {
            let def = names::ALL.iter().find(|d| d.name == f.get_name()).unwrap();
            for m in f.get_metric() {
                let labels: Vec<&str> = m.get_label().iter().map(|l| l.get_name()).collect();
                assert_eq!(labels, def.labels, "{}", def.name);
            }
        }
    }

    #[test]
    fn text_output_has_types_help_and_values() {
        let text = encode_text(&families(&sample_report(), &ctx()));
        assert!(text.contains("# TYPE napifwd_worker_processed_packets_total counter\n"));
        assert!(text.contains("# HELP napifwd_worker_processed_packets_total Packets that"));
        assert!(text.contains("# TYPE napifwd_worker_backlog_packets gauge\n"));
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut it = line.split(' ').skip(2);
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            assert_eq!(name.ends_with("_total"), kind == "counter", "{line}");
        }
        let s = samples(&text);
        assert_eq!(
            s["napifwd_worker_processed_packets_total{worker=\"0\"}"],
            1000.0
        );
        assert_eq!(
            s["napifwd_worker_processed_packets_total{worker=\"1\"}"],
            0.0
        );
        assert_eq!(
            s["napifwd_worker_dropped_packets_total{worker=\"0\",reason=\"no_route\"}"],
            7.0
        );
        // Zeros are present for every reason and worker, so rate() works
        // from the first drop on.
        let drops = s
            .keys()
            .filter(|k| k.starts_with("napifwd_worker_dropped_packets_total{"))
            .count();
        assert_eq!(drops, 2 * DropReason::COUNT);
        assert_eq!(
            s["napifwd_worker_dropped_packets_total{worker=\"1\",reason=\"tx_full\"}"],
            0.0
        );
        assert_eq!(s["napifwd_worker_busy_seconds_total{worker=\"0\"}"], 1.5);
        assert_eq!(s["napifwd_worker_idle_seconds_total{worker=\"0\"}"], 0.5);
        assert_eq!(s["napifwd_port_receive_missed_total{port=\"wan\"}"], 4.0);
        assert_eq!(s["napifwd_port_receive_bytes_total{port=\"wan\"}"], 64000.0);
        assert_eq!(
            s["napifwd_mempool_mbufs_in_use{pool=\"napifwd_w0\"}"],
            1100.0
        );
        assert_eq!(s["napifwd_uptime_seconds"], 12.5);
        assert_eq!(s["napifwd_overload_state{worker=\"0\"}"], 1.0);
        assert_eq!(s["napifwd_overload_state{worker=\"1\"}"], 0.0);
        assert_eq!(s["napifwd_overload_seconds_total{worker=\"0\"}"], 2.5);
        assert_eq!(s["napifwd_overload_policy{policy=\"drop\"}"], 1.0);
        assert_eq!(
            s["napifwd_build_info{version=\"0.1.0\",dpdk_version=\"DPDK 22.11.4\",commit=\"abc123\"}"],
            1.0
        );
    }

    #[test]
    fn latency_histogram_is_a_prometheus_histogram() {
        let h = LatencyHistogram::default();
        h.record_n(4_000, 90); // 2 us at 2 GHz
        h.record_n(400_000, 10); // 200 us
        let s = h.snapshot();
        let mut f = Family::new(names::PACKET_LATENCY_SECONDS);
        f.push_histogram(&["0"], &s, ctx().tsc_hz);
        let text = encode_text(&[f.mf]);
        assert!(text.contains("# TYPE napifwd_packet_latency_seconds histogram\n"));
        let s = samples(&text);
        let b = |le: &str| {
            s[&format!("napifwd_packet_latency_seconds_bucket{{worker=\"0\",le=\"{le}\"}}")]
        };
        assert_eq!(b("0.000001"), 0.0);
        assert_eq!(b("0.0000025"), 90.0);
        assert_eq!(b("0.0001"), 90.0);
        assert_eq!(b("0.00025"), 100.0);
        assert_eq!(b("+Inf"), 100.0);
        assert_eq!(
            s["napifwd_packet_latency_seconds_count{worker=\"0\"}"],
            100.0
        );
        let sum = s["napifwd_packet_latency_seconds_sum{worker=\"0\"}"];
        assert!((sum - (90.0 * 2e-6 + 10.0 * 2e-4)).abs() < 1e-12, "{sum}");
    }

    struct Fixed(Report);
    impl ReportSource for Fixed {
        fn report(&self) -> Result<Report, crate::dpdk::DpdkError> {
            Ok(self.0.clone())
        }
    }

    #[test]
    fn registry_gathers_through_the_collector() {
        let reg = registry(Arc::new(Fixed(sample_report())), ctx());
        let fams = reg.gather();
        assert!(fams
            .iter()
            .any(|f| f.get_name() == names::WORKER_PROCESSED_PACKETS.name));
        let text = encode_text(&fams);
        assert!(samples(&text).contains_key("napifwd_worker_rounds_total{worker=\"1\"}"));
    }
}
