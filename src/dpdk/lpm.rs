//! DPDK's longest-prefix-match tables: `rte_lpm` (IPv4, DIR-24-8) and
//! `rte_lpm6`. Built once from the route table at start (or reload), then
//! shared read-only by every worker: DPDK's lookups are safe for concurrent
//! readers as long as nobody writes, and `add` needs `&mut self`.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use super::DpdkError;

/// rte_lpm/rte_lpm6 names must be unique in the process; reloads build new
/// tables while old ones are still in use.
static NEXT_ID: AtomicU32 = AtomicU32::new(0);

fn unique_name(kind: &str) -> CString {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    CString::new(format!("napifwd_{kind}{id}")).expect("no NUL in generated name")
}

/// An IPv4 LPM table whose next hops are indices into napifwd's next-hop list.
#[derive(Debug)]
pub struct Lpm4 {
    ptr: NonNull<dpdk_sys::rte_lpm>,
}

// SAFETY: after building (which needs &mut), the table is only read;
// rte_lpm lookups are safe from many threads concurrently.
unsafe impl Send for Lpm4 {}
// SAFETY: see Send.
unsafe impl Sync for Lpm4 {}

impl Lpm4 {
    /// Creates an empty table for up to `max_rules` routes.
    pub fn new(max_rules: u32, socket: u32) -> Result<Lpm4, DpdkError> {
        let name = unique_name("lpm4_");
        let cfg = dpdk_sys::rte_lpm_config {
            max_rules: max_rules.max(1),
            // tbl8 groups back prefixes longer than /24; one per such route
            // is the worst case, and 256 keeps small tables small.
            number_tbl8s: max_rules.max(256),
            flags: 0,
        };
        // SAFETY: name and cfg are valid for the call (DPDK copies both).
        let ptr = unsafe { dpdk_sys::rte_lpm_create(name.as_ptr(), socket as i32, &cfg) };
        NonNull::new(ptr)
            .map(|ptr| Lpm4 { ptr })
            .ok_or_else(|| DpdkError::last("rte_lpm_create").with_hint("raise eal.memory_mb"))
    }

    /// Adds `addr/depth -> next_hop` (next hops must fit in 24 bits).
    pub fn add(&mut self, addr: u32, depth: u8, next_hop: u32) -> Result<(), DpdkError> {
        // SAFETY: &mut self: no concurrent lookups on this table.
        let rc = unsafe { dpdk_sys::rte_lpm_add(self.ptr.as_ptr(), addr, depth, next_hop) };
        if rc < 0 {
            return Err(DpdkError::from_errno(
                format!("rte_lpm_add({}/{depth})", std::net::Ipv4Addr::from(addr)),
                rc,
            ));
        }
        Ok(())
    }

    /// Looks up one address (host order).
    ///
    /// DPDK's `rte_lpm_lookup` (rte_lpm.h, DIR-24-8: one tbl24 entry, and a
    /// tbl8 entry when the tbl24 one says "extended"), written here so that
    /// it inlines into the forwarding loop: through the C shim it is a
    /// function call per packet (~5 cycles per packet on the L3 benchmark
    /// with hugepages). tests/dpdk_lpm.rs checks it against a reference
    /// model on random route sets with prefixes of every length (tbl8
    /// groups included).
    #[inline(always)]
    pub fn lookup(&self, addr: u32) -> Option<u32> {
        const EXT: u32 = dpdk_sys::RTE_LPM_VALID_EXT_ENTRY_BITMASK;
        const GROUP: usize = dpdk_sys::RTE_LPM_TBL8_GROUP_NUM_ENTRIES as usize;
        let lpm = self.ptr.as_ptr();
        // addr >> 8 < 2^24 = RTE_LPM_TBL24_NUM_ENTRIES.
        let i24 = (addr >> 8) as usize;
        // SAFETY: `lpm` is a live rte_lpm that nobody modifies while &self
        // exists (add needs &mut); tbl24 holds RTE_LPM_TBL24_NUM_ENTRIES
        // entries of 4 bytes (bindgen's layout test checks the struct), and
        // i24 is below that.
        let mut e = unsafe {
            std::ptr::addr_of!((*lpm).tbl24)
                .cast::<u32>()
                .add(i24)
                .read()
        };
        if e & EXT == EXT {
            let i8 = (addr & 0xff) as usize + (e & 0x00ff_ffff) as usize * GROUP;
            // SAFETY: a valid tbl24 entry with valid_group set holds the
            // index of an allocated tbl8 group (rte_lpm keeps it so), and
            // i8 is within that group's GROUP entries.
            e = unsafe { (*lpm).tbl8.cast::<u32>().add(i8).read() };
        }
        lpm4_hit(e)
    }
}

/// `RTE_LPM_LOOKUP_SUCCESS`: the valid bit of a tbl24/tbl8 entry (and of
/// `rte_lpm_lookup_bulk`'s results), set when a route matched.
const LPM_LOOKUP_SUCCESS: u32 = 0x0100_0000;

/// Decodes one table entry: the next hop when the valid bit is set.
#[inline(always)]
fn lpm4_hit(result: u32) -> Option<u32> {
    (result & LPM_LOOKUP_SUCCESS != 0).then_some(result & 0x00ff_ffff)
}

impl Drop for Lpm4 {
    fn drop(&mut self) {
        // SAFETY: we own the table and nobody can be reading it (no borrows).
        unsafe { dpdk_sys::rte_lpm_free(self.ptr.as_ptr()) }
    }
}

/// An IPv6 LPM table.
#[derive(Debug)]
pub struct Lpm6 {
    ptr: NonNull<dpdk_sys::rte_lpm6>,
}

// SAFETY: as for Lpm4: read-only after building, rte_lpm6 lookups are
// safe from many threads.
unsafe impl Send for Lpm6 {}
// SAFETY: see Send.
unsafe impl Sync for Lpm6 {}

impl Lpm6 {
    /// Creates an empty table for up to `max_rules` routes.
    pub fn new(max_rules: u32, socket: u32) -> Result<Lpm6, DpdkError> {
        let name = unique_name("lpm6_");
        let cfg = dpdk_sys::rte_lpm6_config {
            max_rules: max_rules.max(1),
            // Each /n route may need up to (n-24)/8 tbl8 groups.
            number_tbl8s: (max_rules.max(1) * 14).max(256),
            flags: 0,
        };
        // SAFETY: name and cfg are valid for the call.
        let ptr = unsafe { dpdk_sys::rte_lpm6_create(name.as_ptr(), socket as i32, &cfg) };
        NonNull::new(ptr)
            .map(|ptr| Lpm6 { ptr })
            .ok_or_else(|| DpdkError::last("rte_lpm6_create").with_hint("raise eal.memory_mb"))
    }

    /// Adds `addr/depth -> next_hop`.
    pub fn add(&mut self, addr: &[u8; 16], depth: u8, next_hop: u32) -> Result<(), DpdkError> {
        // SAFETY: &mut self: no concurrent lookups; addr points to 16 bytes.
        let rc =
            unsafe { dpdk_sys::rte_lpm6_add(self.ptr.as_ptr(), addr.as_ptr(), depth, next_hop) };
        if rc < 0 {
            return Err(DpdkError::from_errno(
                format!("rte_lpm6_add({}/{depth})", std::net::Ipv6Addr::from(*addr)),
                rc,
            ));
        }
        Ok(())
    }

    /// Looks up one address.
    #[inline(always)]
    pub fn lookup(&self, addr: &[u8; 16]) -> Option<u32> {
        let mut nh = 0u32;
        // SAFETY: addr points to 16 bytes; the table is alive and read-only.
        let rc = unsafe { dpdk_sys::rte_lpm6_lookup(self.ptr.as_ptr(), addr.as_ptr(), &mut nh) };
        (rc == 0).then_some(nh)
    }
}

impl Drop for Lpm6 {
    fn drop(&mut self) {
        // SAFETY: we own the table and nobody can be reading it.
        unsafe { dpdk_sys::rte_lpm6_free(self.ptr.as_ptr()) }
    }
}
