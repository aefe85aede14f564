//! Running work on EAL lcores: `rte_eal_remote_launch` with a Rust closure.

use std::ffi::{c_int, c_void};

use super::DpdkError;

/// A closure running on a worker lcore; `wait` joins it.
#[derive(Debug)]
#[must_use = "an lcore that is never waited for keeps running"]
pub struct LaunchedLcore {
    lcore: u32,
}

extern "C" fn trampoline<F: FnOnce() -> i32 + Send + 'static>(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box<F> leaked by `launch` for exactly this call;
    // EAL calls the function once, so the box is reclaimed exactly once.
    let f = unsafe { Box::from_raw(arg.cast::<F>()) };
    f()
}

/// Runs `f` on worker lcore `lcore` (which must be in the EAL's lcore set,
/// not the main lcore, and idle). The return value is what `wait` yields.
pub fn launch<F>(lcore: u32, f: F) -> Result<LaunchedLcore, DpdkError>
where
    F: FnOnce() -> i32 + Send + 'static,
{
    let arg = Box::into_raw(Box::new(f)).cast::<c_void>();
    // SAFETY: trampoline::<F> matches lcore_function_t and takes back the
    // box we pass; EAL runs it on `lcore` at most once. F: Send because it
    // moves to another thread.
    let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline::<F>), arg, lcore) };
    if ret != 0 {
        // SAFETY: the launch failed, so EAL never saw `arg`: we still own it.
        drop(unsafe { Box::from_raw(arg.cast::<F>()) });
        return Err(DpdkError::from_errno(format!("rte_eal_remote_launch(lcore {lcore})"), ret)
            .with_hint("the lcore must be listed in eal.lcores, differ from eal.main_lcore, and run nothing else"));
    }
    Ok(LaunchedLcore { lcore })
}

impl LaunchedLcore {
    /// The lcore the closure runs on.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Blocks until the closure returns, and yields its return value.
    pub fn wait(self) -> i32 {
        // SAFETY: callable from the main lcore for any worker lcore id; it
        // only waits on the lcore's state.
        unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore) }
    }
}

/// The EAL lcore id of the calling thread, `None` on a non-EAL thread.
pub fn current() -> Option<u32> {
    // SAFETY: reads the calling thread's per-lcore variable; no preconditions.
    let id = unsafe { dpdk_sys::napi_lcore_id() };
    (id != u32::MAX).then_some(id)
}

/// The NUMA socket of an lcore (0 when unknown), for placing its memory.
pub fn socket_of(lcore: u32) -> u32 {
    // SAFETY: rte_lcore_to_socket_id reads the EAL lcore table; an out of
    // range id returns SOCKET_ID_ANY-like values that we clamp below.
    let s = unsafe { dpdk_sys::rte_lcore_to_socket_id(lcore) };
    if s == u32::MAX {
        0
    } else {
        s
    }
}
