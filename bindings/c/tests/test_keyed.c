/*
 * The fusebox C ABI keyed-set test (fb_keyed_*), in C11:
 *   - one breaker per key, each handle freed once with fb_breaker_free;
 *   - the capacity respected: FB_ERR_FULL while every breaker holds
 *     history (one tripped by failures, one forced open, one just used);
 *   - eviction of an idle breaker after the min idle time, on a manual
 *     clock; handles that outlive their breaker's eviction and the set;
 *   - the stats and the Prometheus text;
 *   - bad input: names, capacities, NULLs, double frees;
 *   - a pthreads stress: 4 threads x N lookups over 64 keys in a set of 16
 *     (min idle 0: breakers evicted while other threads hold them), never
 *     more than 16 breakers, every handle freed.
 *
 * Usage: test_keyed [N]   (lookups per thread, default 200000)
 */
#include "check.h"
#include "fusebox.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t SEC = 1000000000ull;

static fb_config config_tripping_after(uint32_t failures) {
  fb_config c;
  CHECK(fb_config_default(&c) == FB_OK);
  c.consecutive_failures = failures;
  return c;
}

static fb_keyed_counts stats_of(const fb_keyed *k) {
  fb_keyed_counts s;
  memset(&s, 0, sizeof s);
  CHECK(fb_keyed_stats(k, &s) == FB_OK);
  return s;
}

static void fail_once(fb_breaker *b) {
  fb_permit p;
  CHECK(fb_breaker_acquire(b, &p, NULL) == FB_OK);
  CHECK(fb_permit_record(&p, FB_OUTCOME_FAILURE, 0) == FB_OK);
}

static void capacity_full_and_eviction(void) {
  fb_clock *clock = NULL;
  CHECK(fb_clock_manual_new(&clock) == FB_OK);
  fb_config cfg = config_tripping_after(2);
  fb_keyed *hosts = NULL;
  CHECK(fb_keyed_new("upstreams", 3, &cfg, clock, &hosts) == FB_OK);

  fb_breaker *a = NULL, *a2 = NULL, *b = NULL, *c = NULL, *d = NULL;
  CHECK(fb_keyed_get_or_create(hosts, "a.example", &a) == FB_OK);
  CHECK(fb_keyed_get_or_create(hosts, "a.example", &a2) == FB_OK);
  CHECK(a == a2); /* one breaker per key; two handles, two frees */
  CHECK(fb_breaker_free(a2) == FB_OK);
  CHECK(fb_keyed_get_or_create(hosts, "b.example", &b) == FB_OK);
  CHECK(fb_keyed_get_or_create(hosts, "c.example", &c) == FB_OK);

  /* a trips on two failures, b is forced open, c was just looked up. */
  fail_once(a);
  fail_once(a);
  fb_state st;
  CHECK(fb_breaker_state(a, &st) == FB_OK && st == FB_STATE_OPEN);
  CHECK(fb_breaker_force_open(b) == FB_OK);
  CHECK_ERR(fb_keyed_get_or_create(hosts, "d.example", &d), FB_ERR_FULL,
            "fb_keyed_get_or_create: key: keyed breakers full: all 3 hold history");
  CHECK(d == NULL);
  CHECK(strcmp(fb_status_name(FB_ERR_FULL), "FB_ERR_FULL") == 0);
  size_t n = 0;
  CHECK(fb_keyed_len(hosts, &n) == FB_OK && n == 3);

  /* 10 s (the default min idle) later c may go; a and b never. */
  CHECK(fb_clock_advance(clock, 10 * SEC) == FB_OK);
  CHECK(fb_keyed_get_or_create(hosts, "d.example", &d) == FB_OK);
  fb_breaker *gone = NULL;
  CHECK_ERR(fb_keyed_get(hosts, "c.example", &gone), FB_ERR_NOT_FOUND,
            "fb_keyed_get: no breaker for key \"c.example\"");
  CHECK(gone == NULL);
  fb_breaker *again = NULL;
  CHECK(fb_keyed_get(hosts, "a.example", &again) == FB_OK && again == a);
  CHECK(fb_breaker_free(again) == FB_OK);
  /* The evicted breaker still works for its holder. */
  fb_permit p;
  CHECK(fb_breaker_acquire(c, &p, NULL) == FB_OK);
  CHECK(fb_permit_record(&p, FB_OUTCOME_SUCCESS, 0) == FB_OK);

  /* Full again (d just used): refused, until d is idle too. */
  fb_breaker *e = NULL;
  CHECK(fb_keyed_get_or_create(hosts, "e.example", &e) == FB_ERR_FULL);
  fb_keyed_counts s = stats_of(hosts);
  CHECK(s.len == 3 && s.capacity == 3);
  CHECK(s.created == 4 && s.evictions == 1 && s.refusals == 2 && s.removed == 0);

  /* Remove takes out what eviction never would; a handle back or not. */
  fb_breaker *removed = NULL;
  CHECK(fb_keyed_remove(hosts, "a.example", &removed) == FB_OK && removed == a);
  CHECK(fb_breaker_free(removed) == FB_OK);
  CHECK(fb_keyed_remove(hosts, "b.example", NULL) == FB_OK);
  CHECK_ERR(fb_keyed_remove(hosts, "b.example", NULL), FB_ERR_NOT_FOUND,
            "fb_keyed_remove: no breaker for key \"b.example\"");
  CHECK(fb_keyed_get_or_create(hosts, "e.example", &e) == FB_OK);
  s = stats_of(hosts);
  CHECK(s.len == 2 && s.created == 5 && s.removed == 2);

  /* The Prometheus text: ask for the size, then fill. */
  size_t len = 0;
  CHECK_ERR(fb_keyed_prometheus(hosts, NULL, 0, &len), FB_ERR_INVALID_ARGUMENT,
            "buffer of 0 bytes");
  CHECK(len > 0);
  char *text = malloc(len + 1);
  CHECK(text != NULL);
  if (text != NULL) {
    CHECK(fb_keyed_prometheus(hosts, text, len + 1, &len) == FB_OK);
    CHECK(strlen(text) == len);
    CHECK(strstr(text, "fusebox_keyed_evictions_total{keyed=\"upstreams\"} 1\n") != NULL);
    CHECK(strstr(text, "fusebox_keyed_refusals_total{keyed=\"upstreams\"} 2\n") != NULL);
    CHECK(strstr(text, "fusebox_keyed_capacity{keyed=\"upstreams\"} 3\n") != NULL);
    CHECK(strstr(text, "e.example") != NULL);
    free(text);
  }

  /* Handles outlive the set (and the clock). */
  CHECK(fb_keyed_free(hosts) == FB_OK);
  CHECK(fb_clock_free(clock) == FB_OK);
  CHECK(fb_breaker_state(b, &st) == FB_OK && st == FB_STATE_OPEN);
  CHECK(fb_breaker_free(a) == FB_OK);
  CHECK(fb_breaker_free(b) == FB_OK);
  CHECK(fb_breaker_free(c) == FB_OK);
  CHECK(fb_breaker_free(d) == FB_OK);
  CHECK(fb_breaker_free(e) == FB_OK);
  CHECK_ERR(fb_breaker_free(e), FB_ERR_INVALID_HANDLE, "freed more times than handed out");
}

static void min_idle(void) {
  fb_clock *clock = NULL;
  CHECK(fb_clock_manual_new(&clock) == FB_OK);
  fb_config cfg = config_tripping_after(5);
  fb_keyed *routes = NULL;
  CHECK(fb_keyed_new("routes", 1, &cfg, clock, &routes) == FB_OK);
  CHECK(fb_keyed_set_min_idle_ns(routes, 60 * SEC) == FB_OK);
  fb_breaker *h = NULL;
  CHECK(fb_keyed_get_or_create(routes, "GET /users", &h) == FB_OK);
  CHECK(fb_breaker_free(h) == FB_OK);
  CHECK(fb_clock_advance(clock, 59 * SEC) == FB_OK);
  CHECK(fb_keyed_get_or_create(routes, "GET /orders", &h) == FB_ERR_FULL);
  CHECK(fb_clock_advance(clock, 1 * SEC) == FB_OK);
  CHECK(fb_keyed_get_or_create(routes, "GET /orders", &h) == FB_OK);
  /* A breaker in a failure run is not evicted, however idle. */
  fail_once(h);
  CHECK(fb_clock_advance(clock, 61 * SEC) == FB_OK); /* past the 10 s window too */
  fb_breaker *items = NULL;
  CHECK(fb_keyed_get_or_create(routes, "GET /items", &items) == FB_ERR_FULL);
  /* A success ends the run; once out of the window and idle, it may go. */
  fb_permit p;
  CHECK(fb_breaker_acquire(h, &p, NULL) == FB_OK);
  CHECK(fb_permit_record(&p, FB_OUTCOME_SUCCESS, 0) == FB_OK);
  CHECK(fb_clock_advance(clock, 61 * SEC) == FB_OK);
  CHECK(fb_keyed_get_or_create(routes, "GET /items", &items) == FB_OK);
  CHECK(fb_breaker_free(items) == FB_OK);
  CHECK(fb_breaker_free(h) == FB_OK);
  fb_keyed_counts s = stats_of(routes);
  CHECK(s.created == 3 && s.evictions == 2 && s.refusals == 2);
  CHECK(fb_keyed_free(routes) == FB_OK);
  CHECK(fb_clock_free(clock) == FB_OK);
}

static void bad_input(void) {
  fb_config cfg = config_tripping_after(5);
  fb_keyed *k = NULL;
  CHECK_ERR(fb_keyed_new("", 4, &cfg, NULL, &k), FB_ERR_INVALID_NAME, "fb_keyed_new: name: ");
  CHECK_ERR(fb_keyed_new("hosts", 0, &cfg, NULL, &k), FB_ERR_INVALID_ARGUMENT,
            "fb_keyed_new: capacity: invalid capacity: 0 (expected 1..=10 000 000)");
  CHECK_ERR(fb_keyed_new("hosts", 10000001, &cfg, NULL, &k), FB_ERR_INVALID_ARGUMENT,
            "invalid capacity: 10000001");
  fb_config bad = cfg;
  bad.min_calls = 0;
  CHECK_ERR(fb_keyed_new("hosts", 4, &bad, NULL, &k), FB_ERR_INVALID_CONFIG,
            "fb_keyed_new: config.min_calls");
  CHECK_ERR(fb_keyed_new(NULL, 4, &cfg, NULL, &k), FB_ERR_NULL_POINTER, "fb_keyed_new: name is NULL");
  CHECK_ERR(fb_keyed_new("hosts", 4, NULL, NULL, &k), FB_ERR_NULL_POINTER, "config is NULL");
  CHECK_ERR(fb_keyed_new("hosts", 4, &cfg, NULL, NULL), FB_ERR_NULL_POINTER, "out is NULL");
  CHECK(k == NULL);

  CHECK(fb_keyed_new("hosts", 4, &cfg, NULL, &k) == FB_OK);
  fb_breaker *b = NULL;
  CHECK_ERR(fb_keyed_get_or_create(k, "", &b), FB_ERR_INVALID_NAME, "fb_keyed_get_or_create: key: ");
  CHECK_ERR(fb_keyed_get_or_create(k, "\xff", &b), FB_ERR_INVALID_UTF8, "key is not valid UTF-8");
  CHECK_ERR(fb_keyed_get_or_create(k, NULL, &b), FB_ERR_NULL_POINTER, "key is NULL");
  CHECK_ERR(fb_keyed_get_or_create(k, "a", NULL), FB_ERR_NULL_POINTER, "out is NULL");
  CHECK_ERR(fb_keyed_get_or_create(NULL, "a", &b), FB_ERR_NULL_POINTER, "keyed is NULL");
  CHECK_ERR(fb_keyed_get(k, "a", NULL), FB_ERR_NULL_POINTER, "fb_keyed_get: out is NULL");
  CHECK_ERR(fb_keyed_set_min_idle_ns(NULL, 0), FB_ERR_NULL_POINTER, "keyed is NULL");
  CHECK_ERR(fb_keyed_stats(k, NULL), FB_ERR_NULL_POINTER, "fb_keyed_stats: out is NULL");
  CHECK_ERR(fb_keyed_len(NULL, NULL), FB_ERR_NULL_POINTER, "fb_keyed_len: keyed is NULL");
  CHECK_ERR(fb_keyed_prometheus(NULL, NULL, 0, NULL), FB_ERR_NULL_POINTER, "keyed is NULL");
  CHECK(b == NULL);
  /* A registry is not a keyed set, nor the reverse. */
  fb_registry *r = NULL;
  CHECK(fb_registry_new(&cfg, NULL, &r) == FB_OK);
  CHECK_ERR(fb_keyed_free((fb_keyed *)r), FB_ERR_INVALID_HANDLE, "a live registry, not a keyed set");
  CHECK(fb_registry_free(r) == FB_OK);
  CHECK(fb_keyed_free(k) == FB_OK);
  CHECK_ERR(fb_keyed_free(k), FB_ERR_INVALID_HANDLE, "fb_keyed_free: not a live keyed set");
  CHECK_ERR(fb_keyed_free(NULL), FB_ERR_NULL_POINTER, "fb_keyed_free: keyed is NULL");
}

#define THREADS 4
#define KEYS 64
#define CAPACITY 16

typedef struct worker {
  unsigned id;
  fb_keyed *set;
  long lookups;
  long admitted;
  long full;
  int errors;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  unsigned seed = w->id * 2654435761u + 1;
  char key[32];
  for (long i = 0; i < w->lookups; i++) {
    seed = seed * 1103515245u + 12345u;
    snprintf(key, sizeof key, "host-%u", (seed >> 16) % KEYS);
    fb_breaker *b = NULL;
    fb_status s = fb_keyed_get_or_create(w->set, key, &b);
    if (s == FB_ERR_FULL) {
      w->full++;
      continue;
    }
    if (s != FB_OK) {
      w->errors++;
      continue;
    }
    fb_permit p;
    if (fb_breaker_acquire(b, &p, NULL) == FB_OK) {
      w->admitted++;
      /* Ignored: leaves nothing in the window, so idle breakers churn. */
      if (fb_permit_record(&p, FB_OUTCOME_IGNORED, 0) != FB_OK) w->errors++;
    }
    if (fb_breaker_free(b) != FB_OK) w->errors++;
  }
  return NULL;
}

static void stress(long n) {
  fb_config cfg = config_tripping_after(5);
  fb_keyed *k = NULL;
  CHECK(fb_keyed_new("stress", CAPACITY, &cfg, NULL, &k) == FB_OK);
  CHECK(fb_keyed_set_min_idle_ns(k, 0) == FB_OK);
  pthread_t t[THREADS];
  worker w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].id = (unsigned)i;
    w[i].set = k;
    w[i].lookups = n;
    CHECK(pthread_create(&t[i], NULL, work, &w[i]) == 0);
  }
  long admitted = 0, full = 0;
  int errors = 0;
  for (int i = 0; i < THREADS; i++) {
    CHECK(pthread_join(t[i], NULL) == 0);
    admitted += w[i].admitted;
    full += w[i].full;
    errors += w[i].errors;
  }
  CHECK(errors == 0);
  fb_keyed_counts s = stats_of(k);
  CHECK(s.len <= CAPACITY);
  CHECK((long)s.refusals == full);
  CHECK(admitted + full == THREADS * n); /* nothing trips */
  printf("  keyed stress: %ld lookups, %llu created, %llu evicted, %ld full\n",
         THREADS * n, (unsigned long long)s.created, (unsigned long long)s.evictions, full);
  CHECK(fb_keyed_free(k) == FB_OK);
}

int main(int argc, char **argv) {
  long n = 200000;
  if (argc > 1) n = atol(argv[1]);
  capacity_full_and_eviction();
  min_idle();
  bad_input();
  stress(n);
  printf("C keyed: fusebox %s: %d checks, %d failed\n", fb_version(), g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
