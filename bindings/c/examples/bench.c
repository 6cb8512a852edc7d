/*
 * acquire + record through the C ABI, timed from C. The Rust twin is
 * examples/bench.rs (same loop, same clock); bindings/c/bench.sh runs both.
 *
 *   bench [calls_per_thread] [threads] [monotonic|manual]
 *
 * Prints one line per round and the best round's ns per call (per thread):
 * the machine may be shared, and the best round is the least disturbed.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fusebox.h"

enum { ROUNDS = 15 };

typedef struct arg {
  const fb_breaker *breaker;
  long calls;
  long bad;
} arg;

static void *loop(void *raw) {
  arg *a = (arg *)raw;
  for (long i = 0; i < a->calls; i++) {
    fb_permit p;
    if (fb_breaker_acquire(a->breaker, &p, NULL) != FB_OK ||
        fb_permit_record(&p, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO) != FB_OK)
      a->bad++;
  }
  return NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  long calls = argc > 1 ? atol(argv[1]) : 2000000;
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  int manual = argc > 3 && strcmp(argv[3], "manual") == 0;
  if (calls < 1 || threads < 1 || threads > 64) {
    fprintf(stderr, "usage: bench [calls_per_thread] [threads] [monotonic|manual]\n");
    return 2;
  }
  fb_config config;
  fb_clock *clock = NULL;
  fb_breaker *breaker = NULL;
  if (fb_config_default(&config) != FB_OK ||
      (manual && fb_clock_manual_new(&clock) != FB_OK) ||
      fb_breaker_new_with_clock(&config, clock, &breaker) != FB_OK) {
    fprintf(stderr, "bench: %s\n", fb_last_error());
    return 1;
  }
  double best = 1e30;
  long bad = 0;
  for (int round = 0; round < ROUNDS; round++) {
    pthread_t t[64];
    arg a[64];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
      a[i].breaker = breaker;
      a[i].calls = calls;
      a[i].bad = 0;
      pthread_create(&t[i], NULL, loop, &a[i]);
    }
    for (int i = 0; i < threads; i++) {
      pthread_join(t[i], NULL);
      bad += a[i].bad;
    }
    double ns = (now_s() - t0) * 1e9 / (double)calls;
    if (ns < best) best = ns;
    printf("C   round %d: %.2f ns/call\n", round, ns);
  }
  fb_metrics m;
  fb_breaker_metrics(breaker, &m);
  printf("C   acquire+record, %d thread(s), %s clock: best %.2f ns/call "
         "(%llu successes, %ld bad)\n",
         threads, manual ? "manual" : "monotonic", best,
         (unsigned long long)m.successes, bad);
  fb_breaker_free(breaker);
  if (clock) fb_clock_free(clock);
  return bad == 0 ? 0 : 1;
}
