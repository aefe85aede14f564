/* napifwd overload filter as an eBPF program (XDP-like: return 0 = drop).
 *
 * Keeps what matters when a worker is flooded: BGP (TCP port 179, either
 * direction) and ICMP/ICMPv6; drops everything else. It runs only while
 * the packet's target worker is overloaded (overload.filter.when =
 * "overload") and sees a pointer to the packet's first byte.
 *
 * Build:  clang -O2 -target bpf -c conf/overload-filter-bpf.c -o overload-filter-bpf.o
 * Use:    [overload] policy = "filter"
 *         [overload.filter] bpf_object = "overload-filter-bpf.o"
 *
 * DPDK's librte_bpf verifies the program at load time (napifwd exits 78 if
 * it is rejected) and JIT-compiles it on x86-64. The program may read up to
 * 2048 bytes from the packet start; bytes past the packet's end are stale
 * buffer contents, so it only trusts the headers it checked.
 */
/* No libc headers: -target bpf has no sysroot. */
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned long long uint64_t;

#define ETH_HLEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_ICMPV6 58
#define BGP_PORT 179

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint64_t keep_l4(uint8_t proto, const uint8_t *l4)
{
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		return 1;
	if (proto == IPPROTO_TCP &&
	    (be16(l4) == BGP_PORT || be16(l4 + 2) == BGP_PORT))
		return 1;
	return 0;
}

uint64_t entry(void *pkt)
{
	const uint8_t *p = pkt;
	uint16_t type = be16(p + 12);

	if (type == ETHERTYPE_IPV4) {
		const uint8_t *ip = p + ETH_HLEN;
		uint8_t ihl = (ip[0] & 0x0f) * 4;
		/* Later fragments carry no ports: only the first is judged on them. */
		if (ihl < 20 || (be16(ip + 6) & 0x1fff) != 0)
			return ip[9] == IPPROTO_ICMP;
		return keep_l4(ip[9], ip + ihl);
	}
	if (type == ETHERTYPE_IPV6) {
		const uint8_t *ip6 = p + ETH_HLEN;
		/* Next header straight after the fixed header (no extension walk). */
		return keep_l4(ip6[6], ip6 + 40);
	}
	return 0;
}
