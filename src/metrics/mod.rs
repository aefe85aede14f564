//! The metrics endpoint on `[metrics].listen`: `GET /metrics` (Prometheus
//! text format 0.0.4) and `GET /status` (the live [`Report`] as JSON, the
//! same document as `--stats-json`).
//!
//! Both read one [`ReportSource`] (the running appliance's
//! [`crate::app::Observer`]) at request time; workers never see the HTTP
//! side. The server runs on ordinary threads of its own (not EAL lcores)
//! with bounded request size and time ([`http`]), so a slow or hostile
//! client can delay only itself, never a worker or the control loop.
//!
//! Lifecycle, as `app::run` uses it: [`MetricsListener::bind`] before EAL
//! init (a taken port fails fast, before any hugepage is touched),
//! [`MetricsListener::serve`] once the workers run, [`MetricsServer::stop`]
//! before the final report (the observer holds the ports, which must close
//! after the last reader is gone).
//!
//! [`Report`]: crate::stats::Report

pub mod exposition;
pub mod http;
pub mod names;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

pub use exposition::{encode_text, families, Context, ReportSource, TEXT_CONTENT_TYPE};
use http::{Handler, HttpServer, Request, Response};

/// Paths the endpoint serves.
pub const PATHS: [&str; 2] = ["/metrics", "/status"];

/// Why the endpoint could not start. The message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// `[metrics].listen` is not an address.
    #[error("[metrics].listen = {listen:?} is not an address:port (e.g. \"127.0.0.1:9469\"; \"\" disables metrics)")]
    Address {
        /// The configured value.
        listen: String,
    },
    /// Binding failed (port taken, address not local, no permission).
    #[error("cannot listen on {listen} ([metrics].listen): {source}; choose a free address:port, or set [metrics].listen = \"\" to disable the endpoint")]
    Bind {
        /// The configured value.
        listen: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server thread could not start.
    #[error("cannot start the metrics server on {addr}: {source}")]
    Start {
        /// The bound address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A bound, not yet serving, metrics socket.
#[derive(Debug)]
pub struct MetricsListener {
    listener: TcpListener,
}

impl MetricsListener {
    /// Binds `[metrics].listen`; `Ok(None)` when it is empty (disabled).
    pub fn bind(listen: &str) -> Result<Option<MetricsListener>, MetricsError> {
        if listen.is_empty() {
            return Ok(None);
        }
        let addr: SocketAddr = listen.parse().map_err(|_| MetricsError::Address {
            listen: listen.to_owned(),
        })?;
        let listener = TcpListener::bind(addr).map_err(|source| MetricsError::Bind {
            listen: listen.to_owned(),
            source,
        })?;
        Ok(Some(MetricsListener { listener }))
    }

    /// The bound address (the real port when `listen` said port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// Starts serving `/metrics` and `/status` from `source`.
    pub fn serve<S: ReportSource>(
        self,
        source: Arc<S>,
        ctx: Context,
    ) -> Result<MetricsServer, MetricsError> {
        let addr = self.local_addr();
        let endpoints = Arc::new(Endpoints::new(source, ctx));
        let http = HttpServer::start(self.listener, endpoints)
            .map_err(|source| MetricsError::Start { addr, source })?;
        Ok(MetricsServer { http })
    }

    /// [`serve`](Self::serve) with this process's [`Context`], saying on
    /// stderr where it serves; a failure to start is a warning, not a reason
    /// to stop forwarding.
    pub fn serve_or_warn<S: ReportSource>(self, source: Arc<S>) -> Option<MetricsServer> {
        match self.serve(source, Context::current()) {
            Ok(m) => {
                crate::log_info!(
                    "napifwd: metrics on http://{}/metrics and /status",
                    m.local_addr()
                );
                Some(m)
            }
            Err(e) => {
                crate::log_warn!("napifwd: warning: {e}; running without metrics");
                None
            }
        }
    }
}

/// The running endpoint. [`stop`](Self::stop) (or drop) joins its threads.
#[derive(Debug)]
pub struct MetricsServer {
    http: HttpServer,
}

impl MetricsServer {
    /// The address it serves on.
    pub fn local_addr(&self) -> SocketAddr {
        self.http.local_addr()
    }

    /// Stops serving and joins every server thread; returns within about
    /// [`http::POLL_INTERVAL`] whatever the clients do.
    pub fn stop(self) {
        self.http.stop();
    }
}

/// The routes: `/metrics`, `/status`, and 404/405 for everything else.
pub struct Endpoints<S: ReportSource> {
    registry: prometheus::Registry,
    source: Arc<S>,
}

impl<S: ReportSource> std::fmt::Debug for Endpoints<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoints").finish_non_exhaustive()
    }
}

impl<S: ReportSource> Endpoints<S> {
    /// Routes over `source`.
    pub fn new(source: Arc<S>, ctx: Context) -> Endpoints<S> {
        Endpoints {
            registry: exposition::registry(source.clone(), ctx),
            source,
        }
    }
}

impl<S: ReportSource> Handler for Endpoints<S> {
    fn handle(&self, req: &Request<'_>) -> Response {
        if !PATHS.contains(&req.path) {
            return Response::text(
                404,
                format!("not found: {}; try /metrics or /status\n", req.path),
            );
        }
        let head_only = match req.method {
            "GET" => false,
            "HEAD" => true,
            _ => {
                let mut r = Response::text(405, format!("{} not allowed; use GET\n", req.method));
                r.headers.push("Allow: GET, HEAD".into());
                return r;
            }
        };
        let mut r = if req.path == "/metrics" {
            Response {
                status: 200,
                content_type: TEXT_CONTENT_TYPE,
                headers: Vec::new(),
                body: encode_text(&self.registry.gather()).into_bytes(),
                head_only: false,
            }
        } else {
            match self.source.report() {
                Ok(report) => {
                    let mut body =
                        serde_json::to_vec_pretty(&report).expect("the report serialises");
                    body.push(b'\n');
                    Response {
                        status: 200,
                        content_type: "application/json",
                        headers: Vec::new(),
                        body,
                        head_only: false,
                    }
                }
                Err(e) => Response::text(500, format!("cannot read counters: {e}\n")),
            }
        };
        r.head_only = head_only;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Report, WorkerCounters};

    struct Fixed(Report);
    impl ReportSource for Fixed {
        fn report(&self) -> Result<Report, crate::dpdk::DpdkError> {
            Ok(self.0.clone())
        }
    }

    fn ctx() -> Context {
        Context {
            tsc_hz: 1_000_000_000,
            version: "0.1.0".into(),
            dpdk_version: "DPDK 22.11.4".into(),
            commit: "abc".into(),
        }
    }

    fn endpoints() -> Endpoints<Fixed> {
        let c = WorkerCounters::default();
        c.processed.add(42);
        let report = Report {
            workers: vec![c.snapshot(0, 1)],
            ..Report::default()
        };
        Endpoints::new(Arc::new(Fixed(report)), ctx())
    }

    fn get(e: &Endpoints<Fixed>, method: &str, path: &str) -> Response {
        e.handle(&Request { method, path })
    }

    #[test]
    fn routes() {
        let e = endpoints();
        let m = get(&e, "GET", "/metrics");
        assert_eq!(m.status, 200);
        assert_eq!(m.content_type, TEXT_CONTENT_TYPE);
        let text = String::from_utf8(m.body).unwrap();
        assert!(text.contains("napifwd_worker_processed_packets_total{worker=\"0\"} 42\n"));

        let s = get(&e, "GET", "/status");
        assert_eq!(s.status, 200);
        assert_eq!(s.content_type, "application/json");
        let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
        assert_eq!(v["workers"][0]["processed"], 42);

        let h = get(&e, "HEAD", "/status");
        assert!(h.head_only);
        assert_eq!(h.status, 200);

        assert_eq!(get(&e, "GET", "/").status, 404);
        assert_eq!(get(&e, "GET", "/metrics/").status, 404);
        assert_eq!(get(&e, "POST", "/nope").status, 404);
        let p = get(&e, "POST", "/metrics");
        assert_eq!(p.status, 405);
        assert_eq!(p.headers, vec!["Allow: GET, HEAD".to_owned()]);
        assert_eq!(get(&e, "DELETE", "/status").status, 405);
    }

    #[test]
    fn bind_errors_name_the_key_and_the_fix() {
        assert!(MetricsListener::bind("").unwrap().is_none());
        let e = MetricsListener::bind("nonsense").unwrap_err().to_string();
        assert!(e.contains("[metrics].listen"), "{e}");
        let l = MetricsListener::bind("127.0.0.1:0").unwrap().unwrap();
        let taken = l.local_addr().to_string();
        let e = MetricsListener::bind(&taken).unwrap_err().to_string();
        assert!(e.contains(&taken) && e.contains("[metrics].listen"), "{e}");
        assert!(e.contains("disable"), "{e}");
    }
}
