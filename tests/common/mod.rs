//! Shared machinery of the end-to-end tests: a temp dir per test, pcap I/O,
//! packet builders, a config writer for `net_pcap` ports, a runner that
//! starts the `napifwd` binary as a subprocess with a timeout, and a reader
//! for the final statistics (`--stats-json`) with the invariants every run
//! must keep (`assert_balanced`, `assert_no_mbuf_leak`).
//!
//! One EAL per process: every DPDK run is a separate `napifwd` process with
//! its own temp dir, and DPDK runs are serialised (see [`dpdk_lock`]) because
//! the machine has two cores and every run pins a polling worker to lcore 1.
//!
//! Environment:
//! - `NAPIFWD_BIN=PATH` runs the suite against another binary (e.g. a
//!   release build) instead of the one cargo built;
//! - `NAPIFWD_E2E_KEEP=1` keeps every test's temp dir (config, pcaps, stats
//!   JSON, and for L3 tests `expected.txt`: each input frame's verdict);
//!   a failing test always keeps its own and prints where.
//! - `NAPIFWD_E2E_FLOOD_CYCLES=N` sets the synthetic per-packet cost of the
//!   flooded worker in tests/overload_flood.rs (default 2000, sized for the
//!   debug build; about 500 suits a release build).
#![allow(dead_code)]

pub mod packet;
pub mod pcapio;
pub mod rig;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Read;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use packet::{mac_str, Mac};

/// The binary under test.
pub const NAPIFWD: &str = env!("CARGO_BIN_EXE_napifwd");

/// The binary the tests run: `NAPIFWD_BIN` if set (e.g. a release build),
/// else the one cargo built for this test run.
pub fn napifwd_bin() -> PathBuf {
    std::env::var_os("NAPIFWD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(NAPIFWD))
}

/// A run that takes longer than this is killed and the test fails with its
/// stderr. Each pcap replay should take a few seconds at most.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// `--until-idle` used for every pcap replay.
pub const UNTIL_IDLE_MS: u64 = 300;

/// Every drop reason of the contract (src/drop_reason.rs), in order.
pub const DROP_REASONS: [&str; 13] = [
    "truncated",
    "bad_header",
    "bad_checksum",
    "unsupported",
    "ttl_exceeded",
    "no_route",
    "mtu_exceeded",
    "backlog_full",
    "flow_limit",
    "overload",
    "filter",
    "tx_full",
    "shutdown",
];

// ---------------------------------------------------------------------------
// temp dirs

/// A fresh directory under cargo's per-target temp dir. Removed when the test
/// passes; kept (and its path printed) when the test fails or when
/// `NAPIFWD_E2E_KEEP` is set, so the configs, pcaps and stats of a run can be
/// inspected.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("napifwd-e2e");
        let path = base.join(format!(
            "{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        // net_pcap device arguments are split on ',' and '='.
        let s = path.to_str().expect("utf-8 temp path");
        assert!(
            !s.contains(',') && !s.contains('='),
            "temp path {s} cannot be used in a vdev spec"
        );
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("NAPIFWD_E2E_KEEP").is_some() {
            eprintln!("test files kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------
// serialising DPDK runs

/// Held while a DPDK process runs.
#[derive(Debug)]
pub struct DpdkGuard {
    _thread: MutexGuard<'static, ()>,
    _process: UnixListener,
}

/// Serialises DPDK runs: across the threads of one test binary with a mutex,
/// and across test binaries (e.g. under nextest) with an abstract Unix socket
/// name, which only one process can bind and which the kernel releases when
/// its holder exits, even if it is killed.
pub fn dpdk_lock() -> DpdkGuard {
    static THREADS: Mutex<()> = Mutex::new(());
    let thread = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    let addr = SocketAddr::from_abstract_name(b"napifwd-e2e-dpdk-lock").expect("abstract name");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        match UnixListener::bind_addr(&addr) {
            Ok(l) => {
                return DpdkGuard {
                    _thread: thread,
                    _process: l,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("cannot take the DPDK test lock: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------
// running the binary

/// What a finished `napifwd` process left behind.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// stdout and stderr together, for message checks that should not care
    /// which stream a message went to.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    pub fn describe(&self) -> String {
        format!(
            "status: {}\nelapsed: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// A `napifwd` process started by a test, its output drained by two threads
/// so that a chatty process never blocks on a full pipe.
#[derive(Debug)]
pub struct Running {
    child: std::process::Child,
    args: Vec<std::ffi::OsString>,
    start: Instant,
    out: Option<std::thread::JoinHandle<String>>,
    err: Option<std::thread::JoinHandle<String>>,
}

/// A test that fails before waiting for its napifwd must not leave it
/// running (polling at 100 % of a CPU for every later test).
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = r.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    })
}

/// Starts `napifwd ARGS...` in `cwd`.
pub fn spawn_napifwd<I, S>(args: I, cwd: &Path) -> Running
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn_napifwd_env(args, cwd, &[])
}

/// Starts `napifwd ARGS...` in `cwd` with these environment variables set.
pub fn spawn_napifwd_env<I, S>(args: I, cwd: &Path, env: &[(&str, &str)]) -> Running
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn_napifwd_with(Command::new(napifwd_bin()), args, cwd, env)
}

/// Starts `napifwd ARGS...` in network namespace `ns` (`ip netns exec`,
/// which execs napifwd: the pid is napifwd's, signals reach it).
pub fn spawn_napifwd_in_netns<I, S>(ns: &str, args: I, cwd: &Path) -> Running
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(napifwd_bin());
    spawn_napifwd_with(c, args, cwd, &[])
}

fn spawn_napifwd_with<I, S>(mut cmd: Command, args: I, cwd: &Path, env: &[(&str, &str)]) -> Running
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let bin = napifwd_bin();
    let mut child = cmd
        .args(&args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let out = drain(child.stdout.take().expect("stdout pipe"));
    let err = drain(child.stderr.take().expect("stderr pipe"));
    Running {
        child,
        args,
        start: Instant::now(),
        out: Some(out),
        err: Some(err),
    }
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. "TERM") to this process, and only to it.
    pub fn signal(&self, signal: &str) {
        let st = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits for the process to exit; after `timeout` it is killed and the
    /// test fails with whatever the process printed.
    pub fn wait(mut self, timeout: Duration) -> Output {
        let mut timed_out = false;
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait for napifwd") {
                break st;
            }
            if self.start.elapsed() > timeout {
                timed_out = true;
                let _ = self.child.kill();
                break self.child.wait().expect("wait for killed napifwd");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let join = |h: Option<std::thread::JoinHandle<String>>| {
            h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
        };
        let output = Output {
            status,
            stdout: join(self.out.take()),
            stderr: join(self.err.take()),
            elapsed: self.start.elapsed(),
        };
        if timed_out {
            panic!(
                "napifwd {:?} did not exit within {timeout:?}; killed it\n{}",
                self.args,
                output.describe()
            );
        }
        output
    }
}

/// Runs `napifwd ARGS...` in `cwd` to completion, killing it after
/// `timeout` (the test then fails with whatever the process printed).
pub fn napifwd<I, S>(args: I, cwd: &Path, timeout: Duration) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn_napifwd(args, cwd).wait(timeout)
}

// ---------------------------------------------------------------------------
// configs with net_pcap ports

/// One `net_pcap` port of a test setup.
#[derive(Debug, Clone)]
pub struct PcapPort {
    pub name: String,
    pub mac: Mac,
    pub mtu: Option<u32>,
    /// The pcap napifwd reads (always present; empty if the port gets no input).
    pub rx: PathBuf,
    /// The pcap napifwd writes; with `tx_queues` > 1, the name of queue 0's
    /// file (see [`PcapSetup::tx_queue_files`]).
    pub tx: PathBuf,
    /// TX queues (one `tx_pcap` file each): net_pcap offers as many TX
    /// queues as it is given `tx_pcap` arguments, and every worker needs
    /// its own TX queue on every port.
    pub tx_queues: usize,
}

/// A temp dir with `net_pcap` ports, the config that uses them, and the run.
#[derive(Debug)]
pub struct PcapSetup {
    pub dir: TempDir,
    pub ports: Vec<PcapPort>,
    /// Extra TOML appended to the config (forwarding rules, ...).
    pub extra: String,
    /// The `[eal]` section.
    pub eal: String,
    /// `[workers] lcores`.
    pub workers: Vec<u32>,
    /// More keys of the `[workers]` table (e.g. `fifo_priority = 10`).
    pub workers_extra: String,
}

/// The result of one replay: the process output and the parsed statistics.
#[derive(Debug)]
pub struct Replay {
    pub output: Output,
    pub stats: Stats,
}

impl PcapSetup {
    pub fn new(test_name: &str) -> PcapSetup {
        PcapSetup {
            dir: TempDir::new(test_name),
            ports: Vec::new(),
            extra: String::new(),
            eal: eal_section(),
            workers: vec![1],
            workers_extra: String::new(),
        }
    }

    /// Adds a port whose rx pcap holds `input` (may be empty).
    pub fn port(&mut self, name: &str, mac: Mac, input: &[Vec<u8>]) -> &mut PcapPort {
        let rx = self.dir.join(&format!("{name}-in.pcap"));
        let tx = self.dir.join(&format!("{name}-out.pcap"));
        pcapio::write_pcap(&rx, input);
        self.ports.push(PcapPort {
            name: name.to_owned(),
            mac,
            mtu: None,
            rx,
            tx,
            tx_queues: 1,
        });
        self.ports.last_mut().expect("just pushed")
    }

    pub fn port_named(&self, name: &str) -> &PcapPort {
        self.ports
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no port {name} in the setup"))
    }

    /// The files of each TX queue of port `name`, in queue order.
    pub fn tx_queue_files(&self, name: &str) -> Vec<PathBuf> {
        let p = self.port_named(name);
        if p.tx_queues == 1 {
            return vec![p.tx.clone()];
        }
        (0..p.tx_queues)
            .map(|q| self.dir.join(&format!("{name}-out-q{q}.pcap")))
            .collect()
    }

    /// The config file text: the EAL settings (test defaults: see
    /// [`eal_section`]), one `net_pcap` vdev per port (net_pcap0,
    /// net_pcap1, ...), the workers (default: one on lcore 1), metrics off.
    pub fn config_text(&self) -> String {
        let mut t = String::new();
        t.push_str(&self.eal);
        for (i, p) in self.ports.iter().enumerate() {
            let _ = writeln!(t, "\n[[ports]]");
            let _ = writeln!(t, "name = \"{}\"", p.name);
            let tx: Vec<String> = self
                .tx_queue_files(&p.name)
                .iter()
                .map(|f| format!(",tx_pcap={}", f.display()))
                .collect();
            let _ = writeln!(
                t,
                "device = \"net_pcap{i},rx_pcap={}{}\"",
                p.rx.display(),
                tx.concat()
            );
            let _ = writeln!(t, "mac = \"{}\"", mac_str(&p.mac));
            if let Some(mtu) = p.mtu {
                let _ = writeln!(t, "mtu = {mtu}");
            }
        }
        let workers: Vec<String> = self.workers.iter().map(u32::to_string).collect();
        let _ = write!(
            t,
            "\n[workers]\nlcores = [{}]\n{}\n[metrics]\nlisten = \"\"\n\n",
            workers.join(", "),
            self.workers_extra
        );
        t.push_str(&self.extra);
        t
    }

    pub fn write_config(&self) -> PathBuf {
        let path = self.dir.join("napifwd.toml");
        std::fs::write(&path, self.config_text()).expect("write config");
        path
    }

    /// The arguments of `napifwd run` with this setup's config (written
    /// now) and stats file, followed by `extra`.
    pub fn run_args(&self, extra: &[&str]) -> Vec<std::ffi::OsString> {
        let config = self.write_config();
        let mut args: Vec<std::ffi::OsString> = vec![
            "run".into(),
            "--config".into(),
            config.into(),
            "--stats-json".into(),
            self.stats_path().into(),
            "--log-level".into(),
            "info".into(),
        ];
        args.extend(extra.iter().map(Into::into));
        args
    }

    pub fn stats_path(&self) -> PathBuf {
        self.dir.join("stats.json")
    }

    /// Runs napifwd with `extra` arguments (holding the DPDK lock), requires
    /// exit 0 and a stats file.
    pub fn run_ok(&self, extra: &[&str]) -> Replay {
        let output = {
            let _guard = dpdk_lock();
            napifwd(self.run_args(extra), self.dir.path(), RUN_TIMEOUT)
        };
        self.finish(output)
    }

    /// Checks a finished run: exit 0 and a stats file.
    pub fn finish(&self, output: Output) -> Replay {
        assert_eq!(
            output.code(),
            Some(0),
            "napifwd run failed\nconfig:\n{}\n{}",
            self.config_text(),
            output.describe()
        );
        let stats = Stats::read(&self.stats_path())
            .unwrap_or_else(|e| panic!("{e}\n{}", output.describe()));
        Replay { output, stats }
    }

    /// Replays every rx pcap through napifwd (`--until-idle`), requires
    /// exit 0 and a stats file.
    pub fn replay(&self) -> Replay {
        self.run_ok(&["--until-idle", &UNTIL_IDLE_MS.to_string()])
    }

    /// The frames napifwd wrote on port `name` (a port with one TX queue).
    pub fn output(&self, name: &str) -> Vec<Vec<u8>> {
        let files = self.tx_queue_files(name);
        assert_eq!(files.len(), 1, "port {name} has several TX queues");
        pcapio::read_pcap(&files[0])
    }

    /// The frames napifwd wrote on each TX queue of port `name`.
    pub fn output_by_queue(&self, name: &str) -> Vec<Vec<Vec<u8>>> {
        self.tx_queue_files(name)
            .iter()
            .map(|f| pcapio::read_pcap(f))
            .collect()
    }
}

/// The `[eal]` section every DPDK test uses: two lcores, no hugepages, no
/// shared files, no PCI probing (only the test's vdevs), 256 MB.
pub fn eal_section() -> String {
    eal_section_custom("0-1", 256)
}

/// [`eal_section`] for two workers sharing CPU 1 on a two-core machine
/// (`"0@0,1@1,2@1"`), with 512 MB: a mempool per worker, and LPM6 tables,
/// do not fit in 256.
pub fn eal_section_two_workers() -> String {
    eal_section_custom("0@0,1@1,2@1", 512)
}

pub fn eal_section_custom(lcores: &str, memory_mb: u32) -> String {
    format!(
        "[eal]\n\
         lcores = \"{lcores}\"\n\
         main_lcore = 0\n\
         no_huge = true\n\
         memory_mb = {memory_mb}\n\
         in_memory = true\n\
         args = [\"--no-pci\"]\n"
    )
}

// ---------------------------------------------------------------------------
// final statistics

/// The `--stats-json` document.
#[derive(Debug, Clone)]
pub struct Stats {
    pub json: Value,
}

impl Stats {
    pub fn read(path: &Path) -> Result<Stats, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("no stats JSON at {}: {e}", path.display()))?;
        let json = serde_json::from_str(&text).map_err(|e| {
            format!(
                "stats JSON at {} does not parse: {e}\n{text}",
                path.display()
            )
        })?;
        Ok(Stats { json })
    }

    pub fn pretty(&self) -> String {
        serde_json::to_string_pretty(&self.json).unwrap_or_default()
    }

    /// The unsigned integer at a JSON pointer such as `/totals/rx_packets`.
    pub fn u64_at(&self, pointer: &str) -> u64 {
        self.json
            .pointer(pointer)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| {
                panic!(
                    "stats JSON has no unsigned integer at {pointer}\n{}",
                    self.pretty()
                )
            })
    }

    pub fn total(&self, key: &str) -> u64 {
        self.u64_at(&format!("/totals/{key}"))
    }

    pub fn port(&self, port: &str, key: &str) -> u64 {
        self.u64_at(&format!("/ports/{port}/{key}"))
    }

    /// A `dropped_by_reason` object as a map; every key must be a known reason.
    fn reasons_at(&self, pointer: &str) -> BTreeMap<String, u64> {
        let obj = self
            .json
            .pointer(pointer)
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("stats JSON has no object at {pointer}\n{}", self.pretty()));
        obj.iter()
            .map(|(k, v)| {
                assert!(
                    DROP_REASONS.contains(&k.as_str()),
                    "unknown drop reason {k:?} at {pointer}; the contract's reasons are {DROP_REASONS:?}"
                );
                let n = v
                    .as_u64()
                    .unwrap_or_else(|| panic!("{pointer}/{k} is not a count: {v}"));
                (k.clone(), n)
            })
            .collect()
    }

    /// `totals.dropped_by_reason`, reasons with a zero count left out.
    pub fn drops(&self) -> BTreeMap<String, u64> {
        let mut m = self.reasons_at("/totals/dropped_by_reason");
        m.retain(|_, n| *n != 0);
        m
    }

    pub fn drop_count(&self, reason: &str) -> u64 {
        self.drops().get(reason).copied().unwrap_or(0)
    }

    /// The drop counts are exactly `expected` (reasons not listed must be 0).
    pub fn assert_drops(&self, expected: &[(&str, u64)]) {
        let want: BTreeMap<String, u64> = expected
            .iter()
            .filter(|(_, n)| *n != 0)
            .map(|(r, n)| ((*r).to_owned(), *n))
            .collect();
        assert_eq!(
            self.drops(),
            want,
            "totals.dropped_by_reason (left: napifwd, right: expected)"
        );
    }

    /// The conservation law of design.md section 2 after a drain:
    /// `rx == tx + sum(drops by reason)`, `dropped_packets == sum(drops)`,
    /// `in_flight == 0`, and the per-worker drop counts add up to the totals.
    pub fn assert_balanced(&self) {
        let rx = self.total("rx_packets");
        let tx = self.total("tx_packets");
        let dropped = self.total("dropped_packets");
        let by_reason: u64 = self.drops().values().sum();
        let in_flight = self.total("in_flight");
        assert_eq!(
            in_flight,
            0,
            "totals.in_flight after drain\n{}",
            self.pretty()
        );
        assert_eq!(
            dropped,
            by_reason,
            "totals.dropped_packets != sum(totals.dropped_by_reason)\n{}",
            self.pretty()
        );
        assert_eq!(
            rx,
            tx + by_reason,
            "rx_packets != tx_packets + sum(dropped_by_reason)\n{}",
            self.pretty()
        );
        let workers = self
            .json
            .pointer("/workers")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("stats JSON has no workers list\n{}", self.pretty()));
        assert!(!workers.is_empty(), "workers list is empty");
        let mut sum: BTreeMap<String, u64> = BTreeMap::new();
        for i in 0..workers.len() {
            for (r, n) in self.reasons_at(&format!("/workers/{i}/dropped_by_reason")) {
                *sum.entry(r).or_default() += n;
            }
        }
        sum.retain(|_, n| *n != 0);
        assert_eq!(
            sum,
            self.drops(),
            "sum of workers[].dropped_by_reason != totals.dropped_by_reason\n{}",
            self.pretty()
        );
    }

    /// The port counters agree with the totals, and nothing was missed or
    /// failed at the device level.
    pub fn assert_ports_consistent(&self, ports: &[&str]) {
        let mut rx = 0;
        let mut tx = 0;
        for p in ports {
            rx += self.port(p, "rx_packets");
            tx += self.port(p, "tx_packets");
            for k in ["rx_missed", "rx_errors", "tx_errors"] {
                assert_eq!(self.port(p, k), 0, "ports.{p}.{k}\n{}", self.pretty());
            }
        }
        assert_eq!(
            rx,
            self.total("rx_packets"),
            "sum of ports[].rx_packets != totals.rx_packets"
        );
        assert_eq!(
            tx,
            self.total("tx_packets"),
            "sum of ports[].tx_packets != totals.tx_packets"
        );
    }

    /// Every mbuf taken from a mempool was given back: nothing leaked.
    pub fn assert_no_mbuf_leak(&self) {
        let at_exit = self.json.pointer("/mempools/in_use_at_exit");
        let baseline = self.json.pointer("/mempools/baseline");
        assert!(
            at_exit.is_some() && baseline.is_some(),
            "stats JSON lacks mempools.in_use_at_exit / mempools.baseline\n{}",
            self.pretty()
        );
        assert_eq!(
            at_exit, baseline,
            "mbufs leaked: mempools.in_use_at_exit != mempools.baseline"
        );
    }

    /// The worker list: one entry per configured worker lcore.
    pub fn assert_workers(&self, lcores: &[u64]) {
        let workers = self
            .json
            .pointer("/workers")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("stats JSON has no workers list\n{}", self.pretty()));
        let got: Vec<u64> = (0..workers.len())
            .map(|i| self.u64_at(&format!("/workers/{i}/lcore")))
            .collect();
        assert_eq!(got, lcores, "workers[].lcore");
        // The per-worker fields of the contract (design.md section 3).
        for i in 0..workers.len() {
            assert_eq!(
                self.u64_at(&format!("/workers/{i}/id")),
                i as u64,
                "workers[{i}].id"
            );
            for key in [
                "processed",
                "budget_exhausted",
                "time_exhausted",
                "rps_sent",
                "rps_received",
                "flow_limited",
                "overload_transitions",
            ] {
                self.u64_at(&format!("/workers/{i}/{key}"));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// comparing outputs

/// Compares two frame lists and, on a mismatch, says where and how they
/// differ instead of dumping both lists.
pub fn assert_frames_eq(port: &str, got: &[Vec<u8>], want: &[Vec<u8>]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g != w {
            panic!("port {port}: frame {i} differs\n{}", frame_diff(g, w));
        }
    }
    assert_eq!(
        got.len(),
        want.len(),
        "port {port}: got {} frames, expected {}",
        got.len(),
        want.len()
    );
}

pub fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first `n` bytes in hex, with the total length (frames can be 9 KB).
pub fn hex_head(b: &[u8], n: usize) -> String {
    if b.len() <= n {
        format!("[{} bytes] {}", b.len(), hex(b))
    } else {
        format!("[{} bytes] {} ...", b.len(), hex(&b[..n]))
    }
}

/// How `got` differs from `want`: lengths, the first differing offset, the
/// bytes around it, and both frames' headers.
pub fn frame_diff(got: &[u8], want: &[u8]) -> String {
    let first = got
        .iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    let from = first.saturating_sub(8);
    let window = |b: &[u8]| hex(&b[from.min(b.len())..(first + 24).min(b.len())]);
    format!(
        "  got {} bytes, expected {} bytes; first difference at offset {first}\n  \
         got  @{from}: {}\n  want @{from}: {}\n  got  head: {}\n  want head: {}",
        got.len(),
        want.len(),
        window(got),
        window(want),
        hex_head(got, 64),
        hex_head(want, 64)
    )
}

/// Checks that `got` is an interleaving of the `streams` (each stream's order
/// kept): what one output port must show when several input ports feed it
/// through one worker. Frames must be unique across streams.
pub fn assert_interleaving(port: &str, got: &[Vec<u8>], streams: &[&[Vec<u8>]]) {
    let mut heads = vec![0usize; streams.len()];
    for (i, g) in got.iter().enumerate() {
        let s = (0..streams.len()).find(|&s| streams[s].get(heads[s]) == Some(g));
        match s {
            Some(s) => heads[s] += 1,
            None => {
                let mut msg = format!(
                    "port {port}: frame {i} is not the next expected frame of any input stream"
                );
                for (s, stream) in streams.iter().enumerate() {
                    match stream.get(heads[s]) {
                        Some(w) => {
                            let _ = write!(
                                msg,
                                "\n vs. next of stream {s} (its frame {}):\n{}",
                                heads[s],
                                frame_diff(g, w)
                            );
                        }
                        None => {
                            let _ = write!(msg, "\n stream {s} is complete");
                        }
                    }
                }
                panic!("{msg}");
            }
        }
    }
    for (s, stream) in streams.iter().enumerate() {
        assert_eq!(
            heads[s],
            stream.len(),
            "port {port}: only {} of the {} frames of input stream {s} came out",
            heads[s],
            stream.len()
        );
    }
}

/// The 1-based line of the first line of `text` containing `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in config text"))
        + 1
}

/// Checks the frames written on the TX queues of one port against `streams`
/// (e.g. flows) that must each be handled by a single worker: every frame of
/// every stream came out exactly once, all of a stream on one queue, in the
/// stream's order, and nothing else came out. Frames must be unique.
pub fn assert_streams_split_by_queue(
    port: &str,
    queues: &[Vec<Vec<u8>>],
    streams: &[Vec<Vec<u8>>],
) {
    let mut index: HashMap<&[u8], (usize, usize)> = HashMap::new();
    for (s, stream) in streams.iter().enumerate() {
        for (i, f) in stream.iter().enumerate() {
            assert!(index.insert(f, (s, i)).is_none(), "frames are not unique");
        }
    }
    // stream -> (queue, next index)
    let mut seen: Vec<Option<(usize, usize)>> = vec![None; streams.len()];
    for (q, frames) in queues.iter().enumerate() {
        for (n, f) in frames.iter().enumerate() {
            let &(s, i) = index.get(f.as_slice()).unwrap_or_else(|| {
                panic!(
                    "port {port} queue {q} frame {n} is not an expected frame\n got: {}",
                    hex_head(f, 64)
                )
            });
            match seen[s] {
                None => {
                    assert_eq!(
                        i, 0,
                        "port {port} queue {q}: stream {s} starts at its frame {i}"
                    );
                    seen[s] = Some((q, 1));
                }
                Some((sq, next)) => {
                    assert_eq!(
                        sq, q,
                        "port {port}: stream {s} came out on queues {sq} and {q} (one worker per stream)"
                    );
                    assert_eq!(
                        i, next,
                        "port {port} queue {q}: stream {s} frame {i} came out when frame {next} was due"
                    );
                    seen[s] = Some((q, next + 1));
                }
            }
        }
    }
    for (s, stream) in streams.iter().enumerate() {
        let got = seen[s].map_or(0, |(_, n)| n);
        assert_eq!(
            got,
            stream.len(),
            "port {port}: only {got} of the {} frames of stream {s} came out",
            stream.len()
        );
    }
}

// ---------------------------------------------------------------------------
// eBPF objects

/// Builds a BPF C source with `clang -target bpf` into `dir/name`; returns
/// the object's path.
pub fn build_bpf(source: &Path, dir: &Path, name: &str) -> String {
    let obj = dir.join(name);
    let out = Command::new("clang")
        .args(["-O2", "-target", "bpf", "-c"])
        .arg(source)
        .arg("-o")
        .arg(&obj)
        .output()
        .expect("run clang (scripts/deps.sh installs it)");
    assert!(
        out.status.success(),
        "clang -target bpf {} failed: {}",
        source.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    obj.display().to_string()
}

/// The example filter program shipped in `conf/`.
pub fn example_bpf_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/overload-filter-bpf.c")
}
