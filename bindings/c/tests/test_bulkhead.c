/*
 * The fusebox C ABI bulkhead test (fb_bulkhead_*), in C11:
 *   - the limit, the refusal and its counts, permits used once;
 *   - an adaptive (AIMD) limit on a manual clock backing off on slow calls;
 *   - bad input: NULL pointers, bad configs, double frees, used permits;
 *   - the Prometheus text;
 *   - a pthreads stress: 4 threads x N tries on a bulkhead of 3, never more
 *     than 3 inside, every slot back at the end.
 *
 * Usage: test_bulkhead [N]   (tries per thread, default 200000)
 */
#include "check.h"
#include "fusebox.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fb_bulkhead *make(uint32_t max_concurrent) {
  fb_bulkhead_config cfg;
  CHECK(fb_bulkhead_config_default(&cfg) == FB_OK);
  cfg.max_concurrent = max_concurrent;
  fb_bulkhead *b = NULL;
  CHECK(fb_bulkhead_new("inventory", &cfg, &b) == FB_OK);
  return b;
}

static fb_bulkhead_stats metrics_of(const fb_bulkhead *b) {
  fb_bulkhead_stats m;
  memset(&m, 0, sizeof m);
  CHECK(fb_bulkhead_metrics(b, &m) == FB_OK);
  return m;
}

static void limit_and_refusal(void) {
  fb_bulkhead *b = make(2);
  fb_bulkhead_permit p1, p2, p3;
  fb_bulkhead_full full;
  CHECK(fb_bulkhead_try_acquire(b, &p1, NULL) == FB_OK);
  CHECK(fb_bulkhead_try_acquire(b, &p2, NULL) == FB_OK);
  CHECK(p2.in_flight == 2);
  CHECK(fb_bulkhead_try_acquire(b, &p3, &full) == FB_REJECTED);
  CHECK(p3.bulkhead == NULL);
  CHECK(full.limit == 2 && full.in_flight == 2 && full.waited_ns == 0);
  /* fb_bulkhead_acquire with no max_wait refuses at once too. */
  CHECK(fb_bulkhead_acquire(b, &p3, NULL) == FB_REJECTED);
  CHECK(fb_bulkhead_permit_record(&p1, FB_OUTCOME_SUCCESS) == FB_OK);
  CHECK(fb_bulkhead_permit_record(&p1, FB_OUTCOME_SUCCESS) == FB_ERR_PERMIT_USED);
  CHECK(fb_bulkhead_permit_release(&p2) == FB_OK);
  CHECK(fb_bulkhead_permit_release(&p2) == FB_ERR_PERMIT_USED);
  fb_bulkhead_stats m = metrics_of(b);
  CHECK(m.limit == 2 && m.in_flight == 0 && m.peak_in_flight == 2);
  CHECK(m.rejected == 2 && m.waiting == 0 && m.limit_updates == 0);
  CHECK(fb_bulkhead_set_limit(b, 1) == FB_OK);
  CHECK(fb_bulkhead_set_limit(b, 3) == FB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(fb_last_error(), "limit") != NULL);
  CHECK(fb_bulkhead_try_acquire(b, &p1, NULL) == FB_OK);
  CHECK(fb_bulkhead_try_acquire(b, &p2, NULL) == FB_REJECTED);
  CHECK(fb_bulkhead_permit_release(&p1) == FB_OK);
  CHECK(fb_bulkhead_free(b) == FB_OK);
}

static void adaptive_on_a_manual_clock(void) {
  fb_clock *clock = NULL;
  CHECK(fb_clock_manual_new(&clock) == FB_OK);
  fb_bulkhead_config cfg;
  fb_bulkhead_config_default(&cfg);
  cfg.limit_algorithm = FB_LIMIT_AIMD;
  cfg.min_limit = 2;
  cfg.initial_limit = 20;
  cfg.max_limit = 50;
  fb_bulkhead *b = NULL;
  CHECK(fb_bulkhead_new_with_clock("adaptive", &cfg, clock, &b) == FB_OK);
  CHECK(metrics_of(b).limit == 20);
  /* Two rounds of 20 calls of 6 s (over AIMD's 5 s timeout): the first
     sample opens a 1 s window, the second round's first sample closes it. */
  for (int round = 0; round < 2; round++) {
    fb_bulkhead_permit ps[20];
    for (int i = 0; i < 20; i++) CHECK(fb_bulkhead_try_acquire(b, &ps[i], NULL) == FB_OK);
    CHECK(fb_clock_advance(clock, 6000000000ull) == FB_OK);
    for (int i = 0; i < 20; i++) CHECK(fb_bulkhead_permit_record(&ps[i], FB_OUTCOME_SUCCESS) == FB_OK);
  }
  fb_bulkhead_stats m = metrics_of(b);
  CHECK(m.limit == 18); /* floor(20 x 0.9) */
  CHECK(m.limit_updates == 1);
  CHECK(fb_bulkhead_free(b) == FB_OK);
  CHECK(fb_clock_free(clock) == FB_OK);
}

static void bad_input(void) {
  fb_bulkhead_config cfg;
  fb_bulkhead *b = NULL;
  fb_bulkhead_permit p;
  CHECK(fb_bulkhead_config_default(NULL) == FB_ERR_NULL_POINTER);
  fb_bulkhead_config_default(&cfg);
  cfg.max_concurrent = 0;
  CHECK(fb_bulkhead_new("x", &cfg, &b) == FB_ERR_INVALID_CONFIG);
  CHECK(strstr(fb_last_error(), "max_concurrent") != NULL);
  fb_bulkhead_config_default(&cfg);
  cfg.limit_algorithm = 42;
  CHECK(fb_bulkhead_new("x", &cfg, &b) == FB_ERR_INVALID_CONFIG);
  CHECK(strstr(fb_last_error(), "limit_algorithm") != NULL);
  fb_bulkhead_config_default(&cfg);
  cfg.limit_algorithm = FB_LIMIT_GRADIENT2;
  cfg.min_limit = 30;
  cfg.max_limit = 10;
  CHECK(fb_bulkhead_new("x", &cfg, &b) == FB_ERR_INVALID_CONFIG);
  CHECK(strstr(fb_last_error(), "limit") != NULL);
  memset(&cfg, 0, sizeof cfg);
  CHECK(fb_bulkhead_new("x", &cfg, &b) == FB_ERR_INVALID_CONFIG);
  CHECK(strstr(fb_last_error(), "fb_bulkhead_config_default") != NULL);
  fb_bulkhead_config_default(&cfg);
  CHECK(fb_bulkhead_new(NULL, &cfg, &b) == FB_ERR_NULL_POINTER);
  CHECK(fb_bulkhead_new("", &cfg, &b) == FB_ERR_INVALID_NAME);
  CHECK(fb_bulkhead_new("\xff", &cfg, &b) == FB_ERR_INVALID_UTF8);
  CHECK(fb_bulkhead_new("x", NULL, &b) == FB_ERR_NULL_POINTER);
  CHECK(fb_bulkhead_new("x", &cfg, NULL) == FB_ERR_NULL_POINTER);
  CHECK(fb_bulkhead_new_with_clock("x", &cfg, NULL, &b) == FB_ERR_NULL_POINTER);
  CHECK(fb_bulkhead_try_acquire(NULL, &p, NULL) == FB_ERR_NULL_POINTER);
  CHECK(fb_bulkhead_permit_record(NULL, FB_OUTCOME_SUCCESS) == FB_ERR_NULL_POINTER);
  CHECK(fb_bulkhead_permit_release(NULL) == FB_ERR_NULL_POINTER);
  CHECK(fb_bulkhead_metrics(NULL, NULL) == FB_ERR_NULL_POINTER);
  b = make(1);
  CHECK(fb_bulkhead_try_acquire(b, NULL, NULL) == FB_ERR_NULL_POINTER);
  CHECK(fb_bulkhead_metrics(b, NULL) == FB_ERR_NULL_POINTER);
  CHECK(fb_bulkhead_try_acquire(b, &p, NULL) == FB_OK);
  CHECK(fb_bulkhead_permit_record(&p, 99) == FB_ERR_INVALID_ARGUMENT);
  CHECK(p.bulkhead != NULL); /* a bad outcome does not use the permit */
  CHECK(fb_bulkhead_permit_record(&p, FB_OUTCOME_FAILURE) == FB_OK);
  CHECK(fb_bulkhead_set_limit(b, 0) == FB_ERR_INVALID_ARGUMENT);
  CHECK(fb_bulkhead_free(b) == FB_OK);
  CHECK(fb_bulkhead_free(b) == FB_ERR_INVALID_HANDLE);
  CHECK(fb_bulkhead_free(NULL) == FB_ERR_NULL_POINTER);
}

static void prometheus_text(void) {
  fb_bulkhead *b = make(4);
  size_t len = 0;
  CHECK(fb_bulkhead_prometheus(b, NULL, 0, &len) == FB_ERR_INVALID_ARGUMENT);
  CHECK(len > 0);
  char *buf = malloc(len + 1);
  CHECK(buf != NULL);
  CHECK(fb_bulkhead_prometheus(b, buf, len + 1, &len) == FB_OK);
  CHECK(strlen(buf) == len);
  CHECK(strstr(buf, "fusebox_bulkhead_limit{bulkhead=\"inventory\"} 4") != NULL);
  CHECK(strstr(buf, "# TYPE fusebox_bulkhead_rejected_total counter") != NULL);
  free(buf);
  CHECK(fb_bulkhead_free(b) == FB_OK);
}

typedef struct stress_args {
  fb_bulkhead *bulkhead;
  long tries;
  atomic_int *inside;
  atomic_int *most;
  long admitted;
} stress_args;

static void *stress_thread(void *arg) {
  stress_args *a = arg;
  for (long i = 0; i < a->tries; i++) {
    fb_bulkhead_permit p;
    if (fb_bulkhead_try_acquire(a->bulkhead, &p, NULL) != FB_OK) continue;
    a->admitted++;
    int n = atomic_fetch_add(a->inside, 1) + 1;
    int m = atomic_load(a->most);
    while (n > m && !atomic_compare_exchange_weak(a->most, &m, n)) {
    }
    atomic_fetch_sub(a->inside, 1);
    if (i % 2) fb_bulkhead_permit_record(&p, FB_OUTCOME_SUCCESS);
    else fb_bulkhead_permit_release(&p);
  }
  return NULL;
}

static void stress(long tries) {
  enum { THREADS = 4 };
  fb_bulkhead *b = make(3);
  atomic_int inside = 0, most = 0;
  pthread_t threads[THREADS];
  stress_args args[THREADS];
  for (int i = 0; i < THREADS; i++) {
    args[i].bulkhead = b;
    args[i].tries = tries;
    args[i].inside = &inside;
    args[i].most = &most;
    args[i].admitted = 0;
    CHECK(pthread_create(&threads[i], NULL, stress_thread, &args[i]) == 0);
  }
  long admitted = 0;
  for (int i = 0; i < THREADS; i++) {
    CHECK(pthread_join(threads[i], NULL) == 0);
    admitted += args[i].admitted;
  }
  fb_bulkhead_stats m = metrics_of(b);
  CHECK(atomic_load(&most) <= 3);
  CHECK(m.in_flight == 0 && m.peak_in_flight <= 3);
  CHECK((uint64_t)admitted + m.rejected == (uint64_t)THREADS * (uint64_t)tries);
  printf("bulkhead stress: %d threads x %ld tries: admitted %ld, rejected %llu, peak %u\n",
         THREADS, tries, admitted, (unsigned long long)m.rejected, m.peak_in_flight);
  CHECK(fb_bulkhead_free(b) == FB_OK);
}

int main(int argc, char **argv) {
  long n = 200000;
  if (argc > 1) n = atol(argv[1]);
  limit_and_refusal();
  adaptive_on_a_manual_clock();
  bad_input();
  prometheus_text();
  stress(n);
  printf("C bulkhead: fusebox %s: %d checks, %d failed\n", fb_version(), g_checks,
         g_failures);
  return g_failures == 0 ? 0 : 1;
}
