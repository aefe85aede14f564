//! The few Linux calls the control plane needs: synchronous signal
//! handling, thread names, terminal detection and key-at-a-time terminal
//! input for `napifwd top`. They live here because this
//! module tree is the only place allowed `unsafe`.

use std::io;
use std::time::Duration;

/// Signals napifwd acts on: SIGINT/SIGTERM stop, SIGHUP reloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP.
    Hangup,
}

impl Signal {
    fn from_raw(sig: i32) -> Option<Signal> {
        match sig {
            libc::SIGINT => Some(Signal::Interrupt),
            libc::SIGTERM => Some(Signal::Terminate),
            libc::SIGHUP => Some(Signal::Hangup),
            _ => None,
        }
    }
}

fn handled_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a sigset_t we own;
    // zeroed memory is a valid starting value for sigemptyset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread. Call it before
/// any thread is created (before EAL init): threads inherit the mask, so the
/// signals stay pending until the control loop takes them with
/// [`wait_signal`], and no worker is ever interrupted by a handler.
pub fn block_signals() -> io::Result<()> {
    let set = handled_set();
    // SAFETY: `set` is an initialised sigset_t; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Waits up to `timeout` for one of the blocked signals.
pub fn wait_signal(timeout: Duration) -> Option<Signal> {
    let set = handled_set();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `set` and `ts` are valid for the call; a null siginfo pointer is allowed.
    let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
    if sig < 0 {
        None
    } else {
        Signal::from_raw(sig)
    }
}

/// Names the calling thread (visible in `top -H`, `ps -L`); Linux keeps 15 bytes.
pub fn set_thread_name(name: &str) {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: buf is NUL-terminated (at most 15 bytes copied into 16) and
    // pthread_self() is always a valid thread handle.
    unsafe {
        libc::pthread_setname_np(libc::pthread_self(), buf.as_ptr().cast());
    }
}

/// True when stdout is a terminal (then `run` prints a stats line every second).
pub fn stdout_is_tty() -> bool {
    // SAFETY: isatty only inspects the file descriptor.
    unsafe { libc::isatty(libc::STDOUT_FILENO) == 1 }
}

/// True when stdin is a terminal (then `napifwd top` reads keys from it).
pub fn stdin_is_tty() -> bool {
    // SAFETY: isatty only inspects the file descriptor.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// The terminal on stdin in key-at-a-time mode, restored on drop: no line
/// buffering, no echo, and no signals from the keyboard (Ctrl-C arrives as
/// byte 3, so the caller can restore the screen before it exits). A read
/// returns after at most 100 ms, with zero bytes if no key was pressed.
pub struct RawStdin {
    saved: libc::termios,
}

impl std::fmt::Debug for RawStdin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawStdin").finish_non_exhaustive()
    }
}

impl RawStdin {
    /// Switches stdin's terminal to key-at-a-time mode.
    pub fn enable() -> io::Result<RawStdin> {
        // SAFETY: termios is plain old data; all-zero is a valid value for
        // tcgetattr to overwrite.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `t` is a valid, writable termios for the duration of the call.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let saved = t;
        t.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
        t.c_cc[libc::VMIN] = 0;
        t.c_cc[libc::VTIME] = 1;
        // SAFETY: `t` is the terminal's own termios with flags changed.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawStdin { saved })
    }
}

impl Drop for RawStdin {
    fn drop(&mut self) {
        // SAFETY: `saved` is what tcgetattr returned for this terminal.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}

/// An eventfd: how a producer wakes a parked worker (the user-space stand-in
/// for the IPI `enqueue_to_backlog` sends in Linux). Kicks coalesce: the
/// counter adds up until the sleeper reads it.
#[derive(Debug)]
pub struct EventFd {
    fd: libc::c_int,
}

impl EventFd {
    /// A non-blocking eventfd with counter 0.
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd has no memory arguments; we own the returned fd.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EventFd { fd })
    }

    /// Adds one to the counter, waking a sleeper. Never blocks (the counter
    /// would have to reach 2^64-2 first).
    #[inline]
    pub fn kick(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to an fd we own.
        unsafe {
            libc::write(self.fd, (&one as *const u64).cast(), 8);
        }
    }

    /// Sleeps until kicked or `timeout` passes; returns the number of kicks
    /// received since the last wait (0 on timeout) and resets the counter.
    pub fn wait(&self, timeout: Duration) -> u64 {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: pfd and ts are valid for the call; a null sigmask keeps the
        // thread's mask (napifwd blocks its signals everywhere anyway).
        unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
        self.take()
    }

    /// Reads and resets the counter without sleeping.
    pub fn take(&self) -> u64 {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64 from a non-blocking fd we
        // own; EAGAIN (counter 0) leaves v at 0.
        let n = unsafe { libc::read(self.fd, (&mut v as *mut u64).cast(), 8) };
        if n == 8 {
            v
        } else {
            0
        }
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: we own fd and close it once.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// Burns `cycles` TSC cycles in a spin loop: the benchmark-only synthetic
/// per-packet cost (`[bench] per_packet_cycles`), which stands in for a
/// heavier pipeline (ACLs, NAT, crypto) when measuring how work spreads.
#[inline]
pub fn spin_cycles(cycles: u64) {
    if cycles == 0 {
        return;
    }
    let start = super::cycles::rdtsc();
    while super::cycles::rdtsc().wrapping_sub(start) < cycles {
        std::hint::spin_loop();
    }
}

/// The calling thread's scheduling class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedClass {
    /// SCHED_OTHER (CFS), the default.
    Other,
    /// SCHED_FIFO at a priority 1..=99.
    Fifo(i32),
}

/// Switches the calling thread's scheduling class. SCHED_FIFO needs
/// CAP_SYS_NICE (or an RLIMIT_RTPRIO allowing the priority): without it
/// this returns EPERM.
pub fn set_sched_class(class: SchedClass) -> io::Result<()> {
    let (policy, prio) = match class {
        SchedClass::Other => (libc::SCHED_OTHER, 0),
        SchedClass::Fifo(p) => (libc::SCHED_FIFO, p),
    };
    let param = libc::sched_param {
        sched_priority: prio,
    };
    // SAFETY: pid 0 is the calling thread; param is a valid sched_param.
    let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives the CPU to another runnable thread of the same or higher class.
#[inline]
pub fn yield_cpu() {
    // SAFETY: sched_yield has no arguments and cannot fail on Linux.
    unsafe {
        libc::sched_yield();
    }
}
