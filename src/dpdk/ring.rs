//! Rings of mbufs (`rte_ring`): the backlog that RPS enqueues into.
//!
//! A ring is created multi-producer / single-consumer: any worker may
//! enqueue (a [`RingProducer`] is `Clone`), exactly one worker dequeues (the
//! [`RingConsumer`] is not). Burst semantics as in `rte_ring.h`: enqueue
//! takes as many as fit and returns that number; the caller keeps the rest.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use super::{DpdkError, Mbuf, MbufBurst};

#[derive(Debug)]
struct RingInner {
    ptr: NonNull<dpdk_sys::rte_ring>,
    capacity: u32,
}

// SAFETY: the ring is created MP/SC; producers use the MP-safe enqueue from
// any thread, and the unique RingConsumer is the only dequeuer. count() is a
// racy-but-safe read of head/tail indices.
unsafe impl Send for RingInner {}
// SAFETY: see Send.
unsafe impl Sync for RingInner {}

impl Drop for RingInner {
    fn drop(&mut self) {
        // Free what is still queued: every mbuf in the ring is owned by it.
        let mut burst = MbufBurst::<64>::new();
        loop {
            let (p, room) = burst.spare_ptr();
            // SAFETY: this is the last reference to the ring (Arc dropped),
            // so no producer or consumer runs concurrently; p has `room` slots.
            let n = unsafe {
                dpdk_sys::napi_ring_dequeue_burst(
                    self.ptr.as_ptr(),
                    p.cast(),
                    room as u32,
                    std::ptr::null_mut(),
                )
            };
            if n == 0 {
                break;
            }
            // SAFETY: n owned mbuf pointers were written at p.
            unsafe { burst.commit(n as usize) };
            burst.free_all();
        }
        // SAFETY: the ring is empty and unreferenced.
        unsafe { dpdk_sys::rte_ring_free(self.ptr.as_ptr()) };
    }
}

/// A multi-producer, single-consumer ring of mbufs with an exact capacity.
#[derive(Debug)]
pub struct MbufRing;

/// The enqueue end; clone one per producing worker.
#[derive(Debug, Clone)]
pub struct RingProducer {
    inner: Arc<RingInner>,
}

/// The dequeue end; exactly one exists per ring.
#[derive(Debug)]
pub struct RingConsumer {
    inner: Arc<RingInner>,
}

impl MbufRing {
    /// Creates a ring holding at most `capacity` mbufs on NUMA `socket`
    /// (`RING_F_EXACT_SZ`: the usable size is exactly `capacity`, which is
    /// what `max_backlog` promises).
    pub fn create(
        name: &str,
        capacity: u32,
        socket: u32,
    ) -> Result<(RingProducer, RingConsumer), DpdkError> {
        let cname = CString::new(name)
            .map_err(|_| DpdkError::msg("rte_ring_create", "NUL in ring name"))?;
        let flags = dpdk_sys::RING_F_SC_DEQ | dpdk_sys::RING_F_EXACT_SZ;
        // SAFETY: cname is valid for the call (DPDK copies the name).
        let ptr =
            unsafe { dpdk_sys::rte_ring_create(cname.as_ptr(), capacity, socket as i32, flags) };
        let ptr = NonNull::new(ptr).ok_or_else(|| {
            DpdkError::last(format!("rte_ring_create({name}, {capacity})"))
                .with_hint("lower rps.max_backlog or raise eal.memory_mb")
        })?;
        let inner = Arc::new(RingInner { ptr, capacity });
        Ok((
            RingProducer {
                inner: inner.clone(),
            },
            RingConsumer { inner },
        ))
    }
}

impl RingProducer {
    /// Enqueues as many mbufs from the front of `burst` as fit; they leave
    /// the burst. Returns how many were enqueued; the rest stay in `burst`
    /// for the caller to drop and count.
    #[inline(always)]
    pub fn enqueue_burst<const N: usize>(&self, burst: &mut MbufBurst<N>) -> usize {
        self.enqueue_burst_max(burst, usize::MAX)
    }

    /// Like [`enqueue_burst`](Self::enqueue_burst), enqueuing at most `max`.
    #[inline(always)]
    pub fn enqueue_burst_max<const N: usize>(&self, burst: &mut MbufBurst<N>, max: usize) -> usize {
        let len = burst.len().min(max);
        if len == 0 {
            return 0;
        }
        // SAFETY: the burst holds `len` owned mbufs; the ring takes ownership
        // of the first n, which we forget; MP enqueue is safe from any thread.
        let n = unsafe {
            dpdk_sys::napi_ring_enqueue_burst(
                self.inner.ptr.as_ptr(),
                burst.held_ptr().cast(),
                len as u32,
                std::ptr::null_mut(),
            )
        } as usize;
        burst.forget_front(n);
        n
    }

    /// Enqueues one mbuf; gives it back when the ring is full.
    pub fn enqueue(&self, m: Mbuf) -> Result<(), Mbuf> {
        let mut b = MbufBurst::<1>::new();
        let _ = b.push(m);
        if self.enqueue_burst(&mut b) == 1 {
            Ok(())
        } else {
            Err(b.drain().next().expect("burst of one holds the mbuf"))
        }
    }

    /// Mbufs queued now (a snapshot; producers and the consumer race it).
    #[inline(always)]
    pub fn count(&self) -> u32 {
        // SAFETY: rte_ring_count only reads the ring's head/tail indices.
        unsafe { dpdk_sys::napi_ring_count(self.inner.ptr.as_ptr()) }
    }

    /// Maximum mbufs the ring holds.
    pub fn capacity(&self) -> u32 {
        self.inner.capacity
    }
}

impl RingConsumer {
    /// Dequeues up to `max` mbufs (bounded by the burst's room) into `burst`.
    #[inline(always)]
    pub fn dequeue_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>, max: usize) -> usize {
        self.dequeue_burst_left(burst, max).0
    }

    /// [`dequeue_burst`](Self::dequeue_burst), also returning how many
    /// mbufs the ring still held after it (`rte_ring_dequeue_burst`'s
    /// `available`): what a separate `count` would say, without a second
    /// call.
    #[inline(always)]
    pub fn dequeue_burst_left<const N: usize>(
        &mut self,
        burst: &mut MbufBurst<N>,
        max: usize,
    ) -> (usize, u32) {
        let (p, room) = burst.spare_ptr();
        let want = room.min(max) as u32;
        let mut left = 0u32;
        // SAFETY: we are the ring's only consumer (&mut self, not Clone),
        // p has room for `want` pointers, and `left` is a valid u32 for
        // the ring to write.
        let n = unsafe {
            dpdk_sys::napi_ring_dequeue_burst(self.inner.ptr.as_ptr(), p.cast(), want, &mut left)
        } as usize;
        // SAFETY: the ring wrote n owned mbuf pointers at p.
        unsafe { burst.commit(n) };
        (n, left)
    }

    /// Mbufs queued now.
    #[inline(always)]
    pub fn count(&self) -> u32 {
        // SAFETY: rte_ring_count only reads the ring's head/tail indices.
        unsafe { dpdk_sys::napi_ring_count(self.inner.ptr.as_ptr()) }
    }

    /// Maximum mbufs the ring holds.
    pub fn capacity(&self) -> u32 {
        self.inner.capacity
    }
}
