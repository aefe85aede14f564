/* napifwd shim: exported, non-inline wrappers around DPDK's static inline
 * functions. DPDK puts its fast path (rx/tx burst, ring burst, mbuf alloc,
 * LPM lookup) in headers as `static inline`, so there is no symbol to link
 * against. Each wrapper is a one-line forward; Rust calls these through
 * dpdk-sys. They are compiled with the cflags that libdpdk.pc gives. */
#ifndef NAPIFWD_SHIM_H
#define NAPIFWD_SHIM_H

#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;
struct rte_mempool_cache;
struct rte_ring;

uint16_t napi_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
			   struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t napi_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
			   struct rte_mbuf **tx_pkts, uint16_t nb_pkts);
int napi_eth_rx_queue_count(uint16_t port_id, uint16_t queue_id);

struct rte_mbuf *napi_pktmbuf_alloc(struct rte_mempool *mp);
int napi_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			    unsigned int count);
void napi_pktmbuf_free(struct rte_mbuf *m);
char *napi_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
/* The calling lcore's cache of `mp` (NULL off an EAL lcore or without one). */
struct rte_mempool_cache *napi_mempool_default_cache(struct rte_mempool *mp);

unsigned int napi_ring_enqueue_burst(struct rte_ring *r, void *const *objs,
				     unsigned int n, unsigned int *free_space);
unsigned int napi_ring_dequeue_burst(struct rte_ring *r, void **objs,
				     unsigned int n, unsigned int *available);
unsigned int napi_ring_count(const struct rte_ring *r);
unsigned int napi_ring_free_count(const struct rte_ring *r);


/* RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP: built from RTE_BIT64()
 * macros that bindgen cannot evaluate. */
uint64_t napi_eth_rss_hf_default(void);

unsigned int napi_lcore_id(void);
int napi_errno(void);
uint64_t napi_rdtsc(void);

#endif
