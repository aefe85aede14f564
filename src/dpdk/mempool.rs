//! Packet mbuf pools (`rte_pktmbuf_pool_create`) and their in-use accounting.

use std::ffi::CString;
use std::ptr::NonNull;

use super::mbuf::RX_DATA_OFFSET;
use super::{DpdkError, Mbuf};

/// A packet mbuf pool. Pools live until `rte_eal_cleanup`: napifwd creates
/// them once at start and never frees them, so every mbuf's `pool` pointer
/// stays valid for as long as any Rust value can hold the mbuf. That makes
/// the handle a plain `Copy` value with no lifetime to track.
#[derive(Clone, Copy, Debug)]
pub struct Mempool {
    ptr: NonNull<dpdk_sys::rte_mempool>,
}

// SAFETY: a mempool created with the default ops ("ring_mp_mc") is safe for
// concurrent get/put from any thread; the handle itself is just a pointer to
// memory that lives until EAL cleanup.
unsafe impl Send for Mempool {}
// SAFETY: see Send; all methods take &self and call thread-safe DPDK APIs.
unsafe impl Sync for Mempool {}

/// Bytes of private area after each mbuf header: none.
pub(crate) const MBUF_PRIV_SIZE: u16 = 0;

/// Data room per mbuf: 2 KiB of packet data plus DPDK's headroom, DPDK's
/// own default (`RTE_MBUF_DEFAULT_BUF_SIZE`). Frames up to the 9600-byte
/// MTU limit span several segments only on PMDs that scatter.
pub const MBUF_DATA_ROOM: u16 = 2048 + dpdk_sys::RTE_PKTMBUF_HEADROOM as u16;

impl Mempool {
    /// Creates a pool of `n` mbufs with a per-lcore cache of `cache` on NUMA
    /// `socket`. DPDK recommends `n` of the form 2^k - 1.
    pub fn create(name: &str, n: u32, cache: u32, socket: u32) -> Result<Mempool, DpdkError> {
        let cname = CString::new(name)
            .map_err(|_| DpdkError::msg("rte_pktmbuf_pool_create", "pool name contains NUL"))?;
        let cache = cache.min(dpdk_sys::RTE_MEMPOOL_CACHE_MAX_SIZE);
        // SAFETY: cname is a valid C string for the call (DPDK copies it);
        // the numeric arguments are range-checked by DPDK itself.
        let ptr = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                n,
                cache,
                MBUF_PRIV_SIZE,
                MBUF_DATA_ROOM,
                socket as i32,
            )
        };
        NonNull::new(ptr).map(|ptr| Mempool { ptr }).ok_or_else(|| {
            DpdkError::last(format!("rte_pktmbuf_pool_create({name}, {n} mbufs)")).with_hint(
                "not enough DPDK memory: raise eal.memory_mb (each mbuf needs about 2.3 KiB)",
            )
        })
    }

    /// Mbufs currently allocated (not in the pool's ring nor in a per-lcore cache).
    pub fn in_use(&self) -> u32 {
        // SAFETY: self.ptr is a live pool (pools are never freed).
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }

    /// Mbufs available for allocation.
    pub fn available(&self) -> u32 {
        // SAFETY: self.ptr is a live pool (pools are never freed).
        unsafe { dpdk_sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Total mbufs in the pool.
    pub fn size(&self) -> u32 {
        // SAFETY: self.ptr is a live pool; `size` is set at creation and never changes.
        unsafe { (*self.ptr.as_ptr()).size }
    }

    /// Allocates one mbuf, `None` when the pool is empty.
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: self.ptr is a live pool; a non-null result is a fresh mbuf
        // with refcnt 1 that nobody else references.
        let m = unsafe { dpdk_sys::napi_pktmbuf_alloc(self.ptr.as_ptr()) };
        // SAFETY: as above, we are its only owner.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// True when `m` came from this pool (used to find an mbuf's owner).
    #[inline]
    pub fn owns(&self, m: &Mbuf) -> bool {
        m.pool_ptr() == self.ptr.as_ptr()
    }

    /// Starts loading the mbufs that the calling lcore's next `n`
    /// allocations from this pool will return: their two header lines and
    /// the first line of their data room, all of which the allocation
    /// (`rte_pktmbuf_reset`) and an RX copy write. Those mbufs come back
    /// from whichever core freed them (with RPS, the other worker), so each
    /// of those lines is a cross-core miss that a PMD would otherwise take
    /// one after the other inside its RX burst.
    ///
    /// The per-lcore cache is a stack (`rte_mempool_default_cache`): the
    /// next allocations take `objs[len - 1]`, `objs[len - 2]`, ... What the
    /// cache does not hold yet comes from the shared ring and is not known
    /// in advance. Off an EAL lcore there is no cache and this does nothing.
    /// PREFETCHW where the CPU has it: the lines arrive owned, ready for
    /// the stores (the RX worker's cycles per packet, A/B on the RPS
    /// steer benchmark: 144-153 with PREFETCHT0, 135-142 with PREFETCHW).
    ///
    /// `write`: PREFETCHW, proven available by holding a [`PrefetchW`].
    #[inline]
    pub fn prefetch_next_allocs(&self, n: usize, write: Option<PrefetchW>) {
        #[cfg(target_arch = "x86_64")]
        {
            use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            // SAFETY: the pool is live (pools are never freed); the call
            // only computes the address of the calling lcore's cache.
            let cache = unsafe { dpdk_sys::napi_mempool_default_cache(self.ptr.as_ptr()) };
            if cache.is_null() {
                return;
            }
            // SAFETY: a per-lcore cache is read and written only by its own
            // lcore, which is the calling thread, so nothing changes it
            // while we read `len` and `objs`; `len` never exceeds the
            // array (DPDK flushes at `flushthresh` < 2 x max size).
            let (len, objs) = unsafe { ((*cache).len as usize, &(*cache).objs) };
            for &obj in objs[..len.min(objs.len())].iter().rev().take(n) {
                let m = obj.cast::<i8>().cast_const();
                for line in [m, m.wrapping_add(64), m.wrapping_add(RX_DATA_OFFSET)] {
                    if write.is_some() {
                        // SAFETY: the CPU has PREFETCHW (a PrefetchW exists); a
                        // prefetch never faults, whatever the address, and
                        // touches no register, flag or stack.
                        unsafe {
                            std::arch::asm!(
                                "prefetchw [{}]",
                                in(reg) line,
                                options(nostack, preserves_flags, readonly)
                            );
                        }
                    } else {
                        // SAFETY: prefetch is a hint that never faults.
                        unsafe { _mm_prefetch::<_MM_HINT_T0>(line) };
                    }
                }
            }
        }
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.ptr.as_ptr()
    }
}

/// Proof that the CPU has PREFETCHW: CPUID 0x8000_0001, ECX bit 8
/// ("3DNowPrefetch"), which AMD and Intel (since Broadwell) set. Rust's
/// `_MM_HINT_ET0` would need the unstable `prfchw` target feature.
#[derive(Clone, Copy, Debug)]
pub struct PrefetchW(());

impl PrefetchW {
    /// `Some` when the CPU has the instruction.
    #[cfg(target_arch = "x86_64")]
    pub fn detect() -> Option<PrefetchW> {
        use core::arch::x86_64::__cpuid;
        // SAFETY: CPUID exists on every x86-64 CPU, and leaf 0x8000_0000
        // says which extended leaves exist before 0x8000_0001 is read.
        // (`__cpuid` is a safe fn on recent Rust, unsafe on our MSRV.)
        #[allow(unused_unsafe)]
        let has = unsafe {
            __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
        };
        has.then_some(PrefetchW(()))
    }

    /// Never off x86-64.
    #[cfg(not(target_arch = "x86_64"))]
    pub fn detect() -> Option<PrefetchW> {
        None
    }
}
