/*
 * benches/line_pingpong.c: the floor under any cross-core hand-off on this
 * machine, for benches/rps.sh. Two threads, pinned to CPU A and CPU B, pass
 * one 64-byte cache line back and forth: A writes a sequence number, B
 * waits for it and writes the next one, A waits for that. Each round trip
 * moves the line from A's cache to B's and back, so it costs two
 * cache-to-cache transfers of the same line, nothing else.
 *
 * RPS hands every packet's mbuf header lines and data line to another core
 * and gets them back when the mbuf is reused, so its per-packet cost cannot
 * fall below a few of these transfers (minus what prefetching overlaps).
 *
 *   usage: line_pingpong CPU_A CPU_B [ROUND_TRIPS]
 *   prints: round_trip_tsc_cycles=N (the median of 5 batches)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <x86intrin.h>

struct line {
	_Alignas(64) _Atomic uint64_t seq;
	char pad[64 - sizeof(uint64_t)];
};

static struct line shared_line;
static long trips = 1000000;
static int cpu_b;

static int pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* B: answers every odd number with the next even one, for 5 batches. */
static void *responder(void *arg)
{
	(void)arg;
	if (pin(cpu_b) != 0) {
		fprintf(stderr, "line_pingpong: cannot pin to CPU %d\n", cpu_b);
		exit(1);
	}
	for (uint64_t n = 1; n < (uint64_t)(2 * trips * 5); n += 2) {
		/* No pause: it would add its own latency to every trip. */
		while (atomic_load_explicit(&shared_line.seq, memory_order_acquire) != n)
			;
		atomic_store_explicit(&shared_line.seq, n + 1, memory_order_release);
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: line_pingpong CPU_A CPU_B [ROUND_TRIPS]\n");
		return 2;
	}
	int cpu_a = atoi(argv[1]);
	cpu_b = atoi(argv[2]);
	if (argc > 3)
		trips = atol(argv[3]);
	if (cpu_a == cpu_b) {
		/* Two spinning threads on one CPU only progress when preempted. */
		fprintf(stderr, "line_pingpong: CPU_A and CPU_B must differ\n");
		return 2;
	}
	if (trips <= 0 || pin(cpu_a) != 0) {
		fprintf(stderr, "line_pingpong: bad round trips or cannot pin to CPU %d\n", cpu_a);
		return 2;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, responder, NULL) != 0)
		return 1;
	double per_trip[5];
	uint64_t n = 0;
	for (int batch = 0; batch < 5; batch++) {
		uint64_t start = __rdtsc();
		for (long i = 0; i < trips; i++) {
			atomic_store_explicit(&shared_line.seq, n + 1, memory_order_release);
			while (atomic_load_explicit(&shared_line.seq, memory_order_acquire) != n + 2)
				;
			n += 2;
		}
		per_trip[batch] = (double)(__rdtsc() - start) / (double)trips;
	}
	pthread_join(t, NULL);
	qsort(per_trip, 5, sizeof(per_trip[0]), cmp);
	printf("round_trip_tsc_cycles=%.0f\n", per_trip[2]);
	return 0;
}
