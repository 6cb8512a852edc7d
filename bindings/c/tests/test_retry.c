/*
 * The fusebox C ABI retry test (fb_retry_*), in C11:
 *   - the caller's loop: a flaky call retried with back-offs of exactly
 *     the cap (no jitter), the waits moving a manual clock;
 *   - the budget refusing retries, and its Prometheus text;
 *   - an open breaker's rejection waited out, then a probe;
 *   - bad input: NULL pointers, bad configs, double frees;
 *   - a pthreads stress: 4 threads x N calls on one budget, exact counts.
 *
 * Usage: test_retry [N]   (calls per thread, default 200000)
 */
#include "check.h"
#include "fusebox.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  fb_clock *clock;
  fb_breaker *breaker;
  fb_retry_policy *policy;
  fb_retry_budget *budget;
} rig;

static rig make(uint32_t max_attempts, double ratio, uint32_t min_per_sec) {
  rig r;
  fb_config c;
  fb_retry_config rc;
  fb_retry_budget_config bc;
  CHECK(fb_clock_manual_new(&r.clock) == FB_OK);
  CHECK(fb_config_default(&c) == FB_OK);
  c.consecutive_failures = 2;
  c.open_timeout_ns = 2000000000ull;
  c.half_open_max_calls = 1;
  c.success_threshold = 1;
  CHECK(fb_breaker_new_with_clock(&c, r.clock, &r.breaker) == FB_OK);
  CHECK(fb_retry_config_default(&rc) == FB_OK);
  rc.max_attempts = max_attempts;
  rc.base_backoff_ns = 100000000ull; /* 100 ms */
  rc.max_backoff_ns = 300000000ull;
  rc.jitter = false;
  CHECK(fb_retry_policy_new("db", &rc, &r.policy) == FB_OK);
  CHECK(fb_retry_budget_config_default(&bc) == FB_OK);
  bc.ratio = ratio;
  bc.min_per_sec = min_per_sec;
  CHECK(fb_retry_budget_new_with_clock("db", &bc, r.clock, &r.budget) == FB_OK);
  return r;
}

static void drop(rig *r) {
  CHECK(fb_retry_policy_free(r->policy) == FB_OK);
  CHECK(fb_retry_budget_free(r->budget) == FB_OK);
  CHECK(fb_breaker_free(r->breaker) == FB_OK);
  CHECK(fb_clock_free(r->clock) == FB_OK);
}

/* One logical call whose attempts fail `failures` times, then succeed.
 * The waits go into `waits_ms` (up to 8). Returns whether it succeeded. */
static bool call(rig *r, int failures, fb_retry_call *out, double *waits_ms) {
  fb_retry_call c;
  int n = 0;
  CHECK(fb_retry_begin(r->policy, r->budget, r->breaker, &c) == FB_OK);
  for (;;) {
    fb_permit p;
    fb_rejection rej;
    bool retry = false;
    uint64_t wait_ns = 0;
    if (fb_breaker_acquire(r->breaker, &p, &rej) == FB_REJECTED) {
      CHECK(fb_retry_next_rejected(r->policy, r->budget, r->breaker, &c, &rej,
                                   &retry, &wait_ns) == FB_OK);
    } else if ((int)c.attempts > failures) {
      CHECK(fb_permit_record(&p, FB_OUTCOME_SUCCESS, 0) == FB_OK);
      CHECK(fb_retry_succeeded(r->policy, &c) == FB_OK);
      *out = c;
      return true;
    } else {
      CHECK(fb_permit_record(&p, FB_OUTCOME_FAILURE, 0) == FB_OK);
      CHECK(fb_retry_next(r->policy, r->budget, r->breaker, &c,
                          FB_VERDICT_RETRY, 0, &retry, &wait_ns) == FB_OK);
    }
    if (!retry) {
      *out = c;
      return false;
    }
    if (waits_ms && n < 8) waits_ms[n++] = (double)wait_ns / 1e6;
    CHECK(fb_clock_advance(r->clock, wait_ns) == FB_OK);
  }
}

static void backoff_and_success(void) {
  rig r = make(4, 1.0, 10);
  fb_retry_call c;
  double waits[8] = {0};
  /* Breaker trips on 2 consecutive failures: one failure, then success. */
  CHECK(call(&r, 1, &c, waits));
  CHECK(c.attempts == 2 && c.retries == 1 && c.done);
  CHECK(c.stop == FB_RETRY_SUCCEEDED);
  CHECK(waits[0] == 100.0);
  fb_retry_metrics m;
  CHECK(fb_retry_policy_metrics(r.policy, &m) == FB_OK);
  CHECK(m.calls == 1 && m.attempts == 2 && m.retries == 1 && m.failed_calls == 0);
  drop(&r);
}

static void open_breaker_is_waited_out(void) {
  rig r = make(4, 1.0, 10);
  fb_retry_call c;
  double waits[8] = {0};
  /* Two failures (at 0 and 100 ms) open the breaker for 2 s; attempt 3,
   * after a 200 ms back-off, is rejected and waits the rest of the open
   * period (1800 ms, above its 300 ms back-off); then the probe succeeds. */
  CHECK(call(&r, 2, &c, waits));
  CHECK(c.attempts == 4 && c.retries == 3 && c.rejections == 1);
  CHECK(waits[0] == 100.0 && waits[1] == 200.0 && waits[2] == 1800.0);
  CHECK(strcmp(fb_retry_stop_name(c.stop), "succeeded") == 0);
  drop(&r);
}

static void budget_refuses(void) {
  rig r = make(3, 0.0, 0);
  fb_retry_call c;
  CHECK(!call(&r, 100, &c, NULL));
  CHECK(c.attempts == 1 && c.stop == FB_RETRY_BUDGET_EXHAUSTED);
  CHECK(strcmp(fb_retry_stop_name(c.stop), "budget_exhausted") == 0);
  fb_retry_budget_stats s;
  CHECK(fb_retry_budget_metrics(r.budget, &s) == FB_OK);
  CHECK(s.deposits == 1 && s.withdrawals == 0 && s.refusals == 1);
  char buf[2048];
  size_t len = 0;
  CHECK(fb_retry_budget_prometheus(r.budget, buf, sizeof buf, &len) == FB_OK);
  CHECK(strstr(buf, "fusebox_retry_budget_refusals_total{budget=\"db\"} 1\n") != NULL);
  drop(&r);
}

static void bad_input(void) {
  fb_retry_config rc;
  fb_retry_budget_config bc;
  fb_retry_policy *p = NULL;
  fb_retry_budget *b = NULL;
  CHECK(fb_retry_config_default(NULL) == FB_ERR_NULL_POINTER);
  CHECK(fb_retry_config_default(&rc) == FB_OK);
  rc.max_attempts = 0;
  CHECK(fb_retry_policy_new("p", &rc, &p) == FB_ERR_INVALID_CONFIG);
  CHECK(strstr(fb_last_error(), "config.max_attempts") != NULL);
  CHECK(p == NULL);
  CHECK(fb_retry_budget_config_default(&bc) == FB_OK);
  bc.ratio = 11;
  CHECK(fb_retry_budget_new("b", &bc, &b) == FB_ERR_INVALID_CONFIG);
  CHECK(strstr(fb_last_error(), "config.ratio") != NULL);
  bc.ratio = 0.2;
  CHECK(fb_retry_budget_new("b", &bc, &b) == FB_OK);
  CHECK(fb_retry_budget_free(b) == FB_OK);
  CHECK(fb_retry_budget_free(b) == FB_ERR_INVALID_HANDLE);
  CHECK(fb_retry_begin(NULL, NULL, NULL, NULL) == FB_ERR_NULL_POINTER);
}

typedef struct {
  fb_retry_budget *budget;
  int n;
  int allowed;
} worker;

static void *work(void *arg) {
  worker *w = (worker *)arg;
  for (int i = 0; i < w->n; i++) {
    bool ok = false;
    fb_retry_budget_deposit(w->budget);
    fb_retry_budget_try_withdraw(w->budget, &ok);
    w->allowed += ok;
  }
  return NULL;
}

/* The budget's counts are exact under contention: every try is either a
 * withdrawal or a refusal, and the withdrawals are the ones that got yes. */
static void stress(int n) {
  fb_retry_budget_config bc;
  fb_retry_budget *b = NULL;
  CHECK(fb_retry_budget_config_default(&bc) == FB_OK);
  bc.ratio = 0.5;
  CHECK(fb_retry_budget_new("stress", &bc, &b) == FB_OK);
  worker w[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    w[i].budget = b;
    w[i].n = n;
    w[i].allowed = 0;
    pthread_create(&t[i], NULL, work, &w[i]);
  }
  uint64_t allowed = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    allowed += (uint64_t)w[i].allowed;
  }
  fb_retry_budget_stats s;
  CHECK(fb_retry_budget_metrics(b, &s) == FB_OK);
  CHECK(s.deposits == 4 * (uint64_t)n);
  CHECK(s.withdrawals == allowed);
  CHECK(s.withdrawals + s.refusals == 4 * (uint64_t)n);
  CHECK(s.withdrawals > 0);
  CHECK(fb_retry_budget_free(b) == FB_OK);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 200000;
  backoff_and_success();
  open_breaker_is_waited_out();
  budget_refuses();
  bad_input();
  stress(n);
  printf("test_retry: %d checks, %d failures\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
