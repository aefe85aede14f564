//! An mbuf dynamic field holding the TSC at which a packet was received,
//! for the packet latency histogram (RX stamp per burst, read at TX).
//!
//! DPDK's dynfield API (`rte_mbuf_dynfield_register`) hands out an offset
//! inside `rte_mbuf.dynfield1` that no PMD or library uses; the field is
//! then ours for every mbuf of every pool.

use std::ffi::c_char;

use super::{DpdkError, Mbuf};

/// The registered RX-timestamp field: a proof of registration and its offset.
#[derive(Debug, Clone, Copy)]
pub struct RxTscField {
    offset: usize,
}

const NAME: &[u8] = b"napifwd_dynfield_rx_tsc";

impl RxTscField {
    /// Registers the field (idempotent: the same name and size return the
    /// same offset). Needs the EAL.
    pub fn register() -> Result<RxTscField, DpdkError> {
        let mut params = dpdk_sys::rte_mbuf_dynfield {
            name: [0; 64],
            size: std::mem::size_of::<u64>(),
            align: std::mem::align_of::<u64>(),
            flags: 0,
        };
        for (d, &s) in params.name.iter_mut().zip(NAME) {
            *d = s as c_char;
        }
        // SAFETY: params is a valid, NUL-terminated (zero-filled past NAME)
        // description; DPDK copies it.
        let off = unsafe { dpdk_sys::rte_mbuf_dynfield_register(&params) };
        if off < 0 {
            return Err(DpdkError::last("rte_mbuf_dynfield_register(rx_tsc)"));
        }
        let offset = off as usize;
        let size = std::mem::size_of::<dpdk_sys::rte_mbuf>();
        if offset + 8 > size || offset % 8 != 0 {
            return Err(DpdkError::msg(
                "rte_mbuf_dynfield_register(rx_tsc)",
                format!("DPDK returned offset {offset}, outside the {size}-byte mbuf or unaligned"),
            ));
        }
        Ok(RxTscField { offset })
    }

    /// Stamps `tsc` into the mbuf.
    #[inline(always)]
    pub fn set(&self, m: &mut Mbuf, tsc: u64) {
        let p = m.raw_ptr().cast::<u8>();
        // SAFETY: register() checked offset + 8 <= sizeof(rte_mbuf) and
        // 8-byte alignment (mbufs are cache-line aligned); the field belongs
        // to napifwd in every mbuf, and &mut Mbuf means we own this one.
        unsafe { p.add(self.offset).cast::<u64>().write(tsc) }
    }

    /// Reads the stamp.
    #[inline(always)]
    pub fn get(&self, m: &Mbuf) -> u64 {
        let p = m.raw_ptr().cast::<u8>();
        // SAFETY: as in set(); reading a u64 is valid for any bit pattern.
        unsafe { p.add(self.offset).cast::<u64>().read() }
    }
}
