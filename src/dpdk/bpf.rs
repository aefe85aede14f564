//! eBPF filter programs run by DPDK's librte_bpf (JIT-compiled on x86-64),
//! with XDP's return convention: 0 = drop, anything else = pass.
//!
//! The program gets one argument: a pointer to the packet's first byte
//! (`RTE_BPF_ARG_PTR`), like DPDK's `examples/bpf/t1.c` and testpmd's
//! `bpf-load` without the `M` flag. The verifier allows loads and stores
//! of up to [`BPF_ARG_SIZE`] bytes from it; napifwd only runs the program
//! on mbufs whose own, unshared buffer really has that many bytes after
//! the packet start, so the program can never reach outside the mbuf.
//! Bytes past the packet's length are whatever the buffer held: programs
//! must check the headers they read (as XDP programs check against
//! `data_end`).

use std::ffi::CString;
use std::path::Path;
use std::ptr::NonNull;

use super::{DpdkError, Mbuf};

/// Bytes of packet the program may read (one default-sized mbuf data room).
pub const BPF_ARG_SIZE: usize = 2048;

/// A loaded, verified eBPF program.
#[derive(Debug)]
pub struct BpfProgram {
    bpf: NonNull<dpdk_sys::rte_bpf>,
    jit: Option<unsafe extern "C" fn(*mut std::ffi::c_void) -> u64>,
}

// SAFETY: a loaded rte_bpf is immutable; executing it from several threads
// is allowed (it keeps no state between runs: no maps in librte_bpf).
unsafe impl Send for BpfProgram {}
// SAFETY: see Send.
unsafe impl Sync for BpfProgram {}

impl BpfProgram {
    /// Loads section `section` of the ELF object at `path` and verifies it.
    /// Fails with DPDK's errno when the file is not a BPF ELF object, the
    /// section is missing, or the verifier rejects the program.
    pub fn load(path: &Path, section: &str) -> Result<BpfProgram, DpdkError> {
        let what = || format!("rte_bpf_elf_load({}, section {section:?})", path.display());
        let cpath = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| DpdkError::msg(what(), "path contains a NUL byte"))?;
        let csec = CString::new(section)
            .map_err(|_| DpdkError::msg(what(), "section contains a NUL byte"))?;
        // SAFETY: an all-zero rte_bpf_prm is valid (no instructions, no
        // external symbols); we then set the argument description.
        let mut prm: dpdk_sys::rte_bpf_prm = unsafe { std::mem::zeroed() };
        prm.prog_arg.type_ = dpdk_sys::RTE_BPF_ARG_PTR;
        prm.prog_arg.size = BPF_ARG_SIZE;
        // SAFETY: prm, cpath and csec are valid for the call; DPDK copies
        // what it keeps.
        let bpf = unsafe { dpdk_sys::rte_bpf_elf_load(&prm, cpath.as_ptr(), csec.as_ptr()) };
        let bpf = NonNull::new(bpf).ok_or_else(|| {
            DpdkError::last(what()).with_hint(
                "the file must be an eBPF ELF object (clang -O2 -target bpf -c prog.c) whose \
                 section holds a function `uint64_t f(void *pkt)` that only reads the packet; \
                 DPDK printed the verifier's complaint above",
            )
        })?;
        let mut jit = dpdk_sys::rte_bpf_jit { func: None, sz: 0 };
        // SAFETY: bpf is a valid program; jit is a valid out-parameter.
        let rc = unsafe { dpdk_sys::rte_bpf_get_jit(bpf.as_ptr(), &mut jit) };
        let jit = if rc == 0 { jit.func } else { None };
        Ok(BpfProgram { bpf, jit })
    }

    /// True when the program runs as native code.
    pub fn is_jit(&self) -> bool {
        self.jit.is_some()
    }

    /// Runs the program on a packet: `true` = pass. DPDK's verifier lets
    /// a program store into its argument as well as load from it, so the
    /// packet is borrowed mutably. Packets whose buffer has fewer than
    /// [`BPF_ARG_SIZE`] bytes from the packet start (an mbuf with a large
    /// headroom, or a foreign pool), and packets whose buffer may be
    /// shared with another mbuf, are passed without running the program:
    /// it could reach past the buffer, or write bytes another mbuf reads.
    /// (RX hands out neither kind with napifwd's own pools.)
    #[inline]
    pub fn pass(&self, m: &mut Mbuf) -> bool {
        if m.room_from_data() < BPF_ARG_SIZE {
            return true;
        }
        let Some(pkt) = m.data_ptr_exclusive() else {
            return true;
        };
        let pkt = pkt.cast::<std::ffi::c_void>();
        let ret = match self.jit {
            // SAFETY: the verifier accepted the program for an argument of
            // BPF_ARG_SIZE bytes, which it may read and write; `pkt` has
            // that many bytes of this mbuf's own buffer after it (room
            // checked above, not shared: data_ptr_exclusive), and `m` is
            // borrowed mutably, so no Rust reference to them is alive.
            Some(f) => unsafe { f(pkt) },
            // SAFETY: as above, through the interpreter.
            None => unsafe { dpdk_sys::rte_bpf_exec(self.bpf.as_ptr(), pkt) },
        };
        ret != 0
    }
}

impl Drop for BpfProgram {
    fn drop(&mut self) {
        // SAFETY: we own the program; no borrow of it can be running.
        unsafe { dpdk_sys::rte_bpf_destroy(self.bpf.as_ptr()) }
    }
}
