/* The DPDK headers napifwd binds. Keep this list short: every header here
 * becomes Rust items, and bindgen's allowlist in build.rs decides which. */
#include <rte_config.h>
#include <rte_version.h>
#include <rte_errno.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_memory.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ethdev.h>
#include <rte_ring.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_bpf.h>
#include <rte_dev.h>
#include <rte_bus_vdev.h>

#include "shim.h"
