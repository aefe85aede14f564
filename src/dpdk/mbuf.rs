//! Owning mbuf types: [`Mbuf`] (one packet) and [`MbufBurst`] (up to N).
//!
//! Ownership is the API: an `Mbuf` value owns one reference to one mbuf and
//! frees it when dropped; moving it moves the packet. `MbufBurst` stores up
//! to N owned mbufs in a fixed array (no per-burst allocation), hands them
//! to DPDK burst calls in place, and frees what it still holds in bulk.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use dpdk_sys::rte_mbuf;

/// Where a received packet's data starts, from the start of its mbuf:
/// `rte_pktmbuf_init` puts `buf_addr` right after the mbuf header and the
/// pool's private area (none in napifwd's pools), and `rte_pktmbuf_reset`
/// sets `data_off` to the headroom.
pub(crate) const RX_DATA_OFFSET: usize = std::mem::size_of::<rte_mbuf>()
    + super::mempool::MBUF_PRIV_SIZE as usize
    + dpdk_sys::RTE_PKTMBUF_HEADROOM as usize;

/// `RTE_MBUF_F_INDIRECT | RTE_MBUF_F_EXTERNAL`: the data may be shared with
/// another mbuf, so writing to it in place would be visible elsewhere.
const SHARED_DATA_FLAGS: u64 = (1 << 62) | (1 << 61);

/// One owned packet buffer (possibly the head of a segment chain).
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf(NonNull<rte_mbuf>);

// SAFETY: an Mbuf is the unique owner of its mbuf; mbufs are plain memory
// whose pool (thread-safe ops) outlives the process's workers, so moving
// ownership to another thread is sound.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `m` must point to a valid mbuf with a reference the caller owns and
    /// gives up, from a pool that stays alive (all napifwd pools do).
    #[inline(always)]
    pub(crate) unsafe fn from_raw(m: NonNull<rte_mbuf>) -> Mbuf {
        Mbuf(m)
    }

    /// Gives up ownership without freeing.
    #[inline(always)]
    pub(crate) fn into_raw(self) -> *mut rte_mbuf {
        ManuallyDrop::new(self).0.as_ptr()
    }

    #[inline(always)]
    fn raw(&self) -> &rte_mbuf {
        // SAFETY: we own a valid mbuf for as long as self lives.
        unsafe { self.0.as_ref() }
    }

    /// Length of the whole packet (all segments).
    #[inline(always)]
    pub fn pkt_len(&self) -> u32 {
        self.raw().pkt_len
    }

    /// Length of the data in the first segment.
    #[inline(always)]
    pub fn data_len(&self) -> u16 {
        self.raw().data_len
    }

    /// Number of segments.
    #[inline(always)]
    pub fn nb_segs(&self) -> u16 {
        self.raw().nb_segs
    }

    /// The input port DPDK recorded at RX.
    #[inline(always)]
    pub fn port(&self) -> u16 {
        self.raw().port
    }

    /// The RSS hash when the PMD computed one (`RTE_MBUF_F_RX_RSS_HASH`).
    #[inline(always)]
    pub fn rss_hash(&self) -> Option<u32> {
        let m = self.raw();
        if m.ol_flags & u64::from(dpdk_sys::RTE_MBUF_F_RX_RSS_HASH) != 0 {
            // SAFETY: the flag says the PMD wrote `hash.rss`; reading a u32
            // out of the union is valid for any bit pattern.
            Some(unsafe { m.__bindgen_anon_2.hash.rss })
        } else {
            None
        }
    }

    /// True when the PMD already verified the IPv4 header checksum.
    #[inline(always)]
    pub fn ip_cksum_good(&self) -> bool {
        self.raw().ol_flags & u64::from(dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_MASK)
            == u64::from(dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_GOOD)
    }

    /// The first segment's data.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's
        // buffer (a DPDK invariant of every valid mbuf), and the shared borrow
        // of self keeps anyone from writing it through this Mbuf.
        unsafe {
            std::slice::from_raw_parts(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    /// The first segment's data for in-place rewriting, or `None` when the
    /// data buffer may be shared with another mbuf (indirect or external
    /// buffer, or more than one reference): writing it would be a data race.
    #[inline(always)]
    pub fn data_mut(&mut self) -> Option<&mut [u8]> {
        let m = self.raw();
        if m.refcnt != 1 || m.ol_flags & SHARED_DATA_FLAGS != 0 {
            return None;
        }
        let (addr, off, len) = (m.buf_addr, m.data_off, m.data_len);
        // SAFETY: as in data(); additionally refcnt == 1 and a direct buffer
        // mean this Mbuf is the only reference to the bytes, and &mut self
        // makes the borrow exclusive.
        Some(unsafe {
            std::slice::from_raw_parts_mut(
                addr.cast::<u8>().add(usize::from(off)),
                usize::from(len),
            )
        })
    }

    /// Shortens the packet to `len` bytes (Ethernet padding, or anything
    /// after the IP datagram), across segments: the segment holding byte
    /// `len` becomes the last one and the segments after it are freed.
    /// Returns false, changing nothing, when `len` is longer than the packet
    /// or a segment to change is shared (refcnt > 1).
    #[inline]
    pub fn truncate(&mut self, len: u32) -> bool {
        let head = self.0.as_ptr();
        // SAFETY: we own the chain exclusively (&mut self); we only read
        // segment metadata and follow `next` pointers of a valid chain.
        unsafe {
            if len > (*head).pkt_len {
                return false;
            }
            if (*head).nb_segs == 1 {
                (*head).data_len = len as u16;
                (*head).pkt_len = len;
                return true;
            }
            // Find the segment that holds the last kept byte.
            let mut seg = head;
            let mut left = len;
            let mut nsegs: u16 = 1;
            while left > u32::from((*seg).data_len) && !(*seg).next.is_null() {
                if (*seg).refcnt != 1 {
                    return false;
                }
                left -= u32::from((*seg).data_len);
                seg = (*seg).next;
                nsegs += 1;
            }
            if (*seg).refcnt != 1 {
                return false;
            }
            let tail = (*seg).next;
            (*seg).data_len = left as u16;
            (*seg).next = std::ptr::null_mut();
            (*head).nb_segs = nsegs;
            (*head).pkt_len = len;
            if !tail.is_null() {
                // The cut-off segments are ours too (the chain was); free
                // them as a chain of their own.
                (*tail).nb_segs = 1;
                dpdk_sys::napi_pktmbuf_free(tail);
            }
        }
        true
    }

    /// Appends `bytes` to an empty or partial single-segment mbuf (used to
    /// build packets in tests and generators). False when it does not fit.
    pub fn append(&mut self, bytes: &[u8]) -> bool {
        let Ok(len) = u16::try_from(bytes.len()) else {
            return false;
        };
        // SAFETY: we own the mbuf exclusively; rte_pktmbuf_append returns
        // either null or a pointer to `len` writable bytes inside its buffer.
        let dst = unsafe { dpdk_sys::napi_pktmbuf_append(self.0.as_ptr(), len) };
        if dst.is_null() {
            return false;
        }
        // SAFETY: dst points to `len` bytes we may write (see above), and
        // `bytes` cannot overlap a buffer we exclusively own.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.cast::<u8>(), bytes.len()) };
        true
    }

    /// A pointer to the packet's first byte for code that may write
    /// anywhere from there to the buffer's end (a BPF program), or `None`
    /// when the buffer may be shared (as for [`data_mut`](Self::data_mut)).
    /// `&mut self` keeps every other borrow of the bytes away while the
    /// pointer is used.
    #[inline(always)]
    pub(crate) fn data_ptr_exclusive(&mut self) -> Option<*mut u8> {
        let m = self.raw();
        if m.refcnt != 1 || m.ol_flags & SHARED_DATA_FLAGS != 0 {
            return None;
        }
        Some(
            m.buf_addr
                .cast::<u8>()
                .wrapping_add(usize::from(m.data_off)),
        )
    }

    /// Bytes of buffer from the packet's first byte to the buffer's end.
    #[inline(always)]
    pub fn room_from_data(&self) -> usize {
        let m = self.raw();
        usize::from(m.buf_len).saturating_sub(usize::from(m.data_off))
    }

    /// The raw pointer, for dynfield accessors in this module tree.
    #[inline(always)]
    pub(crate) fn raw_ptr(&self) -> *mut rte_mbuf {
        self.0.as_ptr()
    }

    /// True when the packet data starts where the RPS prefetches expect a
    /// freshly received packet's data ([`RX_DATA_OFFSET`] from the header).
    pub fn data_at_rx_offset(&self) -> bool {
        let m = self.raw();
        let data = m.buf_addr as usize + usize::from(m.data_off);
        data == self.0.as_ptr() as usize + RX_DATA_OFFSET
    }

    /// The pool this mbuf returns to when freed.
    #[inline(always)]
    pub(crate) fn pool_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.raw().pool
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own one reference to a valid mbuf; rte_pktmbuf_free
        // releases it (and its chain) back to its pool exactly once.
        unsafe { dpdk_sys::napi_pktmbuf_free(self.0.as_ptr()) }
    }
}

/// Up to `N` owned mbufs in a fixed array: the unit of RX, TX, ring and
/// free calls. The first `len` slots are owned, non-null mbufs; the rest are
/// garbage that is never read.
#[derive(Debug)]
pub struct MbufBurst<const N: usize> {
    len: usize,
    slots: [*mut rte_mbuf; N],
}

// SAFETY: the burst exclusively owns the mbufs in its first `len` slots
// (see Mbuf's Send).
unsafe impl<const N: usize> Send for MbufBurst<N> {}

impl<const N: usize> Default for MbufBurst<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MbufBurst<N> {
    /// An empty burst.
    pub const fn new() -> Self {
        MbufBurst {
            len: 0,
            slots: [std::ptr::null_mut(); N],
        }
    }

    /// Number of mbufs held.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when no more mbufs fit.
    #[inline(always)]
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// Free slots.
    #[inline(always)]
    pub fn room(&self) -> usize {
        N - self.len
    }

    /// Adds an mbuf; gives it back when the burst is full.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == N {
            return Err(m);
        }
        self.slots[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// The held mbufs.
    #[inline(always)]
    pub fn as_slice(&self) -> &[Mbuf] {
        let owned = &self.slots[..self.len];
        // SAFETY: Mbuf is repr(transparent) over NonNull<rte_mbuf>, which
        // has the layout of *mut rte_mbuf; the first `len` slots are non-null
        // owned mbufs, so they are valid Mbuf values borrowed from self.
        unsafe { std::slice::from_raw_parts(owned.as_ptr().cast::<Mbuf>(), owned.len()) }
    }

    /// The held mbufs, mutably (to rewrite packets in place).
    #[inline(always)]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        let owned = &mut self.slots[..self.len];
        // SAFETY: as in as_slice; the &mut borrow of self is exclusive, and
        // Mbuf values cannot be moved out of a &mut slice without a
        // replacement (mem::swap/replace would swap two owned mbufs).
        unsafe { std::slice::from_raw_parts_mut(owned.as_mut_ptr().cast::<Mbuf>(), owned.len()) }
    }

    /// Moves every mbuf out, in order. Mbufs the iterator does not yield
    /// (because it was dropped early) are freed.
    #[inline(always)]
    pub fn drain(&mut self) -> Drain<'_, N> {
        self.drain_prefetching(0)
    }

    /// [`drain`](Self::drain) for a burst that comes from another core (a
    /// backlog ring), where each mbuf's header lines and data line are
    /// cross-core misses: keeps the loads of the next `ahead` mbufs in
    /// flight while one is processed, as l3fwd prefetches a few packets
    /// ahead. `ahead >= len` starts every load up front. Which is best
    /// depends on how many outstanding misses the core tracks: a couple
    /// of dozen, and a whole burst's 96 lines stall on the first packets
    /// and drop later prefetches; more, and the whole burst wins (the
    /// caller's `PREFETCH_AHEAD` has the measurements).
    #[inline(always)]
    pub fn drain_prefetching(&mut self, ahead: usize) -> Drain<'_, N> {
        let ahead = ahead.min(N);
        for &p in self.slots[..self.len].iter().take(ahead) {
            prefetch_rx_lines(p);
        }
        let len = self.len;
        self.len = 0;
        Drain {
            burst: self,
            next: 0,
            end: len,
            ahead,
        }
    }

    /// Hands each held mbuf, in order, to `f`, which keeps it by giving it
    /// back (`Some`) or takes it away (`None`: it moved the mbuf elsewhere
    /// or dropped it). The kept mbufs stay in this burst, in order, at
    /// the front: a partition in place, where draining into a second
    /// burst and copying the kept ones back costs a copy per burst (RPS
    /// steering keeps the RX worker's own packets this way; the copy was
    /// 4 % of its cycles, a `memcpy` call of the kept pointers).
    #[inline(always)]
    pub fn retain_owned(&mut self, mut f: impl FnMut(Mbuf) -> Option<Mbuf>) {
        let end = self.len;
        // From here, slots[..len] are the kept mbufs and slots[i..end]
        // the ones not handed out yet. Should `f` panic, those leak
        // (never a double free): the burst owns only slots[..len].
        self.len = 0;
        for i in 0..end {
            let p = self.slots[i];
            // SAFETY: slots[..end] held non-null owned mbufs when this call
            // started, and slot i has not been overwritten since (writes go
            // to slots[len] with len <= i); it is handed out exactly once,
            // here.
            let m = unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) };
            if let Some(m) = f(m) {
                // len <= i: this never overwrites an mbuf not handed out yet.
                self.slots[self.len] = m.into_raw();
                self.len += 1;
            }
        }
    }

    /// Moves every mbuf of `other` to the end of this burst, in order, as
    /// far as they fit (what does not fit stays in `other`). Copies only
    /// the held pointers, where `mem::swap` of two bursts would copy both
    /// whole arrays.
    #[inline(always)]
    pub fn append_from<const M: usize>(&mut self, other: &mut MbufBurst<M>) {
        let n = other.len.min(N - self.len);
        self.slots[self.len..self.len + n].copy_from_slice(&other.slots[..n]);
        self.len += n;
        other.forget_front(n);
    }

    /// Frees every held mbuf with one `rte_pktmbuf_free_bulk` call.
    #[inline]
    pub fn free_all(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: the first `len` slots are owned mbufs; after the call we
        // forget them by setting len to 0, so each is freed exactly once.
        unsafe { dpdk_sys::rte_pktmbuf_free_bulk(self.slots.as_mut_ptr(), self.len as u32) };
        self.len = 0;
    }

    /// Removes the first `n` mbufs (already handed to DPDK, which now owns
    /// them) and shifts the rest to the front.
    #[inline(always)]
    pub(crate) fn forget_front(&mut self, n: usize) {
        let n = n.min(self.len);
        if n < self.len {
            // Only when some are left: copy_within is a call even for
            // nothing, and nearly every burst goes out whole.
            self.slots.copy_within(n..self.len, 0);
        }
        self.len -= n;
    }

    /// Pointer to the first free slot and how many are free: for DPDK calls
    /// that write mbufs in (rx_burst, ring dequeue). Follow with
    /// [`MbufBurst::commit`].
    #[inline(always)]
    pub(crate) fn spare_ptr(&mut self) -> (*mut *mut rte_mbuf, usize) {
        // SAFETY: len <= N, so the offset stays within (or one past) the array.
        (
            unsafe { self.slots.as_mut_ptr().add(self.len) },
            N - self.len,
        )
    }

    /// Records that DPDK wrote `n` owned mbufs into the spare slots.
    ///
    /// # Safety
    /// Exactly `n` (<= room) valid, owned mbuf pointers were written starting at `spare_ptr()`.
    #[inline(always)]
    pub(crate) unsafe fn commit(&mut self, n: usize) {
        debug_assert!(n <= N - self.len);
        self.len += n;
    }

    /// Pointer to the held mbufs, for DPDK calls that take them (tx_burst,
    /// ring enqueue, free_bulk). Follow with [`MbufBurst::forget_front`].
    #[inline(always)]
    pub(crate) fn held_ptr(&mut self) -> *mut *mut rte_mbuf {
        self.slots.as_mut_ptr()
    }
}

impl<const N: usize> Drop for MbufBurst<N> {
    fn drop(&mut self) {
        self.free_all();
    }
}

/// Iterator returned by [`MbufBurst::drain`].
#[derive(Debug)]
pub struct Drain<'a, const N: usize> {
    burst: &'a mut MbufBurst<N>,
    next: usize,
    end: usize,
    /// Prefetch the mbuf this many places ahead of the one yielded (0: none).
    ahead: usize,
}

impl<const N: usize> Iterator for Drain<'_, N> {
    type Item = Mbuf;

    #[inline(always)]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next == self.end {
            return None;
        }
        let p = self.burst.slots[self.next];
        if self.ahead > 0 {
            if let Some(&q) = self.burst.slots[..self.end].get(self.next + self.ahead) {
                prefetch_rx_lines(q);
            }
        }
        self.next += 1;
        // SAFETY: slots[..end] were owned when drain() started and each is
        // yielded at most once; ownership moves to the returned Mbuf.
        Some(unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl<const N: usize> ExactSizeIterator for Drain<'_, N> {}

impl<const N: usize> Drop for Drain<'_, N> {
    fn drop(&mut self) {
        let rest = self.end - self.next;
        if rest > 0 {
            // SAFETY: slots[next..end] are still owned (never yielded); the
            // burst's len is already 0, so nothing else will free them.
            unsafe {
                dpdk_sys::rte_pktmbuf_free_bulk(
                    self.burst.slots.as_mut_ptr().add(self.next),
                    rest as u32,
                )
            };
        }
    }
}

/// Starts loading an mbuf's two header lines and its first data line,
/// where a freshly received mbuf has it ([`RX_DATA_OFFSET`]): reading
/// `buf_addr` and `data_off` first would make the data miss wait for the
/// header miss. A packet whose data starts elsewhere is only prefetched
/// less well.
#[inline(always)]
fn prefetch_rx_lines(p: *mut rte_mbuf) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let m = p.cast::<i8>().cast_const();
        // SAFETY: prefetch is a hint that never faults, whatever the address.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(m);
            _mm_prefetch::<_MM_HINT_T0>(m.wrapping_add(64));
            _mm_prefetch::<_MM_HINT_T0>(m.wrapping_add(RX_DATA_OFFSET));
        }
    }
}
