//! EAL initialisation and cleanup: one EAL per process.

use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};

use super::DpdkError;

/// Set once `rte_eal_init` has been attempted: DPDK forbids a second call in
/// the same process, even after a failure.
static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// Proof that the EAL is initialised. Dropping it calls `rte_eal_cleanup`,
/// which must happen after every port, pool and ring is gone: hold the `Eal`
/// in the outermost scope.
#[derive(Debug)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Initialises the EAL with `args` (`args[0]` is the program name).
    ///
    /// Fails with the EAL's errno when the arguments are rejected, the
    /// hugepages or lcores asked for are missing, or a device fails to probe;
    /// the EAL has already printed its own diagnostics to stderr by then.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::msg(
                "rte_eal_init",
                "the EAL was already initialised in this process (DPDK allows it once)",
            ));
        }
        let cargs: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_str()))
            .collect::<Result<_, _>>()
            .map_err(|_| DpdkError::msg("rte_eal_init", "an EAL argument contains a NUL byte"))?;
        // EAL keeps pointers into argv (e.g. for --vdev and --file-prefix
        // strings) for the life of the process, and may permute the array:
        // leak both so they outlive it.
        let cargs: &'static [CString] = Box::leak(cargs.into_boxed_slice());
        let argv: &'static mut [*mut c_char] = Box::leak(
            cargs
                .iter()
                .map(|c| c.as_ptr().cast_mut())
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let argc = c_int::try_from(argv.len())
            .map_err(|_| DpdkError::msg("rte_eal_init", "too many EAL arguments"))?;
        // SAFETY: argv points to argc valid NUL-terminated strings that live
        // for the rest of the process (leaked above), and EAL_STARTED
        // guarantees this is the only call in this process.
        let ret = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::last("rte_eal_init"));
        }
        Ok(Eal { _private: () })
    }

    /// The EAL's main lcore (the one that called `rte_eal_init`).
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: the EAL is initialised (we hold an Eal).
        unsafe { dpdk_sys::rte_get_main_lcore() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: the EAL was initialised by Eal::init and this is the only
        // Eal value; owners of ports, pools and rings are dropped before it
        // (they borrow nothing from it, but napifwd's run() orders them so).
        unsafe {
            dpdk_sys::rte_eal_cleanup();
        }
    }
}

/// The DPDK library version loaded at run time, e.g. "DPDK 22.11.11".
pub fn dpdk_version() -> String {
    // SAFETY: rte_version returns a pointer to a static NUL-terminated
    // string and needs no EAL initialisation.
    unsafe { CStr::from_ptr(dpdk_sys::rte_version()) }
        .to_string_lossy()
        .into_owned()
}

/// Sets every DPDK log type's level, and the global one, to `name`
/// (`--log-level=*:NAME` after start: a reload of `log.level`).
/// Unknown names are ignored (the names come from
/// [`dpdk_log_level`](crate::config::dpdk_log_level)).
pub fn set_log_level(name: &str) {
    let level = match name {
        "emerg" => dpdk_sys::RTE_LOG_EMERG,
        "alert" => dpdk_sys::RTE_LOG_ALERT,
        "crit" => dpdk_sys::RTE_LOG_CRIT,
        "error" => dpdk_sys::RTE_LOG_ERR,
        "warning" => dpdk_sys::RTE_LOG_WARNING,
        "notice" => dpdk_sys::RTE_LOG_NOTICE,
        "info" => dpdk_sys::RTE_LOG_INFO,
        "debug" => dpdk_sys::RTE_LOG_DEBUG,
        _ => return,
    };
    // SAFETY: librte_log needs no EAL (log types register in
    // constructors, before main); the pattern is a NUL-terminated
    // literal that DPDK copies.
    unsafe {
        dpdk_sys::rte_log_set_level_pattern(c"*".as_ptr(), level);
        dpdk_sys::rte_log_set_global_level(level);
    }
}
