//! Errors from DPDK calls, with the errno DPDK reported and what to do.

use std::ffi::CStr;

/// A DPDK call failed. The message says which call, why (DPDK's own
/// `rte_strerror` text), and, where napifwd knows one, the fix.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}{}", hint.as_ref().map(|h| format!(" — {h}")).unwrap_or_default())]
pub struct DpdkError {
    /// The operation that failed, e.g. `rte_eth_dev_configure(port wan)`.
    pub what: String,
    /// DPDK's description of the error code.
    pub reason: String,
    /// What the user can do about it.
    pub hint: Option<String>,
    /// The (positive) errno value.
    pub errno: i32,
}

impl DpdkError {
    /// Builds an error from a DPDK return code (negative errno or rte_errno).
    pub(crate) fn from_errno(what: impl Into<String>, errno: i32) -> Self {
        let errno = errno.abs();
        DpdkError {
            what: what.into(),
            reason: strerror(errno),
            hint: None,
            errno,
        }
    }

    /// Builds an error from the calling thread's `rte_errno`.
    pub(crate) fn last(what: impl Into<String>) -> Self {
        // SAFETY: napi_errno reads the calling thread's per-lcore rte_errno;
        // it has no preconditions.
        let errno = unsafe { dpdk_sys::napi_errno() };
        Self::from_errno(what, errno)
    }

    /// An error that did not come from an errno.
    pub(crate) fn msg(what: impl Into<String>, reason: impl Into<String>) -> Self {
        DpdkError {
            what: what.into(),
            reason: reason.into(),
            hint: None,
            errno: 0,
        }
    }

    /// Attaches the fix a user should try.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local
    // NUL-terminated string for any errno value; we copy it out immediately.
    let s = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(errno)) };
    format!("{} (errno {errno})", s.to_string_lossy())
}
