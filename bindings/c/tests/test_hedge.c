/*
 * The fusebox C ABI hedging test (fb_hedge_*), in C11:
 *   - the caller's event loop: a slow first attempt, a hedge after the
 *     delay (the manual clock moved by hand) that wins, the loser's permit
 *     cancelled: one success and no failure for the breaker;
 *   - every attempt failing, a rejected attempt, the budget refusing;
 *   - the hedge and retry policies' Prometheus text, parsed back, and the
 *     buffer contract;
 *   - bad input: NULL pointers, bad configs, bad ends, double frees;
 *   - a latency histogram fed by a breaker's calls (through the in-line
 *     fast paths of fb_breaker_acquire and fb_permit_record), and a hedge
 *     delay that is its P95: the fallback while it is empty;
 *   - a pthreads stress: 4 threads x N hedged calls, exact counts.
 *
 * Usage: test_hedge [N]   (calls per thread, default 200000)
 */
#include "check.h"
#include "fusebox.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000ull

typedef struct {
  fb_clock *clock;
  fb_breaker *breaker;
  fb_hedge_policy *policy;
  fb_retry_budget *budget;
} rig;

static rig make(uint32_t max_hedges, double ratio, uint32_t min_per_sec) {
  rig r;
  fb_config c;
  fb_hedge_config hc;
  fb_retry_budget_config bc;
  CHECK_STATUS(fb_clock_manual_new(&r.clock), FB_OK);
  CHECK_STATUS(fb_config_default(&c), FB_OK);
  c.consecutive_failures = 5;
  CHECK_STATUS(fb_breaker_new_with_clock(&c, r.clock, &r.breaker), FB_OK);
  CHECK_STATUS(fb_hedge_config_default(&hc), FB_OK);
  CHECK(hc.max_hedges == 1 && hc.delay_ns == 50 * MS);
  hc.max_hedges = max_hedges;
  hc.delay_ns = 20 * MS;
  CHECK_STATUS(fb_hedge_policy_new("search", &hc, &r.policy), FB_OK);
  CHECK_STATUS(fb_retry_budget_config_default(&bc), FB_OK);
  bc.ratio = ratio;
  bc.min_per_sec = min_per_sec;
  CHECK_STATUS(fb_retry_budget_new_with_clock("search", &bc, r.clock, &r.budget), FB_OK);
  return r;
}

static void drop(rig *r) {
  CHECK_STATUS(fb_hedge_policy_free(r->policy), FB_OK);
  CHECK_STATUS(fb_retry_budget_free(r->budget), FB_OK);
  CHECK_STATUS(fb_breaker_free(r->breaker), FB_OK);
  CHECK_STATUS(fb_clock_free(r->clock), FB_OK);
}

/* The value of `series` (a full sample name with labels) in `text`. */
static double sample(const char *text, const char *series) {
  char key[256];
  snprintf(key, sizeof key, "\n%s ", series);
  const char *at = strstr(text, key);
  if (at == NULL) return -1;
  return strtod(at + strlen(key), NULL);
}

/* Attempt 1 hangs; 20 ms later the hedge starts and answers at once. */
static void the_hedge_wins_and_the_loser_is_cancelled(void) {
  rig r = make(2, 1.0, 10);
  fb_hedge_call call;
  uint64_t delay = 0;
  fb_permit p1, p2;
  fb_rejection rej;
  CHECK_STATUS(fb_hedge_begin(r.policy, r.budget, &call, &delay), FB_OK);
  CHECK(delay == 20 * MS && call.attempts == 1 && call.running == 1);
  CHECK(call.hedge_armed && !call.done);
  CHECK_STATUS(fb_breaker_acquire(r.breaker, &p1, &rej), FB_OK);
  /* The timer fires: no answer yet. */
  CHECK_STATUS(fb_clock_advance(r.clock, delay), FB_OK);
  fb_hedge_next next;
  CHECK_STATUS(fb_hedge_due(r.policy, r.budget, &call, &next), FB_OK);
  CHECK(next.start == FB_HEDGE_START && next.attempt == 2);
  CHECK(next.has_delay && next.delay_ns == 20 * MS); /* one more allowed */
  CHECK_STATUS(fb_breaker_acquire(r.breaker, &p2, &rej), FB_OK);
  /* Attempt 2 succeeds before the next delay is over. */
  CHECK_STATUS(fb_clock_advance(r.clock, 5 * MS), FB_OK);
  CHECK_STATUS(fb_permit_record(&p2, FB_OUTCOME_SUCCESS, 5 * MS), FB_OK);
  fb_hedge_verdict v = 99;
  CHECK_STATUS(fb_hedge_ended(r.policy, &call, 2, FB_HEDGE_SUCCEEDED, &v), FB_OK);
  CHECK(v == FB_HEDGE_ANSWER && call.done && call.answered_by == 2);
  CHECK(call.attempts == 2 && call.hedges == 1 && !call.hedge_armed);
  CHECK_STATUS(fb_permit_cancel(&p1), FB_OK);
  /* The armed timer fires late: nothing starts. */
  CHECK_STATUS(fb_hedge_due(r.policy, r.budget, &call, &next), FB_OK);
  CHECK(next.start == FB_HEDGE_NONE && next.attempt == 0 && !next.has_delay);
  /* The loser, had it ended, changes nothing. */
  CHECK_STATUS(fb_hedge_ended(r.policy, &call, 1, FB_HEDGE_SUCCEEDED, &v), FB_OK);
  CHECK(v == FB_HEDGE_WAIT && call.answered_by == 2);

  fb_metrics m;
  CHECK_STATUS(fb_breaker_metrics(r.breaker, &m), FB_OK);
  CHECK(m.successes == 1 && m.failures == 0);
  fb_hedge_metrics hm;
  CHECK_STATUS(fb_hedge_policy_metrics(r.policy, &hm), FB_OK);
  CHECK(hm.calls == 1 && hm.attempts == 2 && hm.hedges == 1);
  CHECK(hm.budget_refusals == 0 && hm.failed_calls == 0);
  fb_retry_budget_stats s;
  CHECK_STATUS(fb_retry_budget_metrics(r.budget, &s), FB_OK);
  CHECK(s.deposits == 1 && s.withdrawals == 1);

  /* The Prometheus text, parsed back. */
  size_t len = 0;
  CHECK_STATUS(fb_hedge_policy_prometheus(r.policy, NULL, 0, &len), FB_ERR_INVALID_ARGUMENT);
  CHECK(len > 0);
  char *buf = malloc(len + 1);
  CHECK(buf != NULL);
  CHECK_STATUS(fb_hedge_policy_prometheus(r.policy, buf, len, &len), FB_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(fb_hedge_policy_prometheus(r.policy, buf, len + 1, &len), FB_OK);
  CHECK(strlen(buf) == len);
  CHECK(strstr(buf, "# TYPE fusebox_retry_hedges_total counter\n") != NULL);
  CHECK(sample(buf, "fusebox_retry_calls_total{retry=\"search\"}") == 1);
  CHECK(sample(buf, "fusebox_retry_attempts_total{retry=\"search\"}") == 2);
  CHECK(sample(buf, "fusebox_retry_hedges_total{retry=\"search\"}") == 1);
  CHECK(sample(buf, "fusebox_retry_retries_total{retry=\"search\"}") == 0);
  CHECK(sample(buf, "fusebox_retry_failed_calls_total{retry=\"search\"}") == 0);
  free(buf);
  drop(&r);
}

/* Both attempts fail: the first failure waits for the hedge, the second
 * ends the call. */
static void every_attempt_fails(void) {
  rig r = make(1, 1.0, 10);
  fb_hedge_call call;
  uint64_t delay;
  fb_hedge_next next;
  fb_hedge_verdict v;
  CHECK_STATUS(fb_hedge_begin(r.policy, r.budget, &call, &delay), FB_OK);
  CHECK_STATUS(fb_clock_advance(r.clock, delay), FB_OK);
  CHECK_STATUS(fb_hedge_due(r.policy, r.budget, &call, &next), FB_OK);
  CHECK(next.start == FB_HEDGE_START && next.attempt == 2 && !next.has_delay);
  CHECK_STATUS(fb_hedge_ended(r.policy, &call, 1, FB_HEDGE_FAILED, &v), FB_OK);
  CHECK(v == FB_HEDGE_WAIT && !call.done && call.running == 1);
  CHECK_STATUS(fb_hedge_ended(r.policy, &call, 2, FB_HEDGE_FAILED, &v), FB_OK);
  CHECK(v == FB_HEDGE_FAIL && call.done && call.answered_by == 2);
  fb_hedge_metrics hm;
  CHECK_STATUS(fb_hedge_policy_metrics(r.policy, &hm), FB_OK);
  CHECK(hm.failed_calls == 1 && hm.hedges == 1);
  drop(&r);
}

/* A forced-open breaker rejects attempt 1: with nothing else running the
 * call fails at once, and no hedge starts after. */
static void a_rejection_with_nothing_running_fails(void) {
  rig r = make(3, 1.0, 10);
  fb_hedge_call call;
  uint64_t delay;
  fb_permit p;
  fb_rejection rej;
  fb_hedge_verdict v;
  fb_hedge_next next;
  CHECK_STATUS(fb_breaker_force_open(r.breaker), FB_OK);
  CHECK_STATUS(fb_hedge_begin(r.policy, r.budget, &call, &delay), FB_OK);
  CHECK_STATUS(fb_breaker_acquire(r.breaker, &p, &rej), FB_REJECTED);
  CHECK_STATUS(fb_hedge_ended(r.policy, &call, 1, FB_HEDGE_REJECTED, &v), FB_OK);
  CHECK(v == FB_HEDGE_FAIL && call.rejections == 1 && call.done);
  CHECK_STATUS(fb_hedge_due(r.policy, r.budget, &call, &next), FB_OK);
  CHECK(next.start == FB_HEDGE_NONE);
  fb_retry_budget_stats s;
  CHECK_STATUS(fb_retry_budget_metrics(r.budget, &s), FB_OK);
  CHECK(s.withdrawals == 0);
  drop(&r);
}

/* An empty budget refuses the hedge, once: no more hedges in the call. */
static void the_budget_refuses(void) {
  rig r = make(3, 0.0, 0);
  fb_hedge_call call;
  uint64_t delay;
  fb_hedge_next next;
  fb_hedge_verdict v;
  CHECK_STATUS(fb_hedge_begin(r.policy, r.budget, &call, &delay), FB_OK);
  CHECK_STATUS(fb_hedge_due(r.policy, r.budget, &call, &next), FB_OK);
  CHECK(next.start == FB_HEDGE_REFUSED && !next.has_delay);
  CHECK(call.budget_refused && !call.hedge_armed);
  CHECK_STATUS(fb_hedge_due(r.policy, r.budget, &call, &next), FB_OK);
  CHECK(next.start == FB_HEDGE_NONE);
  CHECK_STATUS(fb_hedge_ended(r.policy, &call, 1, FB_HEDGE_SUCCEEDED, &v), FB_OK);
  CHECK(v == FB_HEDGE_ANSWER && call.answered_by == 1 && call.hedges == 0);
  fb_hedge_metrics hm;
  CHECK_STATUS(fb_hedge_policy_metrics(r.policy, &hm), FB_OK);
  CHECK(hm.budget_refusals == 1 && hm.attempts == 1);
  drop(&r);
}

/* A retry policy's counters in the same text. */
static void retry_policy_prometheus(void) {
  fb_retry_config rc;
  fb_retry_policy *p = NULL;
  CHECK_STATUS(fb_retry_config_default(&rc), FB_OK);
  CHECK_STATUS(fb_retry_policy_new("db", &rc, &p), FB_OK);
  char small[8];
  size_t len = 0;
  CHECK_ERR(fb_retry_policy_prometheus(p, small, sizeof small, &len), FB_ERR_INVALID_ARGUMENT,
            "fb_retry_policy_prometheus");
  CHECK(len > sizeof small);
  char buf[4096];
  CHECK_STATUS(fb_retry_policy_prometheus(p, buf, sizeof buf, &len), FB_OK);
  CHECK(strlen(buf) == len);
  CHECK(sample(buf, "fusebox_retry_calls_total{retry=\"db\"}") == 0);
  CHECK(sample(buf, "fusebox_retry_budget_exhausted_total{retry=\"db\"}") == 0);
  CHECK_ERR(fb_retry_policy_prometheus(NULL, buf, sizeof buf, &len), FB_ERR_NULL_POINTER, "policy");
  CHECK_STATUS(fb_retry_policy_free(p), FB_OK);
}

static void bad_input(void) {
  fb_hedge_config hc;
  fb_hedge_policy *p = NULL;
  CHECK_ERR(fb_hedge_config_default(NULL), FB_ERR_NULL_POINTER, "config");
  CHECK_STATUS(fb_hedge_config_default(&hc), FB_OK);
  hc.max_hedges = 0;
  CHECK_ERR(fb_hedge_policy_new("h", &hc, &p), FB_ERR_INVALID_CONFIG, "config.max_hedges");
  hc.max_hedges = 11;
  CHECK_ERR(fb_hedge_policy_new("h", &hc, &p), FB_ERR_INVALID_CONFIG, "config.max_hedges");
  hc.max_hedges = 1;
  hc.delay_ns = 0;
  CHECK_ERR(fb_hedge_policy_new("h", &hc, &p), FB_ERR_INVALID_CONFIG, "config.delay_ns");
  hc.delay_ns = MS;
  hc.size = 4;
  CHECK_ERR(fb_hedge_policy_new("h", &hc, &p), FB_ERR_INVALID_CONFIG, "fb_hedge_config_default");
  CHECK_STATUS(fb_hedge_config_default(&hc), FB_OK);
  CHECK_ERR(fb_hedge_policy_new("", &hc, &p), FB_ERR_INVALID_NAME, "name");
  CHECK_ERR(fb_hedge_policy_new(NULL, &hc, &p), FB_ERR_NULL_POINTER, "name");
  CHECK_ERR(fb_hedge_policy_new("h", NULL, &p), FB_ERR_NULL_POINTER, "config");
  CHECK(p == NULL);

  rig r = make(1, 1.0, 10);
  fb_hedge_call call;
  uint64_t delay;
  fb_hedge_next next;
  fb_hedge_verdict v;
  CHECK_ERR(fb_hedge_begin(NULL, r.budget, &call, &delay), FB_ERR_NULL_POINTER, "policy");
  CHECK_ERR(fb_hedge_begin(r.policy, NULL, &call, &delay), FB_ERR_NULL_POINTER, "budget");
  CHECK_ERR(fb_hedge_begin(r.policy, r.budget, NULL, &delay), FB_ERR_NULL_POINTER, "call");
  CHECK_ERR(fb_hedge_begin(r.policy, r.budget, &call, NULL), FB_ERR_NULL_POINTER, "delay_ns");
  CHECK_STATUS(fb_hedge_begin(r.policy, r.budget, &call, &delay), FB_OK);
  CHECK_ERR(fb_hedge_due(r.policy, r.budget, NULL, &next), FB_ERR_NULL_POINTER, "call");
  CHECK_ERR(fb_hedge_due(r.policy, r.budget, &call, NULL), FB_ERR_NULL_POINTER, "next");
  CHECK_ERR(fb_hedge_ended(r.policy, &call, 1, 7, &v), FB_ERR_INVALID_ARGUMENT, "end 7");
  CHECK_ERR(fb_hedge_ended(r.policy, &call, 0, FB_HEDGE_FAILED, &v), FB_ERR_INVALID_ARGUMENT,
            "attempt 0");
  CHECK_ERR(fb_hedge_ended(r.policy, &call, 2, FB_HEDGE_FAILED, &v), FB_ERR_INVALID_ARGUMENT,
            "attempt 2");
  CHECK_ERR(fb_hedge_ended(r.policy, &call, 1, FB_HEDGE_FAILED, NULL), FB_ERR_NULL_POINTER,
            "verdict");
  CHECK(call.running == 1 && !call.done); /* nothing moved */
  fb_hedge_metrics hm;
  CHECK_ERR(fb_hedge_policy_metrics(r.policy, NULL), FB_ERR_NULL_POINTER, "out");
  CHECK_ERR(fb_hedge_policy_metrics(NULL, &hm), FB_ERR_NULL_POINTER, "policy");
  /* A live retry budget is not a hedge policy: refused, not touched. */
  CHECK_ERR(fb_hedge_policy_free((fb_hedge_policy *)r.budget), FB_ERR_INVALID_HANDLE,
            "fb_hedge_policy_free");
  drop(&r);
  CHECK_STATUS(fb_hedge_policy_free(r.policy), FB_ERR_INVALID_HANDLE); /* twice */
}

typedef struct {
  fb_hedge_policy *policy;
  fb_retry_budget *budget;
  int n;
  uint64_t hedged;
  uint64_t answered;
} worker;

/* Each call: begin, the delay is over, then attempt 1 answers. */
static void *work(void *arg) {
  worker *w = (worker *)arg;
  for (int i = 0; i < w->n; i++) {
    fb_hedge_call call;
    uint64_t delay;
    fb_hedge_next next;
    fb_hedge_verdict v;
    fb_hedge_begin(w->policy, w->budget, &call, &delay);
    fb_hedge_due(w->policy, w->budget, &call, &next);
    w->hedged += next.start == FB_HEDGE_START;
    fb_hedge_ended(w->policy, &call, 1, FB_HEDGE_SUCCEEDED, &v);
    w->answered += v == FB_HEDGE_ANSWER;
  }
  return NULL;
}

/* The counts are exact under contention: every call asked for one hedge,
 * which the budget either paid or refused. */
static void stress(int n) {
  rig r = make(1, 0.5, 0);
  worker w[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (worker){r.policy, r.budget, n, 0, 0};
    pthread_create(&t[i], NULL, work, &w[i]);
  }
  uint64_t hedged = 0, answered = 0, calls = 4 * (uint64_t)n;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    hedged += w[i].hedged;
    answered += w[i].answered;
  }
  fb_hedge_metrics hm;
  fb_retry_budget_stats s;
  CHECK_STATUS(fb_hedge_policy_metrics(r.policy, &hm), FB_OK);
  CHECK_STATUS(fb_retry_budget_metrics(r.budget, &s), FB_OK);
  CHECK(answered == calls && hm.calls == calls && s.deposits == calls);
  CHECK(hm.hedges == hedged && s.withdrawals == hedged);
  CHECK(hm.attempts == calls + hedged);
  CHECK(hm.hedges + hm.budget_refusals == calls);
  CHECK(hedged > 0 && hm.failed_calls == 0);
  drop(&r);
}

/* A breaker made with a histogram records every call's latency into it,
 * through the fastest path (FB_DURATION_AUTO successes of a closed,
 * untimed-looking breaker): the core's contract turns that path off. */
static void a_breaker_feeds_its_histogram(void) {
  fb_clock *clock;
  fb_config c;
  fb_latency_histogram *h;
  fb_breaker *b;
  uint64_t n = 99, q = 99;
  bool found = true;
  CHECK_STATUS(fb_clock_manual_new(&clock), FB_OK);
  CHECK_STATUS(fb_latency_histogram_new(clock, &h), FB_OK);
  CHECK_STATUS(fb_latency_histogram_count(h, &n), FB_OK);
  CHECK(n == 0);
  CHECK_STATUS(fb_latency_histogram_quantile(h, 0.95, &q, &found), FB_OK);
  CHECK(!found && q == 0);
  CHECK_STATUS(fb_config_default(&c), FB_OK);
  CHECK_STATUS(fb_breaker_new_with_histogram("search", &c, clock, h, &b), FB_OK);
  /* 100 calls of 1..100 ms, each measured by the breaker on its clock. */
  for (uint64_t ms = 1; ms <= 100; ms++) {
    fb_permit p;
    fb_rejection rej;
    CHECK_STATUS(fb_breaker_acquire(b, &p, &rej), FB_OK);
    CHECK_STATUS(fb_clock_advance(clock, ms * MS), FB_OK);
    CHECK_STATUS(fb_permit_record(&p, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO), FB_OK);
  }
  CHECK_STATUS(fb_latency_histogram_count(h, &n), FB_OK);
  CHECK(n == 100);
  CHECK_STATUS(fb_latency_histogram_quantile(h, 0.95, &q, &found), FB_OK);
  CHECK(found && q > 93 * MS && q < 97 * MS);
  CHECK_STATUS(fb_latency_histogram_quantile(h, 0.5, &q, &found), FB_OK);
  CHECK(found && q > 49 * MS && q < 51 * MS);
  /* The caller may record too; the breaker keeps the histogram alive. */
  CHECK_STATUS(fb_latency_histogram_record(h, 7 * MS), FB_OK);
  CHECK_STATUS(fb_latency_histogram_count(h, &n), FB_OK);
  CHECK(n == 101);
  CHECK_STATUS(fb_latency_histogram_free(h), FB_OK);
  CHECK_STATUS(fb_latency_histogram_free(h), FB_ERR_INVALID_HANDLE);
  fb_permit p;
  fb_rejection rej;
  CHECK_STATUS(fb_breaker_acquire(b, &p, &rej), FB_OK);
  CHECK_STATUS(fb_permit_record(&p, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO), FB_OK);
  /* Bad input. */
  CHECK_STATUS(fb_latency_histogram_new(clock, NULL), FB_ERR_NULL_POINTER);
  CHECK_STATUS(fb_latency_histogram_record(NULL, 1), FB_ERR_NULL_POINTER);
  CHECK_STATUS(fb_latency_histogram_count(NULL, &n), FB_ERR_NULL_POINTER);
  CHECK_STATUS(fb_latency_histogram_quantile(NULL, 0.5, &q, &found), FB_ERR_NULL_POINTER);
  CHECK_STATUS(fb_breaker_free(b), FB_OK);
  CHECK_STATUS(fb_clock_free(clock), FB_OK);
}

/* A hedge delay that is the P95 of a histogram: the fallback (delay_ns)
 * while it is empty, the P95 once latencies are in. */
static void the_delay_follows_the_p95(void) {
  fb_clock *clock;
  fb_latency_histogram *h;
  fb_hedge_config hc;
  fb_hedge_policy *policy;
  fb_retry_budget_config bc;
  fb_retry_budget *budget;
  fb_hedge_call call;
  uint64_t delay = 0;
  CHECK_STATUS(fb_clock_manual_new(&clock), FB_OK);
  CHECK_STATUS(fb_latency_histogram_new(clock, &h), FB_OK);
  CHECK_STATUS(fb_hedge_config_default(&hc), FB_OK);
  CHECK(hc.histogram == NULL && hc.quantile == 0.95);
  hc.histogram = h;
  hc.delay_ns = 30 * MS;
  CHECK_STATUS(fb_hedge_policy_new("search", &hc, &policy), FB_OK);
  CHECK_STATUS(fb_retry_budget_config_default(&bc), FB_OK);
  CHECK_STATUS(fb_retry_budget_new_with_clock("search", &bc, clock, &budget), FB_OK);
  /* Empty: the fallback. */
  CHECK_STATUS(fb_hedge_begin(policy, budget, &call, &delay), FB_OK);
  CHECK(delay == 30 * MS);
  for (uint64_t ms = 1; ms <= 100; ms++) {
    CHECK_STATUS(fb_latency_histogram_record(h, ms * MS), FB_OK);
  }
  /* The policy holds its own reference. */
  CHECK_STATUS(fb_latency_histogram_free(h), FB_OK);
  CHECK_STATUS(fb_hedge_begin(policy, budget, &call, &delay), FB_OK);
  CHECK(delay > 93 * MS && delay < 97 * MS);
  CHECK_STATUS(fb_hedge_policy_free(policy), FB_OK);
  /* Bad quantiles, and a zero fallback, are refused; nothing is made. */
  CHECK_STATUS(fb_latency_histogram_new(clock, &h), FB_OK);
  hc.histogram = h;
  const double bad[] = {0.0, 1.5, -0.5};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    policy = NULL;
    hc.quantile = bad[i];
    CHECK_STATUS(fb_hedge_policy_new("search", &hc, &policy), FB_ERR_INVALID_CONFIG);
    CHECK(policy == NULL && strstr(fb_last_error(), "config.quantile") != NULL);
  }
  hc.quantile = 0.9;
  hc.delay_ns = 0;
  CHECK_STATUS(fb_hedge_policy_new("search", &hc, &policy), FB_ERR_INVALID_CONFIG);
  CHECK(strstr(fb_last_error(), "config.delay_ns") != NULL);
  CHECK_STATUS(fb_latency_histogram_free(h), FB_OK);
  CHECK_STATUS(fb_retry_budget_free(budget), FB_OK);
  CHECK_STATUS(fb_clock_free(clock), FB_OK);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 200000;
  the_hedge_wins_and_the_loser_is_cancelled();
  every_attempt_fails();
  a_rejection_with_nothing_running_fails();
  the_budget_refuses();
  retry_policy_prometheus();
  bad_input();
  a_breaker_feeds_its_histogram();
  the_delay_follows_the_p95();
  stress(n);
  printf("test_hedge: %d checks, %d failures\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
