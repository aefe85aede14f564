//! The metrics endpoint of a running `napifwd`, end to end: the binary runs
//! on a `net_pcap` port that replays the demo flows forever into a
//! `net_null` sink, with `[metrics].listen` on a free loopback port.
//!
//! - `/metrics` passes `promtool check metrics`; `/status` is the live
//!   report; 404, 405 and an oversized request head are answered as
//!   specified; a client that connects and sends nothing does not stall
//!   forwarding; `napifwd top --once` reads the same instance; after
//!   SIGTERM the final stats are >= everything seen live.
//! - A real Prometheus server (Debian's `prometheus`) scrapes napifwd, and
//!   the value its query API returns lies between two `/status` reads taken
//!   before and after, and below the final stats.
//!   Every query of the shipped Grafana dashboard is valid PromQL there.
//! - A taken metrics port fails `run` fast, naming `[metrics].listen`.
//! - The dashboard uses only exported metrics; `docker/prometheus.yml` passes
//!   `promtool check config`; the README lists every metric.
//!
//! Synchronisation is by polling a condition with a deadline, never by a
//! fixed sleep.

mod common;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{dpdk_lock, eal_section, napifwd_bin, Stats, TempDir};

/// How long napifwd may take to start serving, and Prometheus to scrape.
const START_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// helpers

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// Polls `f` until it returns `Some`, or panics with `what` at the deadline.
fn poll<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends raw request bytes and reads the whole response (the server closes).
fn exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(request)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    let n = match r.parse(&buf) {
        Ok(httparse::Status::Complete(n)) => n,
        other => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "bad response {other:?}: {:?}",
                    String::from_utf8_lossy(&buf)
                ),
            ))
        }
    };
    Ok(Resp {
        status: r.code.unwrap_or(0),
        headers: r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
        body: buf[n..].to_vec(),
    })
}

fn get(addr: SocketAddr, path: &str) -> std::io::Result<Resp> {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn get_json(addr: SocketAddr, path: &str) -> Option<Value> {
    let r = get(addr, path).ok()?;
    if r.status != 200 {
        return None;
    }
    serde_json::from_slice(&r.body).ok()
}

/// `workers[0].processed` of a `/status` (or stats JSON) document.
fn processed(v: &Value) -> u64 {
    v.pointer("/workers/0/processed")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no workers[0].processed in {v}"))
}

/// Percent-encodes a query parameter value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The Grafana dashboard shipped in docker/.
fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("docker/grafana-dashboard.json");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every PromQL expression of the dashboard.
fn dashboard_exprs(d: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(t["expr"].as_str().expect("expr").to_owned());
        }
    }
    out
}

/// A process that is killed (and reaped) if the test ends without stopping it.
struct Proc {
    name: &'static str,
    child: Child,
    stderr: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, dir: &Path) -> Proc {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let child = cmd
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name,
            child,
            stderr,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!("{} exited early ({st}):\n{}", self.name, self.log());
        }
    }

    /// SIGTERM, then waits (bounded) for the exit.
    fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -TERM {} failed", self.child.id());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?} of SIGTERM:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- {} stderr ---\n{}", self.name, self.log());
        }
    }
}

/// napifwd replaying the demo flows forever into a sink, metrics on `port`.
fn config(port: u16) -> String {
    let flows = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/demo-flows.pcap");
    let mut t = eal_section();
    let _ = write!(
        t,
        r#"
[[ports]]
name = "wan"
device = "net_pcap0,rx_pcap={},infinite_rx=1"
mac = "02:00:00:00:00:01"

[[ports]]
name = "lan"
device = "net_null0,no-rx=1"
mac = "02:00:00:00:01:01"

[workers]
lcores = [1]

[forward]
mode = "l3"

[[forward.routes]]
prefix = "198.18.0.0/15"
port = "lan"
next_hop_mac = "02:00:00:00:01:02"

[metrics]
listen = "127.0.0.1:{port}"
latency = true
"#,
        flows.display()
    );
    t
}

/// A running napifwd with its metrics address and temp dir.
struct Napifwd {
    proc: Proc,
    addr: SocketAddr,
    stats: PathBuf,
}

impl Napifwd {
    /// Starts napifwd and waits until `/status` shows forwarded packets.
    fn start(dir: &TempDir) -> Napifwd {
        let port = free_port();
        let cfg = dir.join("napifwd.toml");
        std::fs::write(&cfg, config(port)).expect("write config");
        let stats = dir.join("stats.json");
        let proc = Proc::spawn(
            "napifwd",
            Command::new(napifwd_bin())
                .arg("run")
                .arg("--config")
                .arg(&cfg)
                .arg("--stats-json")
                .arg(&stats),
            dir.path(),
        );
        let mut n = Napifwd {
            proc,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            stats,
        };
        poll(START_TIMEOUT, "napifwd /status to show traffic", || {
            n.proc.assert_running();
            get_json(n.addr, "/status").filter(|v| processed(v) > 0)
        });
        n
    }

    fn status(&self) -> Value {
        get_json(self.addr, "/status").expect("/status answers 200 with JSON")
    }

    /// SIGTERM; requires exit 0 and returns the final stats.
    fn stop(mut self) -> Stats {
        let st = self.proc.terminate(Duration::from_secs(10));
        assert_eq!(st.code(), Some(0), "napifwd exit\n{}", self.proc.log());
        let stats = Stats::read(&self.stats).unwrap_or_else(|e| panic!("{e}"));
        stats.assert_balanced();
        stats.assert_no_mbuf_leak();
        // metrics.latency is on: every packet sent was timed, once.
        assert_eq!(
            stats.u64_at("/workers/0/latency/count"),
            stats.u64_at("/workers/0/tx_packets"),
            "latency observations vs packets sent\n{}",
            stats.pretty()
        );
        stats
    }
}

// ---------------------------------------------------------------------------
// tests

#[test]
fn endpoint_serves_metrics_status_and_errors_without_stalling_forwarding() {
    let _dpdk = dpdk_lock();
    let dir = TempDir::new("metrics-endpoint");
    let n = Napifwd::start(&dir);

    // /metrics: Prometheus text format, promtool clean.
    let m = get(n.addr, "/metrics").expect("GET /metrics");
    assert_eq!(m.status, 200, "{}", m.text());
    assert!(
        m.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        m.headers
    );
    let text = m.text();
    for name in [
        "napifwd_worker_processed_packets_total{worker=\"0\"}",
        "napifwd_worker_dropped_packets_total{worker=\"0\",reason=\"no_route\"} 0",
        "napifwd_port_receive_packets_total{port=\"wan\"}",
        "napifwd_mempool_mbufs_in_use{pool=\"napifwd_w0\"}",
        "napifwd_build_info{version=\"",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}:\n{text}");
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/deps.sh installs it)");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = promtool.wait_with_output().expect("promtool runs");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // /status: the live report, the same shape as the final stats.
    let s1 = n.status();
    assert!(s1["totals"]["rx_packets"].as_u64().is_some(), "{s1}");
    assert!(s1["ports"]["wan"]["rx_packets"].as_u64().is_some(), "{s1}");

    // Errors: unknown path, wrong method, oversized head.
    let r = get(n.addr, "/nope").expect("GET /nope");
    assert_eq!(r.status, 404, "{}", r.text());
    let r = exchange(
        n.addr,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    )
    .expect("POST");
    assert_eq!(r.status, 405, "{}", r.text());
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let mut big = b"GET /metrics HTTP/1.1\r\nX-Filler: ".to_vec();
    big.resize(big.len() + 64 * 1024, b'x');
    big.extend_from_slice(b"\r\n\r\n");
    let r = exchange(n.addr, &big).expect("oversized request gets an answer");
    assert_eq!(r.status, 431, "{}", r.text());

    // A client that connects and says nothing: forwarding goes on, and so
    // does serving other clients.
    let silent = TcpStream::connect(n.addr).expect("connect");
    let before = processed(&n.status());
    let during = poll(Duration::from_secs(5), "rx to grow", || {
        Some(processed(&n.status())).filter(|&p| p > before + 10_000)
    });
    // Still connected: nothing to read yet, or (on a slow machine) the
    // server's own 408 once the head timeout passed; never a stall.
    let mut probe = [0u8; 16];
    silent.set_nonblocking(true).expect("nonblocking");
    match (&silent).read(&mut probe) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok(n) if probe[..n].starts_with(b"HTTP/1.1 408") => {}
        other => panic!("silent client: unexpected {other:?}"),
    }
    drop(silent);

    // napifwd top reads the same instance.
    let top = Command::new(napifwd_bin())
        .args(["top", "--once", "--interval", "0.3", "--url"])
        .arg(format!("http://{}", n.addr))
        .output()
        .expect("napifwd top");
    let top_out = String::from_utf8_lossy(&top.stdout);
    assert!(
        top.status.success(),
        "top: {}\n{top_out}{}",
        top.status,
        String::from_utf8_lossy(&top.stderr)
    );
    assert!(top_out.contains("RX Mpps"), "{top_out}");
    let row = top_out
        .lines()
        .find(|l| l.split_whitespace().next() == Some("0"))
        .unwrap_or_else(|| panic!("no worker 0 row:\n{top_out}"));
    let mpps: f64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(mpps > 0.0, "worker 0 forwards: {row}");

    let last_live = processed(&n.status());
    assert!(last_live >= during);
    let stats = n.stop();
    assert!(
        stats.u64_at("/workers/0/processed") >= last_live,
        "final stats below what /status showed"
    );
}

#[test]
fn prometheus_scrapes_napifwd() {
    let _dpdk = dpdk_lock();
    let dir = TempDir::new("metrics-prometheus");
    let n = Napifwd::start(&dir);
    let before = processed(&n.status());

    let prom_port = free_port();
    let prom_cfg = dir.join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: napifwd\n    static_configs:\n      - targets: ['{}']\n",
            n.addr
        ),
    )
    .expect("write prometheus.yml");
    let mut prom = Proc::spawn(
        "prometheus",
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--log.level=warn"),
        dir.path(),
    );
    let prom_addr = SocketAddr::from(([127, 0, 0, 1], prom_port));

    let seen = poll(START_TIMEOUT, "Prometheus to have scraped napifwd", || {
        prom.assert_running();
        let v = get_json(
            prom_addr,
            "/api/v1/query?query=napifwd_worker_processed_packets_total",
        )?;
        let result = v.pointer("/data/result/0")?;
        assert_eq!(
            result.pointer("/metric/worker").and_then(Value::as_str),
            Some("0"),
            "{v}"
        );
        assert_eq!(
            result.pointer("/metric/job").and_then(Value::as_str),
            Some("napifwd")
        );
        let value: f64 = result.pointer("/value/1")?.as_str()?.parse().ok()?;
        Some(value as u64)
    });
    let after = processed(&n.status());

    // Every dashboard query is valid PromQL for this Prometheus (Grafana's
    // variables replaced by what they expand to).
    for expr in dashboard_exprs(&dashboard()) {
        let q = expr
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".*");
        let v = get_json(prom_addr, &format!("/api/v1/query?query={}", urlencode(&q)))
            .unwrap_or_else(|| panic!("Prometheus rejected the dashboard query {q}"));
        assert_eq!(v["status"], "success", "{q}: {v}");
    }

    assert!(
        before <= seen && seen <= after,
        "Prometheus saw {seen}; /status said {before} before Prometheus started and {after} after the query"
    );

    // The scrape itself was clean: the target is up with no error.
    let targets = get_json(prom_addr, "/api/v1/targets").expect("targets API");
    let t = &targets["data"]["activeTargets"][0];
    assert_eq!(t["health"], "up", "{targets}");
    assert_eq!(t["lastError"], "", "{targets}");

    let st = prom.terminate(Duration::from_secs(10));
    assert!(st.success(), "prometheus exit {st}\n{}", prom.log());
    let stats = n.stop();
    assert!(
        stats.u64_at("/workers/0/processed") >= seen,
        "final stats below what Prometheus saw ({seen})"
    );
}

#[test]
fn taken_metrics_port_fails_fast_and_top_explains_an_absent_instance() {
    let dir = TempDir::new("metrics-taken");
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let cfg = dir.join("napifwd.toml");
    std::fs::write(&cfg, config(port)).expect("write config");
    // Fails before EAL init, so it needs no DPDK lock.
    let out = common::napifwd(
        [
            OsStr::new("run"),
            OsStr::new("--config"),
            cfg.as_os_str(),
            OsStr::new("--duration"),
            OsStr::new("5"),
        ],
        dir.path(),
        Duration::from_secs(10),
    );
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{port}"))
            && out.stderr.contains("[metrics].listen"),
        "{}",
        out.describe()
    );
    assert!(
        !out.all().contains("EAL"),
        "failed before EAL init\n{}",
        out.describe()
    );
    drop(holder);

    let url = format!("http://127.0.0.1:{}", free_port());
    let out = common::napifwd(
        ["top", "--once", "--url", &url],
        dir.path(),
        Duration::from_secs(10),
    );
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains(&format!("{url}/status")) && out.stderr.contains("[metrics].listen"),
        "{}",
        out.describe()
    );
}

#[test]
fn dashboard_and_scrape_config_use_only_defined_metrics() {
    use napifwd::metrics::names::{Kind, ALL};
    let d = dashboard();
    assert_eq!(d["uid"], "napifwd");
    let exprs = dashboard_exprs(&d);
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut used = std::collections::BTreeSet::new();
    for e in &exprs {
        let mut rest = e.as_str();
        while let Some(i) = rest.find("napifwd_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..end];
            let known = ALL.iter().any(|m| {
                m.name == name
                    || (m.kind == Kind::Histogram
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|s| name.strip_suffix(s) == Some(m.name)))
            });
            assert!(
                known,
                "the dashboard uses {name}, which napifwd does not export ({e})"
            );
            used.insert(name.to_owned());
            rest = &tail[end..];
        }
    }
    // The panels the issue asks for.
    for needed in [
        "napifwd_worker_dropped_packets_total",
        "napifwd_worker_backlog_packets",
        "napifwd_worker_busy_cycles_total",
        "napifwd_overload_state",
        "napifwd_packet_latency_seconds_bucket",
        "napifwd_worker_processed_packets_total",
    ] {
        assert!(used.contains(needed), "no dashboard panel uses {needed}");
    }

    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/prometheus.yml");
    let out = Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(&cfg)
        .output()
        .expect("promtool (Debian package prometheus; scripts/deps.sh installs it)");
    assert!(
        out.status.success(),
        "promtool check config {}: {}{}",
        cfg.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&cfg).expect("prometheus.yml");
    assert!(text.contains("napifwd:9469"), "{text}");

    // The README's metric table lists every metric.
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    for m in ALL {
        assert!(
            readme.contains(&format!("`{}`", m.name)),
            "README.md (Metrics) does not list {}",
            m.name
        );
    }
}
