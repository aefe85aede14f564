//! `napifwd top`: a live per-worker table of a running instance, read from
//! its `/status` endpoint (the same report as `--stats-json`).
//!
//! Rates are differences between two reports divided by the difference of
//! their `uptime_seconds` (the instance's own clock, so a slow fetch does
//! not skew them). The report is read as untyped JSON: `top` of one version
//! can watch an instance of another, and columns whose fields an instance
//! does not report show `-`.
//!
//! On a terminal the table refreshes in place (alternate screen, ANSI
//! escapes) until `q` or Ctrl-C, and the terminal is restored on every way
//! out. Otherwise (or with `--once`) it takes two reports one interval
//! apart, prints one table and exits.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::dpdk::os;

/// Options of `napifwd top`.
#[derive(Debug, Clone)]
pub struct TopOptions {
    /// Where the instance serves, e.g. `http://127.0.0.1:9469`.
    pub url: String,
    /// Refresh interval.
    pub interval: Duration,
    /// Print one table and exit, even on a terminal.
    pub once: bool,
}

/// Why `top` failed. Each message names the URL and what to check.
#[derive(Debug, thiserror::Error)]
pub enum TopError {
    /// The URL is not `http://host:port[/]`.
    #[error("--url {url:?}: {why} (expected http://HOST:PORT, e.g. http://127.0.0.1:9469)")]
    Url {
        /// What was given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// Nothing answered.
    #[error(
        "cannot reach napifwd at {url}: {source}\n\
         is `napifwd run` up, with [metrics].listen (default 127.0.0.1:9469) set to the \
         address --url names? ([metrics].listen = \"\" disables the endpoint)"
    )]
    Unreachable {
        /// The status URL.
        url: String,
        /// The I/O error.
        source: io::Error,
    },
    /// Something answered, but not with a napifwd report.
    #[error("{url} did not answer with a napifwd report: {why}")]
    NotNapifwd {
        /// The status URL.
        url: String,
        /// What was wrong.
        why: String,
    },
    /// The terminal could not be set up.
    #[error("cannot use the terminal: {0}")]
    Terminal(io::Error),
}

/// Largest `/status` body accepted.
const MAX_BODY: usize = 16 << 20;
/// Time allowed for connecting and for each read.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// Where to fetch reports from.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port` as given (the `Host` header).
    host: String,
    /// `http://host:port/status`, for messages.
    pub status_url: String,
}

impl Endpoint {
    /// Parses `http://HOST:PORT[/]` (or `HOST:PORT`).
    pub fn parse(url: &str) -> Result<Endpoint, TopError> {
        let bad = |why: &str| TopError::Url {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => return Err(bad(&format!("scheme {scheme:?} is not supported"))),
            None => url,
        };
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(bad(
                "give only the scheme, host and port: top reads /status itself",
            ));
        }
        let port = host.rsplit_once(':').map(|(_, p)| p);
        if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
            return Err(bad("no port"));
        }
        Ok(Endpoint {
            host: host.to_owned(),
            status_url: format!("http://{host}/status"),
        })
    }

    /// Fetches and parses one report.
    pub fn fetch(&self) -> Result<Value, TopError> {
        let unreachable = |source| TopError::Unreachable {
            url: self.status_url.clone(),
            source,
        };
        let not_napifwd = |why: String| TopError::NotNapifwd {
            url: self.status_url.clone(),
            why,
        };
        let addrs: Vec<SocketAddr> = self.host.to_socket_addrs().map_err(unreachable)?.collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, FETCH_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let mut s = stream.ok_or_else(|| unreachable(last))?;
        s.set_read_timeout(Some(FETCH_TIMEOUT))
            .and_then(|_| s.set_write_timeout(Some(FETCH_TIMEOUT)))
            .map_err(unreachable)?;
        let req = format!(
            "GET /status HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            self.host
        );
        s.write_all(req.as_bytes()).map_err(unreachable)?;
        let mut buf = Vec::new();
        Read::by_ref(&mut s)
            .take(MAX_BODY as u64 + 64 * 1024)
            .read_to_end(&mut buf)
            .map_err(unreachable)?;
        parse_response(&buf).map_err(not_napifwd)
    }
}

/// Splits an HTTP response and parses its JSON body.
fn parse_response(buf: &[u8]) -> Result<Value, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("truncated HTTP response".into()),
        Err(e) => return Err(format!("not HTTP: {e}")),
    };
    let body = &buf[head_len..];
    let code = resp.code.unwrap_or(0);
    if code != 200 {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
        return Err(format!("HTTP {code}: {}", text.trim()));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("bad JSON: {e}"))?;
    if !v.get("workers").is_some_and(Value::is_array) {
        return Err("no \"workers\" list in the JSON".into());
    }
    Ok(v)
}

fn u(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn f(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

/// Counter growth, treating a counter that went down (restart) as new.
fn delta(cur: u64, prev: u64) -> u64 {
    if cur >= prev {
        cur - prev
    } else {
        cur
    }
}

/// A rate with a k/M suffix, fitting 7 columns.
fn human(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2}M", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1}k", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}

/// The overload column: state, and time spent overloaded when reported.
fn overload_text(w: &Value) -> String {
    let state = match w.get("overloaded").and_then(Value::as_bool) {
        None => return "-".into(),
        Some(true) => "OVERLOADED",
        Some(false) => "normal",
    };
    match w.get("overload_seconds").and_then(Value::as_f64) {
        Some(s) if s > 0.0 => format!("{state} ({s:.1} s total)"),
        _ => state.into(),
    }
}

/// The table for one refresh: a header, a totals line, one line per worker.
/// With no previous report (first refresh), rates show `-`.
pub fn render(url: &str, prev: Option<&Value>, cur: &Value) -> Vec<String> {
    let up = f(cur, "uptime_seconds");
    // The previous report only counts if it is older and from the same run.
    let prev = prev.filter(|p| f(p, "uptime_seconds") < up);
    let dt = prev.map(|p| up - f(p, "uptime_seconds"));
    let rate = |c: u64, p: u64| dt.map(|dt| delta(c, p) as f64 / dt);
    let opt = |x: Option<f64>, fmt: &dyn Fn(f64) -> String| x.map_or_else(|| "-".into(), fmt);
    let mpps = |x: f64| format!("{:.3}", x / 1e6);

    let mut lines = Vec::new();
    let secs = up as u64;
    let policy = cur
        .pointer("/overload/policy")
        .and_then(Value::as_str)
        .unwrap_or("-");
    lines.push(format!(
        "napifwd {} at {url}   up {}h{:02}m{:02}s   overload policy {policy}   (q: quit)",
        cur.get("version").and_then(Value::as_str).unwrap_or("?"),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ));

    let tot = &cur["totals"];
    let ptot = prev.map(|p| &p["totals"]);
    let pu = |key: &str| ptot.map_or(0, |p| u(p, key));
    let missed: u64 = cur["ports"]
        .as_object()
        .map_or(0, |ps| ps.values().map(|p| u(p, "rx_missed")).sum());
    let pmissed: u64 = prev
        .and_then(|p| p["ports"].as_object())
        .map_or(0, |ps| ps.values().map(|p| u(p, "rx_missed")).sum());
    lines.push(format!(
        "total: rx {} Mpps  tx {} Mpps  drops {}/s  missed {}/s  in flight {}  (rx {} tx {} dropped {})",
        opt(rate(u(tot, "rx_packets"), pu("rx_packets")), &mpps),
        opt(rate(u(tot, "tx_packets"), pu("tx_packets")), &mpps),
        opt(rate(u(tot, "dropped_packets"), pu("dropped_packets")), &human),
        opt(rate(missed, pmissed), &human),
        u(tot, "in_flight"),
        u(tot, "rx_packets"),
        u(tot, "tx_packets"),
        u(tot, "dropped_packets"),
    ));
    lines.push(String::new());
    lines.push(format!(
        "{:>3} {:>5} {:>8} {:>8} {:>6} {:>5} {:>13} {:>8} {:>8} {:>8}  {:<30} {}",
        "W",
        "LCORE",
        "RX Mpps",
        "PROC Mp",
        "BUSY%",
        "KEEP%",
        "BACKLOG",
        "BUDGET/s",
        "TIME/s",
        "DROPS/s",
        "TOP DROPS/s",
        "OVERLOAD"
    ));
    let empty = Vec::new();
    let workers = cur["workers"].as_array().unwrap_or(&empty);
    for w in workers {
        let id = u(w, "id");
        let pw = prev.and_then(|p| {
            p["workers"]
                .as_array()?
                .iter()
                .find(|x| x.get("id").and_then(Value::as_u64) == Some(id))
        });
        let pv = |key: &str| pw.map_or(0, |p| u(p, key));
        let r = |key: &str| pw.and(rate(u(w, key), pv(key)));
        let busy = pw.map(|_| {
            let b = delta(u(w, "busy_cycles"), pv("busy_cycles"));
            let i = delta(u(w, "idle_cycles"), pv("idle_cycles"));
            if b + i == 0 {
                0.0
            } else {
                100.0 * b as f64 / (b + i) as f64
            }
        });
        let backlog = match w.get("backlog_capacity").and_then(Value::as_u64) {
            Some(cap) if cap > 0 => format!(
                "{} {:>3.0}%",
                u(w, "backlog_len"),
                100.0 * u(w, "backlog_len") as f64 / cap as f64
            ),
            _ => format!(
                "{} (hw {})",
                u(w, "backlog_len"),
                u(w, "backlog_high_water")
            ),
        };
        let top_drops = match (pw, dt) {
            (Some(pw), Some(dt)) => {
                let mut by: Vec<(String, u64)> = w["dropped_by_reason"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| {
                                let p = pw["dropped_by_reason"].get(k).and_then(Value::as_u64);
                                (k.clone(), delta(v.as_u64().unwrap_or(0), p.unwrap_or(0)))
                            })
                            .filter(|&(_, n)| n > 0)
                            .collect()
                    })
                    .unwrap_or_default();
                by.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                let s: Vec<String> = by
                    .iter()
                    .take(2)
                    .map(|(k, n)| format!("{k} {}", human(*n as f64 / dt)))
                    .collect();
                if s.is_empty() {
                    "-".into()
                } else {
                    s.join(", ")
                }
            }
            _ => "-".into(),
        };
        let squeeze = |key: &str| opt(r(key), &|x| format!("{x:.0}"));
        // The share of the flows an RX worker forwards itself (the rps
        // map's, or what rps.balance / rps.adaptive chose); `-` for a
        // worker that receives nothing, or an instance without the field.
        let keep = w
            .get("rps_local_share")
            .and_then(Value::as_f64)
            .filter(|&k| k > 0.0 || u(w, "rx_packets") > 0);
        lines.push(format!(
            "{:>3} {:>5} {:>8} {:>8} {:>6} {:>5} {:>13} {:>8} {:>8} {:>8}  {:<30} {}",
            id,
            u(w, "lcore"),
            opt(r("rx_packets"), &mpps),
            opt(r("processed"), &mpps),
            opt(busy, &|x| format!("{x:.1}")),
            opt(keep, &|k| format!("{:.0}", 100.0 * k)),
            backlog,
            squeeze("budget_exhausted"),
            squeeze("time_exhausted"),
            opt(r("dropped_packets"), &human),
            top_drops,
            overload_text(w),
        ));
    }
    lines
}

/// Runs `napifwd top`.
pub fn run(opts: &TopOptions) -> Result<(), TopError> {
    let ep = Endpoint::parse(&opts.url)?;
    let interactive = !opts.once && os::stdout_is_tty() && os::stdin_is_tty();
    if !interactive {
        let first = ep.fetch()?;
        std::thread::sleep(opts.interval);
        let second = ep.fetch()?;
        let mut out = io::stdout().lock();
        for line in render(&opts.url, Some(&first), &second) {
            let _ = writeln!(out, "{line}");
        }
        return Ok(());
    }
    // Fail before touching the terminal if nothing is there.
    let mut prev = None;
    let mut cur = ep.fetch()?;
    if let Err(e) = os::block_signals() {
        return Err(TopError::Terminal(e));
    }
    let raw = os::RawStdin::enable().map_err(TopError::Terminal)?;
    let screen = Screen::enter();
    let mut status = String::new();
    let frame = |prev: Option<&Value>, cur: &Value, status: &str| {
        let mut lines = render(&opts.url, prev, cur);
        lines.push(String::new());
        lines.push(status.to_owned());
        lines
    };
    screen.draw(&frame(prev.as_ref(), &cur, &status));
    let mut next = Instant::now() + opts.interval;
    while !key_says_quit() && os::wait_signal(Duration::ZERO).is_none() {
        let now = Instant::now();
        if now < next {
            continue;
        }
        next = (next + opts.interval).max(now);
        match ep.fetch() {
            Ok(v) => {
                prev = Some(std::mem::replace(&mut cur, v));
                status.clear();
            }
            Err(e) => status = format!("{e}; retrying"),
        }
        screen.draw(&frame(prev.as_ref(), &cur, &status));
    }
    drop(screen);
    drop(raw);
    Ok(())
}

/// Waits up to 100 ms (the terminal's VTIME) for a key; true for q, Q,
/// Ctrl-C or end of input.
fn key_says_quit() -> bool {
    let mut buf = [0u8; 16];
    match io::stdin().lock().read(&mut buf) {
        Ok(n) => buf[..n].iter().any(|&b| matches!(b, b'q' | b'Q' | 3 | 4)),
        Err(e) => e.kind() != io::ErrorKind::Interrupted,
    }
}

/// The alternate screen with a hidden cursor; left (and the cursor shown)
/// on drop, so every way out restores the terminal.
struct Screen;

impl Screen {
    fn enter() -> Screen {
        let mut out = io::stdout().lock();
        let _ = out.write_all(b"\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J");
        let _ = out.flush();
        Screen
    }

    /// Redraws in place: each line clears its rest, then the screen below.
    fn draw(&self, lines: &[String]) {
        let mut s = String::from("\x1b[H");
        for l in lines {
            s.push_str(l);
            s.push_str("\x1b[K\r\n");
        }
        s.push_str("\x1b[J");
        let mut out = io::stdout().lock();
        let _ = out.write_all(s.as_bytes());
        let _ = out.flush();
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let mut out = io::stdout().lock();
        let _ = out.write_all(b"\x1b[?25h\x1b[?1049l");
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(up: f64, rx: u64, busy: u64, idle: u64, no_route: u64) -> Value {
        json!({
            "version": "0.1.0",
            "uptime_seconds": up,
            "totals": {"rx_packets": rx, "tx_packets": rx - no_route, "dropped_packets": no_route, "in_flight": 0},
            "ports": {"wan": {"rx_missed": 0}},
            "workers": [
                {"id": 0, "lcore": 1, "rx_packets": rx, "processed": rx, "dropped_packets": no_route,
                 "dropped_by_reason": {"no_route": no_route, "ttl_exceeded": 1},
                 "budget_exhausted": 10, "time_exhausted": 0, "backlog_len": 3, "backlog_high_water": 9,
                 "busy_cycles": busy, "idle_cycles": idle}
            ]
        })
    }

    #[test]
    fn rates_come_from_deltas_over_the_instance_clock() {
        let a = report(10.0, 1_000_000, 1000, 1000, 0);
        let b = report(12.0, 5_000_000, 1900, 1100, 2000);
        let lines = render("http://x:1", Some(&a), &b);
        assert!(lines[0].contains("up 0h00m12s"), "{}", lines[0]);
        assert!(lines[1].contains("rx 2.000 Mpps"), "{}", lines[1]);
        assert!(lines[1].contains("drops 1.0k/s"), "{}", lines[1]);
        let w = &lines[4];
        let cols: Vec<&str> = w.split_whitespace().collect();
        assert_eq!(&cols[..6], ["0", "1", "2.000", "2.000", "90.0", "-"], "{w}");
        assert!(w.contains("3 (hw 9)"), "{w}");
        assert!(w.contains("no_route 1.0k"), "{w}");
        assert!(
            !w.contains("ttl_exceeded"),
            "unchanged reasons are not shown: {w}"
        );
        assert!(w.ends_with(" -"), "no overload fields: {w}");
    }

    #[test]
    fn first_refresh_and_restarts_show_no_rates() {
        let b = report(12.0, 5_000_000, 1900, 1100, 0);
        let lines = render("u", None, &b);
        assert!(lines[1].contains("rx - Mpps"), "{}", lines[1]);
        // A report from a restarted instance (uptime went down) is not a base.
        let a = report(100.0, 9_000_000, 1, 1, 0);
        let lines = render("u", Some(&a), &b);
        assert!(
            lines[4].split_whitespace().nth(2) == Some("-"),
            "{}",
            lines[4]
        );
    }

    #[test]
    fn optional_fields_show_when_present() {
        let a = report(1.0, 0, 0, 0, 0);
        let mut b = report(2.0, 0, 0, 0, 0);
        b["workers"][0]["backlog_capacity"] = json!(12);
        b["workers"][0]["rps_local_share"] = json!(0.3125);
        b["workers"][0]["overloaded"] = json!(true);
        b["workers"][0]["overload_seconds"] = json!(1.25);
        b["overload"] = json!({"policy": "drop"});
        let lines = render("u", Some(&a), &b);
        assert!(lines[0].contains("overload policy drop"), "{}", lines[0]);
        let w = &lines[4];
        assert_eq!(w.split_whitespace().nth(5), Some("31"), "{w}");
        assert!(w.contains("3  25%"), "{w}");
        assert!(w.ends_with("OVERLOADED (1.2 s total)"), "{w}");
        b["workers"][0]["overloaded"] = json!(false);
        let w = &render("u", Some(&a), &b)[4];
        assert!(w.ends_with("normal (1.2 s total)"), "{w}");
    }

    #[test]
    fn urls() {
        let e = Endpoint::parse("http://127.0.0.1:9469").unwrap();
        assert_eq!(e.status_url, "http://127.0.0.1:9469/status");
        assert!(Endpoint::parse("127.0.0.1:9469/").is_ok());
        assert!(Endpoint::parse("http://[::1]:9469").is_ok());
        for bad in ["https://a:1", "http://a", "http://a:1/metrics", ""] {
            let e = Endpoint::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--url"), "{bad}: {e}");
        }
    }

    #[test]
    fn responses() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"workers\": []}";
        assert!(parse_response(ok).is_ok());
        let e = parse_response(b"HTTP/1.1 404 Not Found\r\n\r\nnot found").unwrap_err();
        assert!(e.contains("404") && e.contains("not found"), "{e}");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n{}").is_err());
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n").is_err());
    }

    #[test]
    fn unreachable_names_the_url_and_the_config_key() {
        // Bind and drop to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let e = Endpoint::parse(&url)
            .unwrap()
            .fetch()
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("{url}/status")), "{e}");
        assert!(e.contains("[metrics].listen"), "{e}");
    }
}
