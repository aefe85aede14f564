/*
 * benches/handoff_floor.c: what handing packet buffers from one core to
 * another costs on this machine with no napifwd and no DPDK in the way,
 * for the (a) figure of benches/rps.sh. Plain C, two pinned threads.
 *
 * Each "packet" is a buffer laid out like a DPDK mbuf: two header lines
 * (bytes 0-127), then 128 bytes of headroom, then the frame (one line).
 * The receiving side does what net_pcap's RX and rte_pktmbuf_reset do to
 * the lines: takes a buffer from its free stack (LIFO, like a mempool's
 * per-lcore cache), writes both header lines and copies a 64-byte frame
 * in. The forwarding side does what forwarding and TX to net_null do:
 * reads the first header line, reads and rewrites the frame (TTL and
 * MACs), reads the second header line (the pool pointer a free needs),
 * and frees the buffer onto its own free stack, which spills to a return
 * ring when it grows past its size (a mempool cache flushing to the
 * pool's ring); the receiving side refills its stack from that ring.
 *
 *   single: one thread on CPU A does both, buffer by buffer, in bursts
 *   pipeline: the receiving thread on CPU A enqueues bursts of 32 into a
 *     single-producer single-consumer ring held to 1000 (tail-dropping what
 *     does not fit, as a full backlog does), the forwarding thread on
 *     CPU B dequeues up to 32 at a time; the forwarding thread prefetches
 *     4 buffers ahead, the receiving thread its next 32 free buffers.
 *
 * Prints cycles per packet: single; the receiving thread's busy cycles
 * per received buffer and the forwarding thread's per forwarded buffer;
 * and overhead = receiving + forwarding - single, which is what
 * benches/rps.sh's "overhead fair" measures for napifwd. No ring, mbuf or
 * forwarding code of napifwd or DPDK is involved, so this is a floor for
 * that figure on this machine, not a model of napifwd.
 *
 *   usage: handoff_floor CPU_A CPU_B [SECONDS [RX_PREFETCH]]
 *   (RX_PREFETCH: free buffers the receiver prefetches, default 32)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#define BUF_SIZE 2176 /* an mbuf with 2 KiB of data room and 128 of headroom */
#define DATA_OFF 256
#define BURST 32
#define RING_SIZE 4096 /* slots; a power of two */
#define BACKLOG 1000   /* the hand-off ring's limit, as rps.max_backlog */
#define CACHE 512      /* a free stack's size before it spills */
#define AHEAD 4

struct buf_hdr { /* the two header lines */
	uint64_t w[16];
};

struct ring {
	uint32_t cap;                       /* at most this many held */
	_Alignas(64) _Atomic uint32_t head; /* written by the producer */
	_Alignas(64) _Atomic uint32_t tail; /* written by the consumer */
	_Alignas(64) void *slot[RING_SIZE];
};

struct stack {
	void *obj[CACHE * 2 + BURST];
	unsigned len;
};

static unsigned char *arena;
static unsigned rx_ahead = BURST; /* buffers the receiver prefetches for its next burst */
static struct ring handoff, giveback; /* A -> B packets, B -> A free buffers */
static _Atomic int stop;
static const unsigned char frame[64] = {
	0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 46,
	0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 1, 1,
};

static uint32_t ring_put(struct ring *r, void **objs, uint32_t n)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint32_t room = r->cap - (h - t);
	if (n > room)
		n = room;
	for (uint32_t i = 0; i < n; i++)
		r->slot[(h + i) & (RING_SIZE - 1)] = objs[i];
	atomic_store_explicit(&r->head, h + n, memory_order_release);
	return n;
}

static uint32_t ring_get(struct ring *r, void **objs, uint32_t n)
{
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
	if (n > h - t)
		n = h - t;
	for (uint32_t i = 0; i < n; i++)
		objs[i] = r->slot[(t + i) & (RING_SIZE - 1)];
	atomic_store_explicit(&r->tail, t + n, memory_order_release);
	return n;
}

/* Starts loading a buffer's two header lines and its frame line. */
static inline void prefetch_buf(const char *b, int for_write)
{
	if (for_write) {
		__builtin_prefetch(b, 1);
		__builtin_prefetch(b + 64, 1);
		__builtin_prefetch(b + DATA_OFF, 1);
	} else {
		__builtin_prefetch(b);
		__builtin_prefetch(b + 64);
		__builtin_prefetch(b + DATA_OFF);
	}
}

/* RX side: take n buffers, write their header lines, copy the frame in. */
static unsigned rx(struct stack *free_bufs, void **out, unsigned n)
{
	if (free_bufs->len < n)
		free_bufs->len += ring_get(&giveback, free_bufs->obj + free_bufs->len,
					   CACHE - free_bufs->len);
	if (free_bufs->len < n)
		n = free_bufs->len;
	for (unsigned i = 0; i < n; i++) {
		unsigned char *b = free_bufs->obj[--free_bufs->len];
		struct buf_hdr *h = (struct buf_hdr *)b;
		h->w[0] = (uint64_t)(uintptr_t)(b + DATA_OFF); /* buf_addr */
		h->w[2] = ((uint64_t)DATA_OFF << 32) | 1;      /* data_off, refcnt, nb_segs */
		h->w[3] = 0;                                   /* ol_flags */
		h->w[5] = sizeof(frame);                       /* pkt_len, data_len */
		h->w[8] = 0;                                   /* next (second line) */
		h->w[9] = 0;                                   /* tx_offload */
		memcpy(b + DATA_OFF, frame, sizeof(frame));
		out[i] = b;
	}
	/* the next burst's buffers: fetch them while this one is handled */
	for (unsigned i = 0; i < rx_ahead && i < free_bufs->len; i++)
		prefetch_buf(free_bufs->obj[free_bufs->len - 1 - i], 1);
	return n;
}

/* Forwarding side: read the header, rewrite the frame, free the buffer. */
static uint64_t forward(struct stack *free_bufs, void **bufs, unsigned n, int ahead)
{
	uint64_t sum = 0;
	for (int i = 0; i < ahead && i < (int)n; i++)
		prefetch_buf(bufs[i], 0);
	for (unsigned i = 0; i < n; i++) {
		if (ahead && i + ahead < n)
			prefetch_buf(bufs[i + ahead], 0);
		struct buf_hdr *h = bufs[i];
		unsigned char *d = (unsigned char *)(uintptr_t)h->w[0];
		sum += h->w[5] + h->w[3];
		d[22]--; /* TTL */
		memcpy(d, d + 6, 6);
		d[11] ^= 1;
		sum += h->w[8] + h->w[9]; /* what a free reads in the second line */
		free_bufs->obj[free_bufs->len++] = bufs[i];
	}
	if (free_bufs->len > CACHE + BURST) {
		/* spill to the shared ring, as a mempool cache does past its size */
		unsigned spill = free_bufs->len - CACHE / 2;
		unsigned put = ring_put(&giveback, free_bufs->obj + free_bufs->len - spill, spill);
		free_bufs->len -= put;
	}
	return sum;
}

struct side {
	int cpu;
	uint64_t packets, busy, dropped, sum;
};

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
		fprintf(stderr, "handoff_floor: cannot pin a thread to CPU %d\n", cpu);
		exit(1);
	}
}

static void *receiver(void *arg)
{
	struct side *s = arg;
	struct stack *fs = calloc(1, sizeof(*fs));
	void *burst[BURST];
	pin(s->cpu);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t t0 = __rdtsc();
		unsigned n = rx(fs, burst, BURST);
		unsigned put = ring_put(&handoff, burst, n);
		for (unsigned i = put; i < n; i++) /* tail drop: back to the stack */
			fs->obj[fs->len++] = burst[i];
		if (n) {
			s->busy += __rdtsc() - t0;
			s->packets += n;
			s->dropped += n - put;
		}
	}
	return NULL;
}

static void *forwarder(void *arg)
{
	struct side *s = arg;
	struct stack *fs = calloc(1, sizeof(*fs));
	void *burst[BURST];
	pin(s->cpu);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t t0 = __rdtsc();
		unsigned n = ring_get(&handoff, burst, BURST);
		if (n) {
			s->sum += forward(fs, burst, n, AHEAD);
			s->busy += __rdtsc() - t0;
			s->packets += n;
		}
	}
	return NULL;
}

/* Empties both rings and puts RING_SIZE buffers in the return ring, where
 * the receiver's stack refills from (more than the hand-off ring, both
 * stacks and a burst can hold, so the receiver never waits for one). */
static void reset_rings(void)
{
	static void *all[RING_SIZE];
	memset(&handoff, 0, sizeof(handoff));
	memset(&giveback, 0, sizeof(giveback));
	handoff.cap = BACKLOG;
	giveback.cap = RING_SIZE;
	for (unsigned i = 0; i < RING_SIZE; i++)
		all[i] = arena + (size_t)i * BUF_SIZE;
	ring_put(&giveback, all, RING_SIZE);
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: %s CPU_A CPU_B [SECONDS [RX_PREFETCH]]\n", argv[0]);
		return 2;
	}
	int a = atoi(argv[1]), b = atoi(argv[2]);
	double secs = argc > 3 ? atof(argv[3]) : 3.0;
	if (a == b) {
		fprintf(stderr, "handoff_floor: CPU_A and CPU_B must differ\n");
		return 2;
	}
	if (!(secs > 0.0 && secs <= 600.0)) {
		fprintf(stderr, "handoff_floor: SECONDS must be in (0, 600]\n");
		return 2;
	}
	if (argc > 4)
		rx_ahead = (unsigned)atoi(argv[4]);
	pin(b); /* both CPUs must be ours before anything is measured */
	pin(a);
	arena = aligned_alloc(4096, (size_t)RING_SIZE * BUF_SIZE);
	if (!arena) {
		perror("aligned_alloc");
		return 1;
	}
	memset(arena, 0, (size_t)RING_SIZE * BUF_SIZE);

	/* TSC rate, roughly: enough to time the runs */
	struct timespec ts0, ts1;
	clock_gettime(CLOCK_MONOTONIC, &ts0);
	uint64_t c0 = __rdtsc();
	do
		clock_gettime(CLOCK_MONOTONIC, &ts1);
	while ((ts1.tv_sec - ts0.tv_sec) * 1e9 + (ts1.tv_nsec - ts0.tv_nsec) < 2e8);
	double hz = (__rdtsc() - c0) / 0.2;

	/* single: one thread, the same work, no ring */
	reset_rings();
	struct stack *rs = calloc(1, sizeof(*rs)), *fs = calloc(1, sizeof(*fs));
	void *burst[BURST];
	uint64_t single_pkts = 0, sum = 0, t0 = __rdtsc(), end = t0 + (uint64_t)(secs * hz);
	while (__rdtsc() < end) {
		unsigned n = rx(rs, burst, BURST);
		sum += forward(fs, burst, n, 0);
		/* one core: the forwarder's spills come straight back */
		while (fs->len && rs->len < CACHE)
			rs->obj[rs->len++] = fs->obj[--fs->len];
		single_pkts += n;
	}
	double single = (double)(__rdtsc() - t0) / single_pkts;

	/* pipeline: receiver on A, forwarder on B */
	reset_rings();
	struct side ra = {.cpu = a}, fb = {.cpu = b};
	pthread_t ta, tb;
	pthread_create(&tb, NULL, forwarder, &fb);
	pthread_create(&ta, NULL, receiver, &ra);
	struct timespec nap = {.tv_sec = (time_t)secs, .tv_nsec = (long)((secs - (time_t)secs) * 1e9)};
	nanosleep(&nap, NULL);
	atomic_store(&stop, 1);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	double rxc = (double)ra.busy / ra.packets, fwc = (double)fb.busy / fb.packets;
	printf("single_cycles_per_packet=%.1f\n", single);
	printf("receiver_cycles_per_received=%.1f\n", rxc);
	printf("forwarder_cycles_per_forwarded=%.1f\n", fwc);
	printf("overhead_fair=%.1f\n", rxc + fwc - single);
	printf("pipeline_mpps=%.2f single_mpps=%.2f dropped_pct=%.1f\n",
	       fb.packets / secs / 1e6, single_pkts / secs / 1e6,
	       100.0 * ra.dropped / (ra.packets ? ra.packets : 1));
	volatile uint64_t keep = sum + fb.sum; /* the header reads stay */
	(void)keep;
	return 0;
}
