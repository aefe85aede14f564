//! Helpers of the free-mode, stop/drain and reload tests (`tests/free_modes.rs`,
//! `tests/stop_drain.rs`, `tests/reload.rs`): configs for two workers on the
//! two CPUs of the machine, flows whose payload carries a (flow, sequence)
//! tag, pcap reading with the TX timestamps net_pcap writes, a `napifwd run`
//! watched through its `/status` endpoint (conditions are polled, never
//! waited for with a fixed sleep), and the accounting checks for a final
//! report that may carry the `shutdown` drop reason.
//!
//! Used as `mod common; mod live;` by each of those test files.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::packet::{mac, mac_str, Frame, Ipv4, Mac};
use crate::common::{self, Output, Running, TempDir};

/// MAC of the source port.
pub const SRC_MAC: &str = "02:00:00:00:00:0a";
/// MAC of the output port.
pub const OUT_MAC: &str = "02:00:00:00:00:0b";
/// The sender of every input frame.
pub const PEER_MAC: &str = "02:00:00:00:99:01";
/// Next hop of the route in the first config of a test.
pub const NEXT_HOP: &str = "02:00:00:00:01:01";

/// Routed destinations (`ROUTED_PREFIX`); the others (`UNROUTED_NET`) have no route.
pub const ROUTED_PREFIX: &str = "198.18.0.0/16";
/// A destination network no config routes: those packets drop as `no_route`.
pub const UNROUTED_NET: &str = "203.0.113";

/// Bytes in front of the tag in every payload, to recognise test frames.
const TAG_MAGIC: [u8; 4] = *b"N5SQ";
/// Offset of the UDP payload in an untagged IPv4 frame without options.
const PAYLOAD_OFFSET: usize = 14 + 20 + 8;

// ---------------------------------------------------------------------------
// configs

/// The `[eal]` section for two workers on a two-CPU machine: main lcore 0
/// and worker lcore 1 share CPU 0, worker lcore 2 has CPU 1.
pub fn eal_two_cpus(memory_mb: u32) -> String {
    common::eal_section_custom("0@0,1@0,2@1", memory_mb)
}

/// A `net_pcap` source port replaying `rx` (forever with `infinite`).
pub fn pcap_source(index: usize, name: &str, rx: &Path, infinite: bool) -> String {
    format!(
        "\n[[ports]]\nname = \"{name}\"\ndevice = \"net_pcap{index},rx_pcap={}{}\"\nmac = \"{SRC_MAC}\"\n",
        rx.display(),
        if infinite { ",infinite_rx=1" } else { "" }
    )
}

/// A `net_pcap` output port with one `tx_pcap` file per TX queue (one per
/// worker) and an empty input.
pub fn pcap_output(index: usize, name: &str, empty_rx: &Path, tx: &[PathBuf]) -> String {
    let txs: String = tx
        .iter()
        .map(|f| format!(",tx_pcap={}", f.display()))
        .collect();
    format!(
        "\n[[ports]]\nname = \"{name}\"\ndevice = \"net_pcap{index},rx_pcap={}{txs}\"\nmac = \"{OUT_MAC}\"\n",
        empty_rx.display()
    )
}

/// A `net_null` sink.
pub fn null_sink(index: usize, name: &str) -> String {
    format!("\n[[ports]]\nname = \"{name}\"\ndevice = \"net_null{index},no-rx=1\"\nmac = \"{OUT_MAC}\"\n")
}

/// `[workers]` with these lcores and drain timeout.
pub fn workers(lcores: &[u32], drain_timeout_ms: Option<u64>) -> String {
    let l: Vec<String> = lcores.iter().map(u32::to_string).collect();
    let mut t = format!("\n[workers]\nlcores = [{}]\n", l.join(", "));
    if let Some(ms) = drain_timeout_ms {
        let _ = writeln!(t, "drain_timeout_ms = {ms}");
    }
    t
}

/// `[rps]` on, with this map (worker lcores; empty = all), software hash.
pub fn rps(map: &[u32], max_backlog: u32) -> String {
    let l: Vec<String> = map.iter().map(u32::to_string).collect();
    format!(
        "\n[rps]\nenabled = true\nworkers = [{}]\nhash = \"software\"\nmax_backlog = {max_backlog}\n",
        l.join(", ")
    )
}

/// L3 forwarding with one route, `ROUTED_PREFIX` to `port` via `next_hop`.
pub fn l3_route(port: &str, next_hop: &str) -> String {
    format!(
        "\n[forward]\nmode = \"l3\"\n\n[[forward.routes]]\nprefix = \"{ROUTED_PREFIX}\"\nport = \"{port}\"\nnext_hop_mac = \"{next_hop}\"\n"
    )
}

/// `[free]`.
pub fn free(mode: &str, defer_max: u32, max_age_us: u64) -> String {
    format!("\n[free]\nmode = \"{mode}\"\ndefer_max = {defer_max}\nmax_age_us = {max_age_us}\n")
}

/// `[bench] per_packet_cycles`.
pub fn bench(per_packet_cycles: u64) -> String {
    format!("\n[bench]\nper_packet_cycles = {per_packet_cycles}\n")
}

/// `[metrics]` on a loopback port.
pub fn metrics(port: u16) -> String {
    format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

// ---------------------------------------------------------------------------
// traffic

/// One UDP flow of the test traffic.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Index, also in every payload.
    pub id: u32,
    /// Destination address.
    pub dst: String,
    /// UDP source port (distinguishes flows to the same destination).
    pub sport: u16,
    /// Whether `dst` is in `ROUTED_PREFIX`.
    pub routed: bool,
}

/// Routed flows `0..n`, `per_flow` frames each (interleaved, `extra`
/// payload bytes), written to `DIR/in.pcap`; returns the flows and the path.
pub fn flows_pcap(dir: &TempDir, n: u32, per_flow: u32, extra: usize) -> (Vec<Flow>, PathBuf) {
    let flows: Vec<Flow> = (0..n).map(|i| flow(i, true)).collect();
    let path = dir.join("in.pcap");
    crate::common::pcapio::write_pcap(&path, &interleave(&flows, per_flow, extra));
    (flows, path)
}

/// Flow `id`: to `198.18.x.y` when `routed`, else to `203.0.113.y`.
pub fn flow(id: u32, routed: bool) -> Flow {
    let dst = if routed {
        format!("198.18.{}.{}", (id >> 8) & 0xff, id & 0xff)
    } else {
        format!("{UNROUTED_NET}.{}", id & 0xff)
    };
    Flow {
        id,
        dst,
        sport: 10_000 + (id % 50_000) as u16,
        routed,
    }
}

/// Packet `seq` of flow `f`: Ethernet / IPv4 / UDP, payload
/// `"N5SQ" flow(u32) seq(u32)` and `extra` filler bytes.
pub fn frame(f: &Flow, seq: u32, extra: usize) -> Vec<u8> {
    let mut data = TAG_MAGIC.to_vec();
    data.extend_from_slice(&f.id.to_be_bytes());
    data.extend_from_slice(&seq.to_be_bytes());
    data.extend_from_slice(&crate::common::packet::filler(f.id ^ (seq << 12), extra));
    let ip = Ipv4::udp("192.0.2.1", &f.dst, f.sport, 4791, &data).with_id(seq as u16);
    Frame::ipv4(mac(SRC_MAC), mac(PEER_MAC), &ip).bytes()
}

/// `per_flow` packets of each flow, interleaved round-robin (packet i of
/// every flow before packet i + 1 of any).
pub fn interleave(flows: &[Flow], per_flow: u32, extra: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(flows.len() * per_flow as usize);
    for seq in 0..per_flow {
        for f in flows {
            out.push(frame(
                f,
                seq,
                extra + (seq as usize * 7 + f.id as usize) % 23,
            ));
        }
    }
    out
}

/// The (flow, sequence) tag of a test frame, if it is one.
pub fn tag(frame: &[u8]) -> Option<(u32, u32)> {
    let p = frame.get(PAYLOAD_OFFSET..PAYLOAD_OFFSET + 12)?;
    if p[..4] != TAG_MAGIC {
        return None;
    }
    let flow = u32::from_be_bytes(p[4..8].try_into().ok()?);
    let seq = u32::from_be_bytes(p[8..12].try_into().ok()?);
    Some((flow, seq))
}

/// The worker (index into the worker list) napifwd's RPS with the software,
/// symmetric hash sends `frame` to, with a map of `nmap` workers `0..nmap`.
/// Only used to choose a traffic mix; no assertion depends on it.
pub fn rps_target(frame: &[u8], nmap: usize) -> usize {
    let key = napifwd::fwd::flow::FlowKey::from_frame(frame).expect("an Ethernet frame");
    napifwd::rps::RpsMap::new((0..nmap).collect())
        .expect("a non-empty map")
        .target(key.hash(true))
}

/// Destination MAC of a frame.
pub fn dst_mac(frame: &[u8]) -> Mac {
    frame[..6].try_into().expect("6 bytes")
}

pub fn mac_of(s: &str) -> Mac {
    mac(s)
}

pub fn mac_string(m: &Mac) -> String {
    mac_str(m)
}

// ---------------------------------------------------------------------------
// HTTP

/// GET `path`; `(status, body)` or `None` when nothing answers.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_owned()))
}

/// The live report, or `None` when the endpoint does not answer 200 + JSON.
pub fn get_status(addr: SocketAddr) -> Option<Value> {
    match http_get(addr, "/status")? {
        (200, body) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// reading reports

/// The unsigned integer at a JSON pointer.
pub fn u(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no unsigned integer at {pointer} in\n{}", pretty(v)))
}

/// `workers[w].key`.
pub fn wk(v: &Value, w: usize, key: &str) -> u64 {
    u(v, &format!("/workers/{w}/{key}"))
}

/// `workers[w].dropped_by_reason[reason]` (absent = 0).
pub fn wdrop(v: &Value, w: usize, reason: &str) -> u64 {
    v.pointer(&format!("/workers/{w}/dropped_by_reason/{reason}"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// `totals.dropped_by_reason[reason]` (absent = 0).
pub fn drop_total(v: &Value, reason: &str) -> u64 {
    v.pointer(&format!("/totals/dropped_by_reason/{reason}"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// `config.key` as a number (booleans as 0/1).
pub fn cfg(v: &Value, key: &str) -> u64 {
    match v.pointer(&format!("/config/{key}")) {
        Some(Value::Bool(b)) => u64::from(*b),
        Some(n) if n.as_u64().is_some() => n.as_u64().unwrap_or(0),
        _ => panic!("no config.{key} in\n{}", pretty(v)),
    }
}

pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn reasons(v: &Value, pointer: &str) -> BTreeMap<String, u64> {
    let obj = v
        .pointer(pointer)
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("no object at {pointer}\n{}", pretty(v)));
    obj.iter()
        .map(|(k, n)| {
            assert!(
                common::DROP_REASONS.contains(&k.as_str()),
                "unknown drop reason {k:?} at {pointer}"
            );
            (k.clone(), n.as_u64().expect("a count"))
        })
        .filter(|(_, n)| *n != 0)
        .collect()
}

/// The checks every final report must pass, whatever the run did:
/// `rx == tx + dropped`, `dropped == sum(by reason)`, `in_flight == 0`,
/// per-worker counters summing to the totals, every pool back to its
/// baseline, no defer ring holding anything, and every mbuf handed to an
/// owner's defer ring freed by that owner.
pub fn assert_accounted(v: &Value) {
    let p = pretty(v);
    let rx = u(v, "/totals/rx_packets");
    let tx = u(v, "/totals/tx_packets");
    let dropped = u(v, "/totals/dropped_packets");
    let by_reason = reasons(v, "/totals/dropped_by_reason");
    assert_eq!(
        u(v, "/totals/in_flight"),
        0,
        "totals.in_flight after the drain\n{p}"
    );
    assert_eq!(
        dropped,
        by_reason.values().sum::<u64>(),
        "dropped_packets != sum(dropped_by_reason)\n{p}"
    );
    assert_eq!(
        rx,
        tx + dropped,
        "rx_packets != tx_packets + dropped_packets\n{p}"
    );
    let nw = v["workers"].as_array().expect("workers").len();
    let sum = |key: &str| (0..nw).map(|w| wk(v, w, key)).sum::<u64>();
    assert_eq!(sum("rx_packets"), rx, "sum of workers[].rx_packets\n{p}");
    assert_eq!(sum("tx_packets"), tx, "sum of workers[].tx_packets\n{p}");
    let mut wsum: BTreeMap<String, u64> = BTreeMap::new();
    for w in 0..nw {
        for (r, n) in reasons(v, &format!("/workers/{w}/dropped_by_reason")) {
            *wsum.entry(r).or_default() += n;
        }
    }
    assert_eq!(wsum, by_reason, "sum of workers[].dropped_by_reason\n{p}");
    for w in 0..nw {
        assert_eq!(
            wk(v, w, "defer_pending"),
            0,
            "workers[{w}].defer_pending at exit\n{p}"
        );
    }
    assert_eq!(
        sum("deferred_sent"),
        sum("deferred_freed"),
        "mbufs handed to an owner's defer ring (deferred_sent) were not all freed by it \
         (deferred_freed)\n{p}"
    );
    assert_no_leak(v);
}

/// Every mempool back to its baseline.
pub fn assert_no_leak(v: &Value) {
    let p = pretty(v);
    assert_eq!(
        u(v, "/mempools/in_use_at_exit"),
        u(v, "/mempools/baseline"),
        "mbufs leaked: mempools.in_use_at_exit != mempools.baseline\n{p}"
    );
    for (name, pool) in v["mempools"]["pools"].as_object().expect("mempools.pools") {
        assert_eq!(
            pool["in_use"], pool["baseline"],
            "mempool {name} not back to its baseline\n{p}"
        );
    }
}

// ---------------------------------------------------------------------------
// a running instance

/// How long a condition on `/status` may take to come true.
pub const WAIT: Duration = Duration::from_secs(30);

/// `napifwd run` with a metrics endpoint, watched through `/status`.
#[derive(Debug)]
pub struct Instance {
    proc: Option<Running>,
    pub addr: SocketAddr,
    pub config: PathBuf,
    pub stats: PathBuf,
    started: Instant,
}

impl Instance {
    /// Writes `config` (which must listen on `port`) and starts
    /// `napifwd run --config --stats-json` with `extra` arguments. The
    /// caller holds the DPDK lock.
    pub fn start(dir: &TempDir, config: &str, port: u16, extra: &[&str]) -> Instance {
        Instance::start_env(dir, config, port, extra, &[])
    }

    /// [`start`](Self::start) with these environment variables set.
    pub fn start_env(
        dir: &TempDir,
        config: &str,
        port: u16,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Instance {
        let path = dir.join("napifwd.toml");
        std::fs::write(&path, config).expect("write config");
        let stats = dir.join("stats.json");
        let mut args: Vec<std::ffi::OsString> = vec![
            "run".into(),
            "--config".into(),
            path.clone().into(),
            "--stats-json".into(),
            stats.clone().into(),
        ];
        args.extend(extra.iter().map(Into::into));
        Instance {
            proc: Some(common::spawn_napifwd_env(args, dir.path(), env)),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            config: path,
            stats,
            started: Instant::now(),
        }
    }

    /// Replaces the config file (the path SIGHUP re-reads).
    pub fn rewrite_config(&self, text: &str) {
        // Write a sibling and rename: the reader never sees half a file.
        let tmp = self.config.with_extension("toml.new");
        std::fs::write(&tmp, text).expect("write config");
        std::fs::rename(&tmp, &self.config).expect("rename config");
    }

    pub fn signal(&self, sig: &str) {
        self.proc.as_ref().expect("running").signal(sig);
    }

    /// The live report, if the endpoint answers.
    pub fn try_status(&self) -> Option<Value> {
        get_status(self.addr)
    }

    /// Polls `/status` until `cond` holds and returns that report. On
    /// timeout the process is killed and the test fails with `what`, the
    /// last report and everything the process printed.
    pub fn wait_for(&mut self, what: &str, cond: impl FnMut(&Value) -> bool) -> Value {
        self.wait_within(WAIT, what, cond)
    }

    /// [`wait_for`](Self::wait_for) with its own deadline.
    pub fn wait_within(
        &mut self,
        timeout: Duration,
        what: &str,
        mut cond: impl FnMut(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            if let Some(v) = self.try_status() {
                if cond(&v) {
                    return v;
                }
                last = Some(v);
            }
            if self.exited() {
                self.fail(&format!(
                    "napifwd exited while the test waited for {what}\nlast /status:\n{}",
                    last.as_ref().map(pretty).unwrap_or_else(|| "none".into())
                ));
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "timed out after {timeout:?} waiting for {what}\nlast /status:\n{}",
                    last.as_ref().map(pretty).unwrap_or_else(|| "none".into())
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// True once the process has exited (it is a zombie until waited for).
    pub fn exited(&self) -> bool {
        let Some(p) = self.proc.as_ref() else {
            return true;
        };
        match std::fs::read_to_string(format!("/proc/{}/stat", p.pid())) {
            // "pid (comm) STATE ...": comm may contain spaces, not ')'.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
            Err(_) => true,
        }
    }

    /// Kills the process and fails the test with `msg` and its output.
    pub fn fail(&mut self, msg: &str) -> ! {
        if let Some(p) = self.proc.take() {
            kill_quietly(p.pid(), "KILL");
            let out = p.wait(Duration::from_secs(600));
            panic!("{msg}\n{}", out.describe());
        }
        panic!("{msg}");
    }

    /// Replaces the config, sends SIGHUP and returns the first report in
    /// which that reload was answered (applied or rejected: the caller
    /// says which it expects).
    pub fn reload(&mut self, text: &str) -> Value {
        let answered = |v: &Value| cfg(v, "reloads_applied") + cfg(v, "reloads_rejected");
        let before = answered(&self.wait_for("a report before the reload", |_| true));
        self.rewrite_config(text);
        self.signal("HUP");
        self.wait_for("the reload to be answered", |v| answered(v) > before)
    }

    /// SIGTERM, then requires exit 0 and a final report in which every
    /// packet is accounted for; returns the output and that report.
    pub fn stop(self) -> (Output, Value) {
        self.signal("TERM");
        let (out, stats) = self.finish(Duration::from_secs(60));
        let v = exited_ok(&out, stats);
        assert_accounted(&v);
        (out, v)
    }

    /// Waits for the process to exit (it was told to stop, or stops by
    /// itself) and returns its output and the final report, if written.
    pub fn finish(mut self, timeout: Duration) -> (Output, Option<Value>) {
        let p = self.proc.take().expect("running");
        let out = p.wait(self.started.elapsed() + timeout);
        let stats = std::fs::read_to_string(&self.stats)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        (out, stats)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(p) = self.proc.take() {
            kill_quietly(p.pid(), "KILL");
            let out = p.wait(Duration::from_secs(600));
            if std::thread::panicking() {
                eprintln!("--- napifwd (killed) ---\n{}", out.describe());
            }
        }
    }
}

/// Sends `sig` to `pid` (a process this test started), ignoring a process
/// that is already gone.
fn kill_quietly(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Requires exit 0 and a final report; returns the report.
pub fn exited_ok(out: &Output, stats: Option<Value>) -> Value {
    assert_eq!(
        out.code(),
        Some(0),
        "napifwd exit status\n{}\n{}",
        out.describe(),
        stats.as_ref().map(summary).unwrap_or_default()
    );
    stats.unwrap_or_else(|| panic!("no --stats-json written\n{}", out.describe()))
}

/// The accounting-related parts of a report, one line each.
pub fn summary(v: &Value) -> String {
    let mut s = format!(
        "--- report summary ---\ntotals: {}\nmempools: {}\n",
        v["totals"], v["mempools"]
    );
    for (i, w) in v["workers"].as_array().into_iter().flatten().enumerate() {
        let _ = writeln!(
            s,
            "worker {i}: rx {} processed {} tx {} drops {} rps_sent {} rps_received {} \
             deferred_sent {} deferred_freed {} defer_overflow {} defer_flushes {} defer_pending {}",
            w["rx_packets"],
            w["processed"],
            w["tx_packets"],
            w["dropped_by_reason"],
            w["rps_sent"],
            w["rps_received"],
            w["deferred_sent"],
            w["deferred_freed"],
            w["defer_overflow"],
            w["defer_flushes"],
            w["defer_pending"]
        );
    }
    s
}

// ---------------------------------------------------------------------------
// sampling /status in the background

/// One `/status` sample: when, rx and tx totals.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    pub rx: u64,
    pub tx: u64,
}

/// Samples `/status` every few milliseconds on a thread of its own, so a
/// test can check afterwards what the counters did (by default: that they
/// never stood still for long).
#[derive(Debug)]
pub struct Sampler<T = Sample> {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<T>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler<Sample> {
    /// Records rx and tx totals every 5 ms.
    pub fn start(addr: SocketAddr) -> Sampler<Sample> {
        Sampler::start_with(addr, Duration::from_millis(5), |st| Sample {
            at: Instant::now(),
            rx: u(st, "/totals/rx_packets"),
            tx: u(st, "/totals/tx_packets"),
        })
    }
}

impl<T: Send + 'static> Sampler<T> {
    /// Records `sample(status)` every `period`.
    pub fn start_with(
        addr: SocketAddr,
        period: Duration,
        sample: impl Fn(&Value) -> T + Send + 'static,
    ) -> Sampler<T> {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s, v) = (stop.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(st) = get_status(addr) {
                    v.lock().expect("samples").push(sample(&st));
                }
                std::thread::sleep(period);
            }
        });
        Sampler {
            stop,
            samples,
            thread: Some(thread),
        }
    }
}

impl<T> Sampler<T> {
    /// Stops sampling and returns the samples in time order.
    pub fn stop(mut self) -> Vec<T> {
        self.halt();
        std::mem::take(&mut *self.samples.lock().expect("samples"))
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl<T> Drop for Sampler<T> {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The longest time rx (and, separately, tx) stood still between the first
/// and the last sample.
pub fn longest_stall(samples: &[Sample]) -> (Duration, Duration) {
    let stall = |get: fn(&Sample) -> u64| {
        let mut longest = Duration::ZERO;
        let mut since = samples.first().map(|s| (s.at, get(s)));
        for s in samples {
            if let Some((t0, v0)) = since {
                if get(s) != v0 {
                    longest = longest.max(s.at - t0);
                    since = Some((s.at, get(s)));
                }
            }
        }
        if let (Some((t0, _)), Some(last)) = (since, samples.last()) {
            longest = longest.max(last.at - t0);
        }
        longest
    };
    (stall(|s| s.rx), stall(|s| s.tx))
}
