//! Ethernet devices: configure, start, stop, statistics, and the RX/TX
//! queue handles workers poll.
//!
//! Queue handles are created once per queue by [`Port::setup`] and are not
//! `Clone`: DPDK's rx_burst/tx_burst are not thread-safe on one queue, and
//! the type system, not a comment, keeps each queue on a single worker.
//! Each handle holds the port alive; the port is stopped and closed when the
//! last handle and the `Port` are gone, so no queue is ever polled after stop.

use std::ffi::{CStr, CString};
use std::sync::Arc;

use super::{DpdkError, MbufBurst, Mempool, PrefetchW};

/// Everything needed to bring one port up.
#[derive(Debug, Clone)]
pub struct PortSetup<'a> {
    /// The configured port name (for messages).
    pub name: &'a str,
    /// DPDK device name: the vdev name (`net_pcap0`) or PCI address.
    pub device: &'a str,
    /// One mempool per RX queue (queue i refills from `rx_pools[i]`).
    pub rx_pools: Vec<Mempool>,
    /// Number of TX queues (one per worker).
    pub tx_queues: u16,
    /// RX ring size.
    pub rx_descriptors: u16,
    /// TX ring size.
    pub tx_descriptors: u16,
    /// MTU to set; devices that cannot change it keep theirs (napifwd
    /// enforces the configured MTU in software either way).
    pub mtu: u16,
    /// Receive frames not addressed to the port's MAC.
    pub promiscuous: bool,
    /// MAC to program, or the device's own.
    pub mac: Option<[u8; 6]>,
    /// NUMA socket for queue memory.
    pub socket: u32,
    /// Program a symmetric RSS key (both directions of a flow land on the
    /// same queue and get the same hash) when RSS is used.
    pub rss_symmetric: bool,
}

/// The symmetric Toeplitz key: 0x6d5a repeated. With it the Toeplitz hash
/// of (src, dst, sport, dport) equals that of (dst, src, dport, sport)
/// (Woo & Park, "Scalable TCP Session Monitoring with Symmetric RSS").
const SYMMETRIC_RSS_KEY: [u8; 52] = {
    let mut k = [0u8; 52];
    let mut i = 0;
    while i < 52 {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// Counters from `rte_eth_stats_get`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EthStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets transmitted.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Packets the NIC dropped because the RX ring was full (imissed).
    pub rx_missed: u64,
    /// Erroneous received packets.
    pub rx_errors: u64,
    /// Failed transmits.
    pub tx_errors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

#[derive(Debug)]
struct PortInner {
    id: u16,
    name: String,
}

impl Drop for PortInner {
    fn drop(&mut self) {
        // SAFETY: the port was configured and started by Port::setup; this
        // runs once, when the Port and every queue handle are gone, so no
        // thread is inside rx/tx_burst on it.
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id);
            dpdk_sys::rte_eth_dev_close(self.id);
        }
    }
}

/// A started Ethernet port.
#[derive(Debug, Clone)]
pub struct Port {
    inner: Arc<PortInner>,
    mac: [u8; 6],
    driver: String,
    rss: bool,
}

/// The only handle allowed to receive from one (port, queue).
#[derive(Debug)]
pub struct RxQueue {
    port: u16,
    queue: u16,
    /// The pool the PMD allocates this queue's mbufs from.
    pool: Mempool,
    /// The CPU has PREFETCHW (asked once, at port start).
    prefetchw: Option<PrefetchW>,
    _keep: Arc<PortInner>,
}

/// The only handle allowed to transmit on one (port, queue).
#[derive(Debug)]
pub struct TxQueue {
    port: u16,
    queue: u16,
    _keep: Arc<PortInner>,
}

fn check(what: impl FnOnce() -> String, rc: i32) -> Result<(), DpdkError> {
    if rc < 0 {
        Err(DpdkError::from_errno(what(), rc))
    } else {
        Ok(())
    }
}

/// `-ENOTSUP`: the device does not implement the operation.
const ENOTSUP: i32 = -libc::ENOTSUP;

impl Port {
    /// Finds the device, configures it with one RX queue per pool and
    /// `tx_queues` TX queues, starts it, and returns the port and its queue
    /// handles (RX queue i at index i).
    pub fn setup(s: &PortSetup<'_>) -> Result<(Port, Vec<RxQueue>, Vec<TxQueue>), DpdkError> {
        let name = s.name;
        let id = port_id_by_name(s.device).map_err(|e| {
            e.with_hint(format!(
                "port {name:?}: no device {:?} after EAL init; check the driver name \
                 (net_pcap, net_null, net_ring, net_tap, net_af_packet, net_memif ...) \
                 and its arguments in ports.device",
                s.device
            ))
        })?;
        let what = |op: &str| format!("{op}(port {name:?})");

        // SAFETY: zeroed rte_eth_dev_info is a valid out-parameter; id is a
        // valid port id returned by rte_eth_dev_get_port_by_name.
        let mut info: dpdk_sys::rte_eth_dev_info = unsafe { std::mem::zeroed() };
        // SAFETY: see above.
        check(|| what("rte_eth_dev_info_get"), unsafe {
            dpdk_sys::rte_eth_dev_info_get(id, &mut info)
        })?;
        let driver = if info.driver_name.is_null() {
            String::from("?")
        } else {
            // SAFETY: driver_name points to the driver's static name string.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        let rxq = u16::try_from(s.rx_pools.len()).unwrap_or(u16::MAX);
        if rxq > info.max_rx_queues || s.tx_queues > info.max_tx_queues {
            return Err(DpdkError::msg(
                what("rte_eth_dev_configure"),
                format!(
                    "{rxq} RX / {} TX queues requested, {driver} supports {} / {}",
                    s.tx_queues, info.max_rx_queues, info.max_tx_queues
                ),
            )
            .with_hint("lower ports.rx_queues or the number of workers (each worker needs its own TX queue)"));
        }

        // SAFETY: an all-zero rte_eth_conf is DPDK's documented default configuration.
        let mut conf: dpdk_sys::rte_eth_conf = unsafe { std::mem::zeroed() };
        // RSS only when there is more than one queue to spread over, and only
        // with hash types the device supports (virtual devices support none).
        // SAFETY: napi_eth_rss_hf_default returns a constant.
        let rss_hf = unsafe { dpdk_sys::napi_eth_rss_hf_default() } & info.flow_type_rss_offloads;
        let rss = rxq > 1 && rss_hf != 0;
        let mut key = SYMMETRIC_RSS_KEY;
        if rss {
            conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
            let key_len = usize::from(info.hash_key_size);
            if s.rss_symmetric && key_len > 0 && key_len <= key.len() {
                // DPDK copies the key during configure; `key` outlives the call.
                conf.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
                conf.rx_adv_conf.rss_conf.rss_key_len = info.hash_key_size;
            }
        }
        // SAFETY: conf is fully initialised; queue counts were checked above.
        check(|| what("rte_eth_dev_configure"), unsafe {
            dpdk_sys::rte_eth_dev_configure(id, rxq, s.tx_queues, &conf)
        })?;

        let (mut nb_rxd, mut nb_txd) = (s.rx_descriptors, s.tx_descriptors);
        // SAFETY: id is valid; the pointers are to our locals.
        check(|| what("rte_eth_dev_adjust_nb_rx_tx_desc"), unsafe {
            dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nb_rxd, &mut nb_txd)
        })?;

        if s.mtu != 0 {
            // SAFETY: id is a configured port.
            let rc = unsafe { dpdk_sys::rte_eth_dev_set_mtu(id, s.mtu) };
            if rc < 0 && rc != ENOTSUP {
                return Err(
                    DpdkError::from_errno(what("rte_eth_dev_set_mtu"), rc).with_hint(format!(
                        "the device accepts MTU {}..={}; change ports.mtu",
                        info.min_mtu, info.max_mtu
                    )),
                );
            }
        }

        for (q, pool) in s.rx_pools.iter().enumerate() {
            // SAFETY: q < rxq configured queues; a null rxconf means the
            // driver's default; the pool lives until EAL cleanup.
            let rc = unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    id,
                    q as u16,
                    nb_rxd,
                    s.socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            check(
                || format!("rte_eth_rx_queue_setup(port {name:?}, queue {q})"),
                rc,
            )
            .map_err(|e| {
                e.with_hint("not enough mbufs or memory for the RX ring: raise eal.memory_mb")
            })?;
        }
        for q in 0..s.tx_queues {
            // SAFETY: q < tx_queues configured queues; null txconf = driver default.
            let rc = unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(id, q, nb_txd, s.socket, std::ptr::null())
            };
            check(
                || format!("rte_eth_tx_queue_setup(port {name:?}, queue {q})"),
                rc,
            )?;
        }

        if let Some(mac) = s.mac {
            let mut addr = dpdk_sys::rte_ether_addr { addr_bytes: mac };
            // SAFETY: id is configured; addr is a valid rte_ether_addr.
            let rc = unsafe { dpdk_sys::rte_eth_dev_default_mac_addr_set(id, &mut addr) };
            if rc < 0 && rc != ENOTSUP {
                return Err(DpdkError::from_errno(
                    what("rte_eth_dev_default_mac_addr_set"),
                    rc,
                ));
            }
        }

        // SAFETY: every queue is set up.
        check(|| what("rte_eth_dev_start"), unsafe {
            dpdk_sys::rte_eth_dev_start(id)
        })?;
        let inner = Arc::new(PortInner {
            id,
            name: name.to_owned(),
        });
        if s.promiscuous {
            // SAFETY: the port is started. Devices without the feature return
            // -ENOTSUP; virtual devices receive everything anyway.
            unsafe { dpdk_sys::rte_eth_promiscuous_enable(id) };
        }

        let mut addr = dpdk_sys::rte_ether_addr::default();
        // SAFETY: id is valid; addr is a valid out-parameter.
        check(|| what("rte_eth_macaddr_get"), unsafe {
            dpdk_sys::rte_eth_macaddr_get(id, &mut addr)
        })?;
        // A device that ignored the set (ENOTSUP) still forwards with the
        // configured MAC as its source address: napifwd writes it itself.
        let mac = s.mac.unwrap_or(addr.addr_bytes);

        let prefetchw = PrefetchW::detect();
        let rx = (0..rxq)
            .zip(&s.rx_pools)
            .map(|(queue, &pool)| RxQueue {
                port: id,
                queue,
                pool,
                prefetchw,
                _keep: inner.clone(),
            })
            .collect();
        let tx = (0..s.tx_queues)
            .map(|queue| TxQueue {
                port: id,
                queue,
                _keep: inner.clone(),
            })
            .collect();
        Ok((
            Port {
                inner,
                mac,
                driver,
                rss,
            },
            rx,
            tx,
        ))
    }

    /// DPDK port id.
    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The MAC napifwd uses as this port's source address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The PMD's driver name (`net_pcap`, ...).
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// True when RSS spreads received flows over several queues.
    pub fn rss(&self) -> bool {
        self.rss
    }

    /// Reads the device counters.
    pub fn stats(&self) -> Result<EthStats, DpdkError> {
        // SAFETY: zeroed rte_eth_stats is a valid out-parameter.
        let mut st: dpdk_sys::rte_eth_stats = unsafe { std::mem::zeroed() };
        // SAFETY: the port is alive (we hold the Arc); stats_get is safe to
        // call concurrently with rx/tx bursts on other threads.
        let rc = unsafe { dpdk_sys::rte_eth_stats_get(self.inner.id, &mut st) };
        check(|| format!("rte_eth_stats_get(port {:?})", self.name()), rc)?;
        Ok(EthStats {
            rx_packets: st.ipackets,
            tx_packets: st.opackets,
            rx_bytes: st.ibytes,
            tx_bytes: st.obytes,
            rx_missed: st.imissed,
            rx_errors: st.ierrors,
            tx_errors: st.oerrors,
            rx_nombuf: st.rx_nombuf,
        })
    }
}

fn port_id_by_name(device: &str) -> Result<u16, DpdkError> {
    let c = CString::new(device)
        .map_err(|_| DpdkError::msg("rte_eth_dev_get_port_by_name", "NUL in name"))?;
    let mut id = 0u16;
    // SAFETY: c is a valid C string and id a valid out-parameter.
    let rc = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
    if rc < 0 {
        return Err(DpdkError::from_errno(
            format!("rte_eth_dev_get_port_by_name({device})"),
            rc,
        ));
    }
    Ok(id)
}

impl RxQueue {
    /// The (port id, queue id) this handle polls.
    pub fn ids(&self) -> (u16, u16) {
        (self.port, self.queue)
    }

    /// Receives up to `max` packets (bounded by the burst's room) and appends
    /// them to `burst`. Returns how many arrived.
    #[inline(always)]
    pub fn rx_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>, max: usize) -> usize {
        let (ptr, room) = burst.spare_ptr();
        let want = room.min(max) as u16;
        // SAFETY: `ptr` has room for `want` pointers; this handle is the only
        // poller of (port, queue) (&mut self, not Clone), and the port is
        // started for as long as the handle lives.
        let n = unsafe { dpdk_sys::napi_eth_rx_burst(self.port, self.queue, ptr, want) };
        // SAFETY: rx_burst wrote exactly n owned mbuf pointers at ptr.
        unsafe { burst.commit(usize::from(n)) };
        usize::from(n)
    }

    /// Warms the mbufs the next RX burst of `n` packets will most likely
    /// fill (see [`Mempool::prefetch_next_allocs`]): call it right after a
    /// burst, so the loads run while that burst is processed. Only for the
    /// lcore that polls this queue (it reads that lcore's pool cache).
    #[inline]
    pub fn prefetch_next_rx(&self, n: usize) {
        self.pool.prefetch_next_allocs(n, self.prefetchw);
    }

    /// Used RX descriptors (packets waiting), when the PMD can tell.
    pub fn pending(&self) -> Option<u32> {
        // SAFETY: reading the queue fill is allowed from any thread on a started port.
        let n = unsafe { dpdk_sys::napi_eth_rx_queue_count(self.port, self.queue) };
        u32::try_from(n).ok()
    }
}

impl TxQueue {
    /// The (port id, queue id) this handle transmits on.
    pub fn ids(&self) -> (u16, u16) {
        (self.port, self.queue)
    }

    /// Transmits the burst once. What the queue did not take is freed right
    /// away, never retried (l3fwd's `send_burst` does the same: retrying a
    /// full queue forever stalls every other source). Returns (sent, freed);
    /// the burst is empty afterwards.
    #[inline(always)]
    pub fn send_or_free<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> (usize, usize) {
        let len = burst.len();
        if len == 0 {
            return (0, 0);
        }
        // SAFETY: the burst holds `len` owned mbufs; tx_burst takes ownership
        // of the first `sent`, which we forget below; this handle is the only
        // user of (port, queue) and the port is started.
        let sent = usize::from(unsafe {
            dpdk_sys::napi_eth_tx_burst(self.port, self.queue, burst.held_ptr(), len as u16)
        });
        burst.forget_front(sent);
        let freed = burst.len();
        burst.free_all();
        (sent, freed)
    }
}
