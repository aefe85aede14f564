//! Setups beyond the all-`net_pcap` configs of [`super::PcapSetup`]: a
//! config written by the test with any vdev per port (`net_null` sinks,
//! `net_pcap,infinite_rx=1` floods, `net_af_packet` on a veth), and what the
//! backlog-worker and overload tests observe from outside the process:
//! worker threads in `/proc` (their scheduling policy, their CPU time), a
//! CPU-bound competitor process pinned to a CPU, and a network namespace
//! with a veth pair for kernel-peer tests.
//!
//! Conditions are polled ([`wait_for`]), never slept on.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{dpdk_lock, napifwd, spawn_napifwd, DpdkGuard, Output, Replay, Running, Stats};
use super::{TempDir, RUN_TIMEOUT};

/// A temp dir and a config text the test wrote itself.
#[derive(Debug)]
pub struct Rig {
    pub dir: TempDir,
    pub config: String,
}

impl Rig {
    pub fn new(test_name: &str) -> Rig {
        Rig {
            dir: TempDir::new(test_name),
            config: String::new(),
        }
    }

    /// A path in the temp dir as a string usable in a vdev spec.
    pub fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("napifwd.toml")
    }

    pub fn stats_path(&self) -> PathBuf {
        self.dir.join("stats.json")
    }

    /// `run --config ... --stats-json ...` followed by `extra`; writes the
    /// config file now.
    pub fn args(&self, extra: &[&str]) -> Vec<OsString> {
        std::fs::write(self.config_path(), &self.config).expect("write config");
        let _ = std::fs::remove_file(self.stats_path());
        let mut a: Vec<OsString> = vec![
            "run".into(),
            "--config".into(),
            self.config_path().into(),
            "--stats-json".into(),
            self.stats_path().into(),
            "--log-level".into(),
            "info".into(),
        ];
        a.extend(extra.iter().map(Into::into));
        a
    }

    /// Runs napifwd to completion under the DPDK lock, whatever it returns.
    pub fn run(&self, extra: &[&str]) -> Output {
        let _guard = dpdk_lock();
        napifwd(self.args(extra), self.dir.path(), RUN_TIMEOUT)
    }

    /// Runs napifwd, requires exit 0 and a stats file.
    pub fn run_ok(&self, extra: &[&str]) -> Replay {
        let out = self.run(extra);
        self.finish(out)
    }

    /// Starts napifwd and returns it with the DPDK lock, which the caller
    /// holds until the process has exited.
    pub fn spawn(&self, extra: &[&str]) -> (DpdkGuard, Running) {
        let guard = dpdk_lock();
        let running = spawn_napifwd(self.args(extra), self.dir.path());
        (guard, running)
    }

    /// Checks a finished run: exit 0 and a stats file.
    pub fn finish(&self, output: Output) -> Replay {
        assert_eq!(
            output.code(),
            Some(0),
            "napifwd run failed\nconfig:\n{}\n{}",
            self.config,
            output.describe()
        );
        let stats = Stats::read(&self.stats_path())
            .unwrap_or_else(|e| panic!("{e}\n{}", output.describe()));
        Replay { output, stats }
    }
}

// ---------------------------------------------------------------------------
// polling

/// Polls `f` every few milliseconds until it returns `Some`, and returns
/// that; fails the test with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------
// threads of a running process, through /proc

/// The thread of process `pid` whose name (`comm`) is `name`, if any.
pub fn find_thread(pid: u32, name: &str) -> Option<u32> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for e in dir.flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            return e.file_name().to_str()?.parse().ok();
        }
    }
    None
}

/// Fields of `/proc/PID/task/TID/stat` after the `(comm)` field, so that
/// index 0 is field 3 (`state`) of proc(5).
fn stat_fields(pid: u32, tid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    let (_, rest) = s.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Linux scheduling policies (sched(7)).
pub const SCHED_OTHER: u32 = 0;
pub const SCHED_FIFO: u32 = 1;

/// The scheduling policy of a thread (proc(5) field 41), `None` once it
/// is gone.
pub fn thread_policy(pid: u32, tid: u32) -> Option<u32> {
    stat_fields(pid, tid)?.get(38)?.parse().ok()
}

/// CPU time a thread has run so far (`schedstat`, nanoseconds).
pub fn thread_cpu_ns(pid: u32, tid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Waits until `running` has a worker thread named `napifwd-w<id>` (it is
/// renamed when its worker loop starts) and returns its tid.
pub fn wait_for_worker(running: &Running, id: usize) -> u32 {
    let name = format!("napifwd-w{id}");
    wait_for(&format!("thread {name}"), Duration::from_secs(20), || {
        find_thread(running.pid(), &name)
    })
}

/// Records the scheduling policy changes of one thread of a process, seen
/// from a separate process that runs SCHED_FIFO above the workers
/// (`chrt -f 50`): when SCHED_FIFO pollers hold every CPU, a normal thread
/// of the test would only get to look now and then.
#[derive(Debug)]
pub struct PolicyWatch {
    child: std::process::Child,
}

const POLICY_WATCH: &str = "import os, sys, time\n\
    pid, name = sys.argv[1], sys.argv[2]\n\
    t0 = time.monotonic()\n\
    tid = None\n\
    while tid is None and time.monotonic() - t0 < 60:\n\
    \x20   try:\n\
    \x20       tasks = os.listdir('/proc/%s/task' % pid)\n\
    \x20   except OSError:\n\
    \x20       sys.exit(0)\n\
    \x20   for t in tasks:\n\
    \x20       try:\n\
    \x20           if open('/proc/%s/task/%s/comm' % (pid, t)).read().strip() == name:\n\
    \x20               tid = t\n\
    \x20       except OSError:\n\
    \x20           pass\n\
    \x20   time.sleep(0.0005)\n\
    last = None\n\
    while tid is not None:\n\
    \x20   try:\n\
    \x20       st = open('/proc/%s/task/%s/stat' % (pid, tid)).read()\n\
    \x20   except OSError:\n\
    \x20       break\n\
    \x20   pol = int(st.rsplit(')', 1)[1].split()[38])\n\
    \x20   if pol != last:\n\
    \x20       print('%.6f %d' % (time.monotonic() - t0, pol), flush=True)\n\
    \x20       last = pol\n\
    \x20   time.sleep(0.0005)\n";

impl PolicyWatch {
    /// Starts watching thread `name` of process `pid` (it may not exist yet).
    pub fn start(pid: u32, name: &str) -> PolicyWatch {
        let child = Command::new("chrt")
            .args([
                "-f",
                "50",
                "python3",
                "-c",
                POLICY_WATCH,
                &pid.to_string(),
                name,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the policy watcher: chrt (util-linux) and python3 are needed");
        PolicyWatch { child }
    }

    /// Waits until the thread is gone; returns (seconds since the start,
    /// policy) at each change.
    pub fn finish(self) -> Vec<(f64, u32)> {
        let out = self
            .child
            .wait_with_output()
            .expect("policy watcher output");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (t, p) = l.split_once(' ')?;
                Some((t.parse().ok()?, p.parse().ok()?))
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// a CPU-bound competitor

/// A CPU-bound process pinned to a CPU (`taskset -c`) that counts loop
/// iterations for a given wall-clock time: its count is the CPU share it
/// got. It is started (and has loaded its interpreter) before the window
/// opens, so a CPU it has to fight for delays only its loop.
#[derive(Debug)]
pub struct Competitor {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

const COMPETITOR: &str = "import sys, time\n\
    print('ready', flush=True)\n\
    secs = float(sys.stdin.readline())\n\
    end = time.monotonic() + secs\n\
    n = 0\n\
    while time.monotonic() < end:\n\
    \x20   for _ in range(1000):\n\
    \x20       pass\n\
    \x20   n += 1\n\
    print(n, flush=True)\n";

impl Competitor {
    /// Starts it on `cpu` and waits until it is ready.
    pub fn start(cpu: u32) -> Competitor {
        use std::io::BufRead;
        let mut child = Command::new("taskset")
            .args(["-c", &cpu.to_string(), "python3", "-c", COMPETITOR])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the competitor: taskset (util-linux) and python3 are needed");
        let stdin = child.stdin.take().expect("competitor stdin");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("competitor stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("competitor ready line");
        assert_eq!(line.trim(), "ready", "competitor did not start");
        Competitor {
            child,
            stdin,
            stdout,
        }
    }

    /// Lets it loop for `secs` seconds (from when it next gets the CPU)
    /// and returns its iteration count.
    pub fn run(mut self, secs: f64) -> u64 {
        use std::io::{BufRead, Write};
        writeln!(self.stdin, "{secs}").expect("start the competitor");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("competitor count");
        let _ = self.child.wait();
        line.trim()
            .parse()
            .unwrap_or_else(|_| panic!("competitor printed {line:?}"))
    }
}

/// [`Competitor`] on `cpu` for `secs`, start to end.
pub fn competitor(cpu: u32, secs: f64) -> u64 {
    Competitor::start(cpu).run(secs)
}

// ---------------------------------------------------------------------------
// a network namespace with a veth pair

/// A veth pair: `host_if` in the test's namespace (napifwd's
/// `net_af_packet` binds it), `peer_if` in a fresh network namespace `ns`
/// (the kernel peer sends from there). IPv6 is off on both ends so the
/// kernel sends nothing on its own (no router or neighbour solicitations).
/// Dropping it deletes the namespace, and with it the pair.
#[derive(Debug)]
pub struct VethNs {
    pub ns: String,
    pub host_if: String,
    pub peer_if: String,
}

fn sh(cmd: &[&str]) {
    run_checked(
        Command::new(cmd[0]).args(&cmd[1..]),
        "kernel-peer tests need root, iproute2 and network namespaces",
    );
}

/// Runs `cmd` (stdin from /dev/null), requires success, returns stdout;
/// a failure shows both outputs and `hint`.
pub fn run_checked(cmd: &mut Command, hint: &str) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {cmd:?}: {e} ({hint})"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}\n({hint})",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Turns IPv6 off on an interface (in namespace `ns`, or the test's own),
/// where the kernel has IPv6 at all.
fn disable_ipv6(ns: Option<&str>, ifname: &str) {
    match ns {
        None => {
            let path = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
            if Path::new(&path).exists() {
                std::fs::write(&path, "1").unwrap_or_else(|e| panic!("write {path}: {e}"));
            }
        }
        Some(ns) => {
            let key = format!("net.ipv6.conf.{ifname}.disable_ipv6=1");
            let _ = Command::new("ip")
                .args(["netns", "exec", ns, "sysctl", "-qw", &key])
                .stdin(Stdio::null())
                .output();
        }
    }
}

impl VethNs {
    /// Creates the namespace and the pair, both ends up. Names carry the
    /// test process id so parallel suites do not collide.
    pub fn new(tag: &str) -> VethNs {
        let id = std::process::id();
        let v = VethNs {
            ns: format!("nfwd-{tag}-{id}"),
            host_if: format!("nf{tag}h{}", id % 100_000),
            peer_if: format!("nf{tag}p{}", id % 100_000),
        };
        assert!(v.host_if.len() <= 15, "interface name too long");
        // Leftovers of a killed earlier run with the same pid.
        let _ = Command::new("ip")
            .args(["netns", "del", &v.ns])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &v.host_if])
            .stderr(Stdio::null())
            .status();
        sh(&["ip", "netns", "add", &v.ns]);
        sh(&[
            "ip", "link", "add", &v.host_if, "type", "veth", "peer", "name", &v.peer_if, "netns",
            &v.ns,
        ]);
        disable_ipv6(None, &v.host_if);
        disable_ipv6(Some(&v.ns), &v.peer_if);
        sh(&["ip", "link", "set", &v.host_if, "up"]);
        sh(&["ip", "-n", &v.ns, "link", "set", &v.peer_if, "up"]);
        sh(&["ip", "-n", &v.ns, "link", "set", "lo", "up"]);
        v
    }

    /// A command run inside the namespace (`ip netns exec NS PROGRAM`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }
}

impl Drop for VethNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ns])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .stderr(Stdio::null())
            .status();
    }
}

/// Complete frames in a pcap file that may still be being written (a
/// partial last record is not counted); 0 if it does not exist yet.
pub fn pcap_frames_so_far(path: &Path) -> usize {
    let Ok(b) = std::fs::read(path) else {
        return 0;
    };
    let mut off = 24;
    let mut n = 0;
    while off + 16 <= b.len() {
        let incl = u32::from_le_bytes([b[off + 8], b[off + 9], b[off + 10], b[off + 11]]) as usize;
        if off + 16 + incl > b.len() {
            break;
        }
        off += 16 + incl;
        n += 1;
    }
    n
}

/// Every frame of a finished pcap file with its timestamp (seconds since
/// the epoch; net_pcap stamps a frame when it transmits it).
pub fn read_pcap_timed(path: &Path) -> Vec<(f64, Vec<u8>)> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut r = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(file))
        .unwrap_or_else(|e| panic!("{}: not a pcap file: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap_or_else(|e| panic!("{}: bad packet record: {e}", path.display()));
        out.push((p.timestamp.as_secs_f64(), p.data.into_owned()));
    }
    out
}

/// The `q`-quantile (0.0..=1.0) of `v` (sorted in place), nearest rank.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    assert!(!v.is_empty(), "quantile of nothing");
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}
