//! The HTTP/1.1 side of the metrics endpoint: accept, read one request
//! head within bounds, answer, close.
//!
//! Parsing is `httparse` (hyper's parser); this file only owns the socket
//! policy, which is what keeps a client from hurting the appliance:
//!
//! - the server runs on its own threads (never an EAL lcore): an acceptor
//!   named `napifwd-metrics` and at most [`MAX_CONNECTIONS`] connection
//!   threads; beyond that a new connection gets `503` at once;
//! - a request head larger than [`MAX_HEAD_BYTES`] gets `431`; one that is
//!   not complete within [`HEAD_TIMEOUT`] gets `408`; a response that cannot
//!   be written within [`WRITE_TIMEOUT`] is abandoned;
//! - one request per connection (`Connection: close`): no idle keep-alive
//!   connections to hold threads;
//! - every blocking call wakes at least every [`POLL_INTERVAL`] to look at
//!   the stop flag, so [`HttpServer::stop`] returns within about that long
//!   whatever the clients do.
//!
//! (tiny_http, the obvious crate, was measured against these rules and
//! failed all three: it reads header lines without a bound, sets no socket
//! timeouts and spawns a thread per connection without a cap.)

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest request head (request line + headers) accepted.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most headers accepted in one request.
pub const MAX_HEADERS: usize = 32;
/// Connections served at the same time; more get `503`.
pub const MAX_CONNECTIONS: usize = 8;
/// Time a client has to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
/// Time a response may take to write.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often blocked threads look at the stop flag.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long, after answering, unread request bytes are drained so the close
/// does not reset the connection before the client reads the answer.
const LINGER: Duration = Duration::from_millis(100);

/// One request, as the handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method, e.g. `GET`.
    pub method: &'a str,
    /// The path, without the query string.
    pub path: &'a str,
}

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra header lines (`Name: value`).
    pub headers: Vec<String>,
    /// The body.
    pub body: Vec<u8>,
    /// Send the headers only (a `HEAD` request).
    pub head_only: bool,
}

impl Response {
    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: body.into().into_bytes(),
            head_only: false,
        }
    }

    fn head_bytes(&self) -> Vec<u8> {
        let mut h = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_type,
            self.body.len()
        );
        for line in &self.headers {
            h.push_str(line);
            h.push_str("\r\n");
        }
        h.push_str("\r\n");
        h.into_bytes()
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// What answers requests.
pub trait Handler: Send + Sync + 'static {
    /// The response to one request.
    fn handle(&self, req: &Request<'_>) -> Response;
}

/// A running server. Stopping (or dropping) it stops and joins every thread
/// it started; after that no thread holds the handler.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Serves `listener` with `handler` on new threads.
    pub fn start<H: Handler>(listener: TcpListener, handler: Arc<H>) -> io::Result<HttpServer> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let acceptor = std::thread::Builder::new()
            .name("napifwd-metrics".into())
            .spawn(move || accept_loop(&listener, handler, &flag))?;
        Ok(HttpServer {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, ends every connection and joins every thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.acceptor.take() {
            if t.join().is_err() {
                crate::log_error!("napifwd: metrics: server thread panicked");
            }
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop<H: Handler>(listener: &TcpListener, handler: Arc<H>, stop: &Arc<AtomicBool>) {
    crate::dpdk::os::set_thread_name("napifwd-metrics");
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _peer)) => {
                conns.retain(|c| !c.is_finished());
                if conns.len() >= MAX_CONNECTIONS {
                    refuse(stream);
                    continue;
                }
                let h = handler.clone();
                let flag = stop.clone();
                match std::thread::Builder::new()
                    .name("napifwd-http".into())
                    .spawn(move || serve_connection(stream, &*h, &flag))
                {
                    Ok(t) => conns.push(t),
                    Err(e) => {
                        crate::log_warn!("napifwd: metrics: cannot start a connection thread: {e}")
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL_INTERVAL),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                crate::log_warn!("napifwd: metrics: accept failed: {e}");
                std::thread::sleep(POLL_INTERVAL * 5);
            }
        }
    }
    for c in conns {
        let _ = c.join();
    }
}

/// Too many connections: say so without waiting for the request.
fn refuse(stream: TcpStream) {
    let r = Response::text(503, "too many metrics connections; retry later\n");
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(POLL_INTERVAL));
    let mut s = stream;
    let _ = s.write_all(&r.head_bytes());
    let _ = s.write_all(&r.body);
    let _ = s.shutdown(Shutdown::Both);
}

/// Why reading a request head ended without a request.
enum HeadError {
    /// The peer closed or the socket failed: nothing to answer.
    Gone,
    /// Answer with this response, then close.
    Respond(Response),
}

fn serve_connection<H: Handler + ?Sized>(mut stream: TcpStream, handler: &H, stop: &AtomicBool) {
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(POLL_INTERVAL)).is_err()
        || stream.set_write_timeout(Some(POLL_INTERVAL)).is_err()
    {
        return;
    }
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; MAX_HEAD_BYTES];
    let response = match read_head(&mut stream, &mut buf, stop) {
        Ok(len) => match parse_and_handle(&buf[..len], handler) {
            Some(r) => r,
            None => Response::text(400, "bad request\n"),
        },
        Err(HeadError::Respond(r)) => r,
        Err(HeadError::Gone) => return,
    };
    let deadline = Instant::now() + WRITE_TIMEOUT;
    let ok = write_all_until(&mut stream, &response.head_bytes(), deadline, stop).is_ok()
        && (response.head_only
            || write_all_until(&mut stream, &response.body, deadline, stop).is_ok());
    if ok {
        linger(&mut stream, stop);
    }
}

/// Reads until the head is complete ("\r\n\r\n"); returns its length.
fn read_head(
    stream: &mut TcpStream,
    buf: &mut [u8],
    stop: &AtomicBool,
) -> Result<usize, HeadError> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    let mut len = 0usize;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(HeadError::Gone);
        }
        if Instant::now() >= deadline {
            return Err(HeadError::Respond(Response::text(
                408,
                "request head not received in time\n",
            )));
        }
        if len == buf.len() {
            return Err(HeadError::Respond(Response::text(
                431,
                format!("request head larger than {MAX_HEAD_BYTES} bytes\n"),
            )));
        }
        match stream.read(&mut buf[len..]) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(n) => {
                let start = len.saturating_sub(3);
                len += n;
                if buf[start..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    return Ok(len);
                }
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => return Err(HeadError::Gone),
        }
    }
}

/// Parses a complete head and asks the handler; `None` for a malformed one.
fn parse_and_handle<H: Handler + ?Sized>(head: &[u8], handler: &H) -> Option<Response> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => {
            return Some(Response::text(
                431,
                format!("more than {MAX_HEADERS} request headers\n"),
            ))
        }
        Ok(httparse::Status::Partial) | Err(_) => return None,
    }
    let method = req.method?;
    let target = req.path?;
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Some(handler.handle(&Request { method, path }))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn write_all_until(
    stream: &mut TcpStream,
    mut data: &[u8],
    deadline: Instant,
    stop: &AtomicBool,
) -> io::Result<()> {
    while !data.is_empty() {
        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match stream.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Half-closes and drains what the client may still send for a moment, so
/// the response is not lost to a reset (a "lingering close").
fn linger(stream: &mut TcpStream, stop: &AtomicBool) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while Instant::now() < deadline && drained < 64 * 1024 && !stop.load(Ordering::Relaxed) {
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(n) => drained += n,
            Err(e) if is_timeout(&e) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Shutdown;

    struct Echo;
    impl Handler for Echo {
        fn handle(&self, req: &Request<'_>) -> Response {
            Response::text(200, format!("{} {}\n", req.method, req.path))
        }
    }

    fn server() -> HttpServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        HttpServer::start(l, Arc::new(Echo)).unwrap()
    }

    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn answers_one_request_and_closes() {
        let srv = server();
        let r = exchange(
            srv.local_addr(),
            b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Connection: close\r\n"));
        assert!(r.ends_with("\r\n\r\nGET /metrics\n"), "{r}");
        srv.stop();
    }

    #[test]
    fn head_arriving_in_pieces_is_assembled() {
        let srv = server();
        let mut s = TcpStream::connect(srv.local_addr()).unwrap();
        for piece in [&b"GET /st"[..], b"atus HTTP/1.1\r", b"\n\r", b"\n"] {
            s.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(30));
        }
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.ends_with("GET /status\n"), "{out}");
    }

    #[test]
    fn oversized_and_malformed_heads_are_rejected() {
        let srv = server();
        let mut big = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD_BYTES + 100));
        big.extend_from_slice(b"\r\n\r\n");
        let r = exchange(srv.local_addr(), &big);
        assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("H{i}: v\r\n"))
            .collect();
        let r = exchange(
            srv.local_addr(),
            format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes(),
        );
        assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
        let r = exchange(srv.local_addr(), b"NOT HTTP AT ALL\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
    }

    #[test]
    fn silent_client_times_out_and_others_are_served_meanwhile() {
        let srv = server();
        let t0 = Instant::now();
        let mut silent = TcpStream::connect(srv.local_addr()).unwrap();
        silent.set_read_timeout(Some(HEAD_TIMEOUT * 3)).unwrap();
        let r = exchange(srv.local_addr(), b"GET /a HTTP/1.0\r\n\r\n");
        assert!(r.ends_with("GET /a\n"), "{r}");
        assert!(
            t0.elapsed() < HEAD_TIMEOUT,
            "served while the silent one waits"
        );
        let mut out = String::new();
        silent.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 408 "), "{out}");
        assert!(t0.elapsed() >= HEAD_TIMEOUT);
    }

    #[test]
    fn connections_beyond_the_cap_get_503_and_stop_is_prompt() {
        let srv = server();
        let silent: Vec<TcpStream> = (0..MAX_CONNECTIONS)
            .map(|_| TcpStream::connect(srv.local_addr()).unwrap())
            .collect();
        // Let the acceptor take them all.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = exchange(srv.local_addr(), b"GET /x HTTP/1.1\r\n\r\n");
            if r.starts_with("HTTP/1.1 503 ") {
                break;
            }
            assert!(Instant::now() < deadline, "never refused: {r}");
            std::thread::sleep(Duration::from_millis(10));
        }
        let t0 = Instant::now();
        srv.stop();
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );
        for s in silent {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}
