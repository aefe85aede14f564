//! The TSC: the clock of the fast path (budgets, TX drain timer, latency).

use std::sync::OnceLock;

/// Reads the time-stamp counter. Cheap (tens of cycles), not serialising:
/// like DPDK's `rte_rdtsc`, good for budgets and intervals, not for
/// measuring single instructions.
#[inline(always)]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC is available on every x86_64 CPU and has no memory
        // effects; the intrinsic is only unsafe because it is a raw instruction.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: napi_rdtsc forwards to rte_rdtsc, which has no preconditions.
        unsafe { dpdk_sys::napi_rdtsc() }
    }
}

static TSC_HZ: OnceLock<u64> = OnceLock::new();

/// TSC ticks per second as DPDK measured it during EAL init.
/// Before EAL init it falls back to a rough measurement.
pub fn tsc_hz() -> u64 {
    *TSC_HZ.get_or_init(|| {
        // SAFETY: rte_get_tsc_hz reads a value EAL computed at init; before
        // init it returns 0, which we replace with a measurement.
        let hz = unsafe { dpdk_sys::rte_get_tsc_hz() };
        if hz != 0 {
            hz
        } else {
            measure_tsc_hz()
        }
    })
}

fn measure_tsc_hz() -> u64 {
    let t0 = std::time::Instant::now();
    let c0 = rdtsc();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let c1 = rdtsc();
    let ns = t0.elapsed().as_nanos().max(1) as u64;
    (c1.wrapping_sub(c0)).saturating_mul(1_000_000_000) / ns
}

/// Converts microseconds to TSC ticks.
pub fn us_to_tsc(us: u64) -> u64 {
    us.saturating_mul(tsc_hz()) / 1_000_000
}

/// Converts TSC ticks to seconds.
pub fn tsc_to_secs(ticks: u64) -> f64 {
    ticks as f64 / tsc_hz() as f64
}
