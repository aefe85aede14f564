/* See shim.h. Every function forwards to one DPDK static inline function
 * with the same semantics; nothing here adds logic. */
#include <rte_config.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include "shim.h"

uint16_t napi_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
			   struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t napi_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
			   struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

int napi_eth_rx_queue_count(uint16_t port_id, uint16_t queue_id)
{
	return rte_eth_rx_queue_count(port_id, queue_id);
}

struct rte_mbuf *napi_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

int napi_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			    unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void napi_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

char *napi_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

unsigned int napi_ring_enqueue_burst(struct rte_ring *r, void *const *objs,
				     unsigned int n, unsigned int *free_space)
{
	return rte_ring_enqueue_burst(r, objs, n, free_space);
}

unsigned int napi_ring_dequeue_burst(struct rte_ring *r, void **objs,
				     unsigned int n, unsigned int *available)
{
	return rte_ring_dequeue_burst(r, objs, n, available);
}

unsigned int napi_ring_count(const struct rte_ring *r)
{
	return rte_ring_count(r);
}

unsigned int napi_ring_free_count(const struct rte_ring *r)
{
	return rte_ring_free_count(r);
}

uint64_t napi_eth_rss_hf_default(void)
{
	return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
}

unsigned int napi_lcore_id(void)
{
	return rte_lcore_id();
}

int napi_errno(void)
{
	return rte_errno;
}

uint64_t napi_rdtsc(void)
{
	return rte_rdtsc();
}

struct rte_mempool_cache *napi_mempool_default_cache(struct rte_mempool *mp)
{
	return rte_mempool_default_cache(mp, rte_lcore_id());
}
