/*
 * The fusebox C ABI test, shared by test_c.c (compiled as C11) and
 * test_cpp.cpp (compiled as C++17): the same checks run from both
 * languages, against the static and the shared library.
 *
 * What it covers:
 *   - the scenario files' semantics, hand-coded on a manual clock (01, 03,
 *     04, 05, 06, 08, 10, 12, 13, 14, 16, 19: closed -> open -> half-open ->
 *     closed, open_for and the rest);
 *   - every bad input: NULL pointers, names that are not UTF-8, empty and
 *     over-long names, out-of-range settings, double frees, frees of
 *     registry-owned breakers and of the global registry, used permits,
 *     unknown outcomes;
 *   - registries (own and global);
 *   - a pthreads stress: 4 threads x N calls on one breaker, exact counts.
 *
 * Usage: test_x [N]   (N calls per thread, default 1000000; the valgrind
 * run passes a smaller N).
 */
#ifndef FUSEBOX_TEST_COMMON_H
#define FUSEBOX_TEST_COMMON_H

#include "fusebox.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const uint64_t MS = 1000000ull;

typedef struct fixture {
  fb_clock *clock;
  fb_breaker *breaker;
} fixture;

static fixture fixture_new(const fb_config *config) {
  fixture f;
  f.clock = NULL;
  f.breaker = NULL;
  CHECK_STATUS(fb_clock_manual_new(&f.clock), FB_OK);
  CHECK_STATUS(fb_breaker_new_with_clock(config, f.clock, &f.breaker), FB_OK);
  return f;
}

static void fixture_free(fixture *f) {
  CHECK_STATUS(fb_breaker_free(f->breaker), FB_OK);
  CHECK_STATUS(fb_clock_free(f->clock), FB_OK);
}

static fb_config config_default(void) {
  fb_config c;
  memset(&c, 0, sizeof c);
  CHECK_STATUS(fb_config_default(&c), FB_OK);
  return c;
}

/* One call that must be admitted, ending in `outcome` after `duration_ns`. */
static void call(const fixture *f, fb_outcome outcome, uint64_t duration_ns,
                 int repeat) {
  for (int i = 0; i < repeat; i++) {
    fb_permit p;
    CHECK_STATUS(fb_breaker_acquire(f->breaker, &p, NULL), FB_OK);
    CHECK_STATUS(fb_permit_record(&p, outcome, duration_ns), FB_OK);
  }
}

static fb_permit acquire(const fixture *f, int want_probe) {
  fb_permit p;
  memset(&p, 0, sizeof p);
  CHECK_STATUS(fb_breaker_acquire(f->breaker, &p, NULL), FB_OK);
  CHECK(p.probe == want_probe);
  return p;
}

/* An attempt that must be rejected for `reason`; retry_after_ms < 0: do not
 * check it; else it must be within 1 ms. */
static void reject(const fixture *f, fb_reject_reason reason,
                   double retry_after_ms) {
  fb_permit p;
  fb_rejection r;
  memset(&r, 0, sizeof r);
  CHECK_STATUS(fb_breaker_acquire(f->breaker, &p, &r), FB_REJECTED);
  CHECK(r.reason == reason);
  CHECK(p.breaker == NULL);
  if (retry_after_ms >= 0) {
    double got = (double)r.retry_after_ns / (double)MS;
    CHECK(r.has_retry_after);
    CHECK(got - retry_after_ms <= 1.0 && retry_after_ms - got <= 1.0);
  }
}

static fb_state state_of(const fixture *f) {
  fb_state s = FB_STATE_HALF_OPEN;
  CHECK_STATUS(fb_breaker_state(f->breaker, &s), FB_OK);
  return s;
}

static fb_metrics metrics_of(const fb_breaker *b) {
  fb_metrics m;
  memset(&m, 0, sizeof m);
  CHECK_STATUS(fb_breaker_metrics(b, &m), FB_OK);
  return m;
}

static void advance(const fixture *f, uint64_t ms) {
  CHECK_STATUS(fb_clock_advance(f->clock, ms * MS), FB_OK);
}

/* ---------------------------------------------------------------- scenarios */

/* 01: 5 failures of 10 calls trip a 0.5 threshold (reached, not exceeded). */
static void scenario_01_failure_rate_trips_at_threshold(void) {
  fb_config c = config_default();
  c.consecutive_failures = 0; /* off */
  fixture f = fixture_new(&c);
  call(&f, FB_OUTCOME_SUCCESS, 0, 5);
  call(&f, FB_OUTCOME_FAILURE, 0, 4);
  CHECK(state_of(&f) == FB_STATE_CLOSED);
  fb_metrics m = metrics_of(f.breaker);
  CHECK(m.window_calls == 9 && m.window_failures == 4);
  CHECK(m.failure_rate > 0.44 && m.failure_rate < 0.45); /* 4/9 */
  call(&f, FB_OUTCOME_FAILURE, 0, 1);
  CHECK(state_of(&f) == FB_STATE_OPEN);
  m = metrics_of(f.breaker);
  CHECK(m.successes == 5 && m.failures == 5 && m.state_changes == 1);
  reject(&f, FB_REJECT_OPEN, 30000);
  fixture_free(&f);
}

/* 03: 5 failures in a row trip; a success resets the run. */
static void scenario_03_consecutive_failures_trip(void) {
  fb_config c = config_default();
  c.min_calls = 1000;
  fixture f = fixture_new(&c);
  call(&f, FB_OUTCOME_FAILURE, 0, 4);
  call(&f, FB_OUTCOME_SUCCESS, 0, 1);
  call(&f, FB_OUTCOME_FAILURE, 0, 4);
  CHECK(state_of(&f) == FB_STATE_CLOSED);
  call(&f, FB_OUTCOME_FAILURE, 0, 1);
  CHECK(state_of(&f) == FB_STATE_OPEN);
  fixture_free(&f);
}

/* 04: closed -> open -> half-open -> closed on the manual clock. */
static void scenario_04_full_cycle(void) {
  fb_config c = config_default();
  c.consecutive_failures = 3;
  c.open_timeout_ns = 30000 * MS;
  c.half_open_max_calls = 3;
  c.success_threshold = 3;
  fixture f = fixture_new(&c);
  call(&f, FB_OUTCOME_FAILURE, 0, 3);
  CHECK(state_of(&f) == FB_STATE_OPEN);
  advance(&f, 10000);
  reject(&f, FB_REJECT_OPEN, 20000);
  advance(&f, 20000);
  CHECK(state_of(&f) == FB_STATE_OPEN);
  fb_permit p1 = acquire(&f, 1);
  CHECK(state_of(&f) == FB_STATE_HALF_OPEN);
  fb_permit p2 = acquire(&f, 1);
  fb_permit p3 = acquire(&f, 1);
  reject(&f, FB_REJECT_HALF_OPEN_FULL, -1);
  CHECK_STATUS(fb_permit_record(&p1, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO), FB_OK);
  CHECK_STATUS(fb_permit_record(&p2, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO), FB_OK);
  CHECK(state_of(&f) == FB_STATE_HALF_OPEN);
  CHECK_STATUS(fb_permit_record(&p3, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO), FB_OK);
  CHECK(state_of(&f) == FB_STATE_CLOSED);
  fb_metrics m = metrics_of(f.breaker);
  CHECK(m.window_calls == 0);
  CHECK(m.state_changes == 3);
  CHECK(m.failures == 3 && m.successes == 3 && m.rejected == 2);
  fixture_free(&f);
}

/* 05: any probe failure sends the breaker back to Open. */
static void scenario_05_probe_failure_reopens(void) {
  fb_config c = config_default();
  c.consecutive_failures = 1;
  c.open_timeout_ns = 1000 * MS;
  fixture f = fixture_new(&c);
  call(&f, FB_OUTCOME_FAILURE, 0, 1);
  advance(&f, 1000);
  fb_permit p1 = acquire(&f, 1);
  fb_permit p2 = acquire(&f, 1);
  CHECK_STATUS(fb_permit_record(&p1, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO), FB_OK);
  CHECK_STATUS(fb_permit_record(&p2, FB_OUTCOME_FAILURE, FB_DURATION_AUTO), FB_OK);
  CHECK(state_of(&f) == FB_STATE_OPEN);
  reject(&f, FB_REJECT_OPEN, 1000);
  CHECK(metrics_of(f.breaker).state_changes == 3);
  fixture_free(&f);
}

/* 06: a probe released without an outcome gives its slot back. 16: so does
 * an ignored probe. */
static void scenario_06_16_probe_slots_come_back(void) {
  fb_config c = config_default();
  c.consecutive_failures = 1;
  c.open_timeout_ns = 1000 * MS;
  c.half_open_max_calls = 1;
  c.success_threshold = 1;
  fixture f = fixture_new(&c);
  call(&f, FB_OUTCOME_FAILURE, 0, 1);
  advance(&f, 1000);
  fb_permit p1 = acquire(&f, 1);
  reject(&f, FB_REJECT_HALF_OPEN_FULL, -1);
  CHECK_STATUS(fb_permit_release(&p1), FB_OK);
  fb_permit p2 = acquire(&f, 1);
  CHECK_STATUS(fb_permit_record(&p2, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO), FB_OK);
  CHECK(state_of(&f) == FB_STATE_CLOSED);
  fixture_free(&f);

  f = fixture_new(&c);
  call(&f, FB_OUTCOME_FAILURE, 0, 1);
  advance(&f, 1000);
  call(&f, FB_OUTCOME_IGNORED, 0, 1);
  CHECK(state_of(&f) == FB_STATE_HALF_OPEN);
  call(&f, FB_OUTCOME_SUCCESS, 0, 1);
  CHECK(state_of(&f) == FB_STATE_CLOSED);
  fixture_free(&f);
}

/* 08: an outcome admitted under an earlier generation is not judged. */
static void scenario_08_stale_generation_outcome_dropped(void) {
  fb_config c = config_default();
  c.consecutive_failures = 2;
  c.open_timeout_ns = 1000 * MS;
  c.half_open_max_calls = 1;
  c.success_threshold = 1;
  fixture f = fixture_new(&c);
  fb_permit slow = acquire(&f, 0);
  call(&f, FB_OUTCOME_FAILURE, 0, 2);
  CHECK(state_of(&f) == FB_STATE_OPEN);
  advance(&f, 1000);
  fb_permit probe = acquire(&f, 1);
  CHECK(probe.generation != slow.generation);
  CHECK_STATUS(fb_permit_record(&slow, FB_OUTCOME_FAILURE, FB_DURATION_AUTO), FB_OK);
  CHECK(state_of(&f) == FB_STATE_HALF_OPEN);
  CHECK_STATUS(fb_permit_record(&probe, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO), FB_OK);
  CHECK(state_of(&f) == FB_STATE_CLOSED);
  fb_metrics m = metrics_of(f.breaker);
  CHECK(m.failures == 3 && m.successes == 1 && m.window_calls == 0);
  fixture_free(&f);
}

/* 10: a count window of the last 5 calls. */
static void scenario_10_count_window(void) {
  fb_config c = config_default();
  c.consecutive_failures = 0;
  c.min_calls = 5;
  c.failure_rate_threshold = 0.6;
  c.window_type = FB_WINDOW_COUNT;
  c.window_size = 5;
  fixture f = fixture_new(&c);
  call(&f, FB_OUTCOME_FAILURE, 0, 2);
  call(&f, FB_OUTCOME_SUCCESS, 0, 3);
  fb_metrics m = metrics_of(f.breaker);
  CHECK(m.window_calls == 5 && m.window_failures == 2);
  call(&f, FB_OUTCOME_SUCCESS, 0, 2);
  m = metrics_of(f.breaker);
  CHECK(m.window_calls == 5 && m.window_failures == 0);
  call(&f, FB_OUTCOME_FAILURE, 0, 2);
  CHECK(state_of(&f) == FB_STATE_CLOSED);
  call(&f, FB_OUTCOME_FAILURE, 0, 1);
  CHECK(state_of(&f) == FB_STATE_OPEN);
  fixture_free(&f);
}

/* 12: slow calls (durations given in ns) trip at the slow-call rate. */
static void scenario_12_slow_call_rate_trips(void) {
  fb_config c = config_default();
  c.consecutive_failures = 0;
  c.min_calls = 4;
  c.slow_call_duration_ns = 1000 * MS;
  c.slow_call_rate_threshold = 0.5;
  fixture f = fixture_new(&c);
  call(&f, FB_OUTCOME_SUCCESS, 10 * MS, 1);
  call(&f, FB_OUTCOME_SUCCESS, 1000 * MS, 1); /* not longer: not slow */
  call(&f, FB_OUTCOME_SUCCESS, 5000 * MS, 1);
  fb_metrics m = metrics_of(f.breaker);
  CHECK(m.slow == 1 && m.window_calls == 3);
  CHECK(state_of(&f) == FB_STATE_CLOSED);
  call(&f, FB_OUTCOME_SUCCESS, 10000 * MS, 1);
  CHECK(state_of(&f) == FB_STATE_OPEN);
  m = metrics_of(f.breaker);
  CHECK(m.slow == 2 && m.failures == 0);
  fixture_free(&f);

  /* FB_DURATION_AUTO: the breaker measures on its own (manual) clock. */
  f = fixture_new(&c);
  fb_permit p = acquire(&f, 0);
  advance(&f, 3000);
  CHECK_STATUS(fb_permit_record(&p, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO), FB_OK);
  CHECK(metrics_of(f.breaker).slow == 1);
  fixture_free(&f);
}

/* 13: manual control. */
static void scenario_13_force_open_disable_reset(void) {
  fb_config c = config_default();
  c.consecutive_failures = 2;
  fixture f = fixture_new(&c);
  CHECK_STATUS(fb_breaker_force_open(f.breaker), FB_OK);
  CHECK(state_of(&f) == FB_STATE_OPEN);
  CHECK(metrics_of(f.breaker).phase == FB_PHASE_FORCED_OPEN);
  reject(&f, FB_REJECT_FORCED_OPEN, -1);
  advance(&f, 100000);
  reject(&f, FB_REJECT_FORCED_OPEN, -1);
  CHECK_STATUS(fb_breaker_reset(f.breaker), FB_OK);
  CHECK(state_of(&f) == FB_STATE_CLOSED);
  CHECK_STATUS(fb_breaker_disable(f.breaker), FB_OK);
  CHECK(metrics_of(f.breaker).phase == FB_PHASE_DISABLED);
  call(&f, FB_OUTCOME_FAILURE, 0, 10);
  CHECK(state_of(&f) == FB_STATE_CLOSED);
  CHECK_STATUS(fb_breaker_reset(f.breaker), FB_OK);
  call(&f, FB_OUTCOME_FAILURE, 0, 2);
  CHECK(state_of(&f) == FB_STATE_OPEN);
  fixture_free(&f);
}

/* 14: the open timeout doubles while probes keep failing, up to its cap. */
static void scenario_14_exponential_backoff(void) {
  fb_config c = config_default();
  c.consecutive_failures = 1;
  c.open_timeout_ns = 1000 * MS;
  c.backoff_multiplier = 2.0;
  c.backoff_max_ns = 4000 * MS;
  c.half_open_max_calls = 1;
  c.success_threshold = 1;
  fixture f = fixture_new(&c);
  call(&f, FB_OUTCOME_FAILURE, 0, 1);
  reject(&f, FB_REJECT_OPEN, 1000);
  advance(&f, 1000);
  call(&f, FB_OUTCOME_FAILURE, 0, 1);
  reject(&f, FB_REJECT_OPEN, 2000);
  advance(&f, 2000);
  call(&f, FB_OUTCOME_FAILURE, 0, 1);
  reject(&f, FB_REJECT_OPEN, 4000);
  advance(&f, 4000);
  call(&f, FB_OUTCOME_FAILURE, 0, 1);
  reject(&f, FB_REJECT_OPEN, 4000);
  advance(&f, 4000);
  call(&f, FB_OUTCOME_SUCCESS, 0, 1);
  CHECK(state_of(&f) == FB_STATE_CLOSED);
  call(&f, FB_OUTCOME_FAILURE, 0, 1);
  reject(&f, FB_REJECT_OPEN, 1000);
  fixture_free(&f);
}

/* 19: open_for (a server's Retry-After): open for the time given, cut to
 * max_open_for_ns, never shortened; then the usual probing. */
static void scenario_19_open_for_retry_after(void) {
  fb_config c = config_default();
  c.half_open_max_calls = 2;
  c.success_threshold = 2;
  c.max_open_for_ns = 8000 * MS;
  CHECK(config_default().max_open_for_ns == 300000 * MS);
  CHECK(config_default().cancellation == FB_CANCEL_SLOW_IF_OVERDUE);
  fixture f = fixture_new(&c);
  bool opened = false;
  CHECK_STATUS(fb_breaker_open_for(f.breaker, 5000 * MS, &opened), FB_OK);
  CHECK(opened);
  CHECK(state_of(&f) == FB_STATE_OPEN);
  reject(&f, FB_REJECT_OPEN, 5000);
  CHECK_STATUS(fb_breaker_open_for(f.breaker, 2000 * MS, &opened), FB_OK);
  CHECK(!opened);
  reject(&f, FB_REJECT_OPEN, 5000);
  CHECK_STATUS(fb_breaker_open_for(f.breaker, 60000 * MS, &opened), FB_OK);
  CHECK(opened);
  reject(&f, FB_REJECT_OPEN, 8000);
  advance(&f, 8000);
  fb_permit p = acquire(&f, 1);
  CHECK(state_of(&f) == FB_STATE_HALF_OPEN);
  /* While half-open: open again; the probe in flight is stale. */
  CHECK_STATUS(fb_breaker_open_for(f.breaker, 3000 * MS, NULL), FB_OK);
  CHECK_STATUS(fb_permit_record(&p, FB_OUTCOME_SUCCESS, 0), FB_OK);
  CHECK(state_of(&f) == FB_STATE_OPEN);
  advance(&f, 3000);
  call(&f, FB_OUTCOME_SUCCESS, 0, 2);
  CHECK(state_of(&f) == FB_STATE_CLOSED);
  /* Forced open outranks the hint. */
  CHECK_STATUS(fb_breaker_force_open(f.breaker), FB_OK);
  CHECK_STATUS(fb_breaker_open_for(f.breaker, 1000 * MS, &opened), FB_OK);
  CHECK(!opened);
  reject(&f, FB_REJECT_FORCED_OPEN, -1);
  CHECK_ERR(fb_breaker_open_for(NULL, 1, NULL), FB_ERR_NULL_POINTER, "fb_breaker_open_for: breaker");
  fixture_free(&f);

  /* A call given up on after it ran past slow_call_duration_ns: one slow
   * call (FB_CANCEL_SLOW_IF_OVERDUE); with FB_CANCEL_FAILURE a failure. */
  c = config_default();
  c.slow_call_duration_ns = 2000 * MS;
  f = fixture_new(&c);
  p = acquire(&f, 0);
  advance(&f, 3000);
  CHECK_STATUS(fb_permit_cancel(&p), FB_OK);
  CHECK(metrics_of(f.breaker).slow == 1 && metrics_of(f.breaker).failures == 0);
  CHECK_ERR(fb_permit_cancel(&p), FB_ERR_PERMIT_USED, "fb_permit_cancel");
  fixture_free(&f);
  c.cancellation = FB_CANCEL_FAILURE;
  f = fixture_new(&c);
  p = acquire(&f, 0);
  CHECK_STATUS(fb_permit_cancel(&p), FB_OK);
  CHECK(metrics_of(f.breaker).failures == 1);
  fixture_free(&f);
}

/* --------------------------------------------------------------- bad input */

static void bad_nulls(void) {
  fb_config c = config_default();
  fixture f = fixture_new(&c);
  fb_breaker *b = NULL;
  fb_registry *r = NULL;
  fb_permit p;
  fb_metrics m;
  fb_state s;
  uint64_t t;
  size_t n;

  CHECK_ERR(fb_config_default(NULL), FB_ERR_NULL_POINTER, "fb_config_default: config is NULL");
  CHECK_ERR(fb_config_validate(NULL), FB_ERR_NULL_POINTER, "config is NULL");
  CHECK_ERR(fb_clock_manual_new(NULL), FB_ERR_NULL_POINTER, "fb_clock_manual_new: out is NULL");
  CHECK_ERR(fb_clock_advance(NULL, 1), FB_ERR_NULL_POINTER, "fb_clock_advance: clock is NULL");
  CHECK_ERR(fb_clock_now(NULL, &t), FB_ERR_NULL_POINTER, "clock is NULL");
  CHECK_ERR(fb_clock_now(f.clock, NULL), FB_ERR_NULL_POINTER, "out_ns is NULL");
  CHECK_ERR(fb_clock_free(NULL), FB_ERR_NULL_POINTER, "fb_clock_free: clock is NULL");
  CHECK_ERR(fb_breaker_new(NULL, &b), FB_ERR_NULL_POINTER, "fb_breaker_new: config is NULL");
  CHECK_ERR(fb_breaker_new(&c, NULL), FB_ERR_NULL_POINTER, "fb_breaker_new: out is NULL");
  CHECK_ERR(fb_breaker_new_with_clock(NULL, f.clock, &b), FB_ERR_NULL_POINTER, "config is NULL");
  CHECK_ERR(fb_breaker_new_with_clock(&c, f.clock, NULL), FB_ERR_NULL_POINTER, "out is NULL");
  CHECK_ERR(fb_breaker_new_named(NULL, &c, NULL, &b), FB_ERR_NULL_POINTER, "name is NULL");
  CHECK_ERR(fb_breaker_free(NULL), FB_ERR_NULL_POINTER, "fb_breaker_free: breaker is NULL");
  CHECK_ERR(fb_breaker_acquire(NULL, &p, NULL), FB_ERR_NULL_POINTER, "fb_breaker_acquire: breaker is NULL");
  CHECK_ERR(fb_breaker_acquire(f.breaker, NULL, NULL), FB_ERR_NULL_POINTER, "fb_breaker_acquire: permit is NULL");
  CHECK_ERR(fb_permit_record(NULL, FB_OUTCOME_SUCCESS, 0), FB_ERR_NULL_POINTER, "fb_permit_record: permit is NULL");
  CHECK_ERR(fb_permit_release(NULL), FB_ERR_NULL_POINTER, "fb_permit_release: permit is NULL");
  CHECK_ERR(fb_breaker_state(NULL, &s), FB_ERR_NULL_POINTER, "fb_breaker_state: breaker is NULL");
  CHECK_ERR(fb_breaker_state(f.breaker, NULL), FB_ERR_NULL_POINTER, "fb_breaker_state: out is NULL");
  CHECK_ERR(fb_breaker_metrics(NULL, &m), FB_ERR_NULL_POINTER, "fb_breaker_metrics: breaker is NULL");
  CHECK_ERR(fb_breaker_metrics(f.breaker, NULL), FB_ERR_NULL_POINTER, "fb_breaker_metrics: out is NULL");
  CHECK_ERR(fb_breaker_force_open(NULL), FB_ERR_NULL_POINTER, "fb_breaker_force_open: breaker is NULL");
  CHECK_ERR(fb_breaker_disable(NULL), FB_ERR_NULL_POINTER, "fb_breaker_disable: breaker is NULL");
  CHECK_ERR(fb_breaker_reset(NULL), FB_ERR_NULL_POINTER, "fb_breaker_reset: breaker is NULL");
  CHECK_ERR(fb_registry_new(NULL, NULL, &r), FB_ERR_NULL_POINTER, "fb_registry_new: default_config is NULL");
  CHECK_ERR(fb_registry_new(&c, NULL, NULL), FB_ERR_NULL_POINTER, "fb_registry_new: out is NULL");
  CHECK_ERR(fb_registry_global(NULL), FB_ERR_NULL_POINTER, "fb_registry_global: out is NULL");
  CHECK_ERR(fb_registry_free(NULL), FB_ERR_NULL_POINTER, "fb_registry_free: registry is NULL");

  CHECK_STATUS(fb_registry_new(&c, f.clock, &r), FB_OK);
  CHECK_ERR(fb_registry_set_default(NULL, &c), FB_ERR_NULL_POINTER, "registry is NULL");
  CHECK_ERR(fb_registry_set_default(r, NULL), FB_ERR_NULL_POINTER, "config is NULL");
  CHECK_ERR(fb_registry_configure(NULL, "x", &c), FB_ERR_NULL_POINTER, "registry is NULL");
  CHECK_ERR(fb_registry_configure(r, NULL, &c), FB_ERR_NULL_POINTER, "name is NULL");
  CHECK_ERR(fb_registry_configure(r, "x", NULL), FB_ERR_NULL_POINTER, "config is NULL");
  CHECK_ERR(fb_registry_get_or_create(NULL, "x", &b), FB_ERR_NULL_POINTER, "registry is NULL");
  CHECK_ERR(fb_registry_get_or_create(r, NULL, &b), FB_ERR_NULL_POINTER, "name is NULL");
  CHECK_ERR(fb_registry_get_or_create(r, "x", NULL), FB_ERR_NULL_POINTER, "out is NULL");
  CHECK_ERR(fb_registry_get_or_create_with(r, "x", NULL, &b), FB_ERR_NULL_POINTER, "config is NULL");
  CHECK_ERR(fb_registry_get_or_create_with(r, "x", &c, NULL), FB_ERR_NULL_POINTER, "out is NULL");
  CHECK_ERR(fb_registry_get(NULL, "x", &b), FB_ERR_NULL_POINTER, "registry is NULL");
  CHECK_ERR(fb_registry_get(r, NULL, &b), FB_ERR_NULL_POINTER, "name is NULL");
  CHECK_ERR(fb_registry_get(r, "x", NULL), FB_ERR_NULL_POINTER, "out is NULL");
  CHECK_ERR(fb_registry_len(NULL, &n), FB_ERR_NULL_POINTER, "registry is NULL");
  CHECK_ERR(fb_registry_len(r, NULL), FB_ERR_NULL_POINTER, "out is NULL");
  CHECK(b == NULL);
  CHECK_STATUS(fb_registry_len(r, &n), FB_OK);
  CHECK(n == 0);
  CHECK_STATUS(fb_registry_free(r), FB_OK);

  /* Nothing was counted by the refused calls. */
  m = metrics_of(f.breaker);
  CHECK(m.successes == 0 && m.failures == 0 && m.rejected == 0);
  fixture_free(&f);
}

static void bad_names(void) {
  fb_config c = config_default();
  fb_registry *r = NULL;
  fb_breaker *b = NULL;
  const char *not_utf8 = "svc\xff\xfe:op";
  char too_long[300];
  memset(too_long, 'x', sizeof too_long - 1);
  too_long[sizeof too_long - 1] = '\0';
  size_t n = 99;

  CHECK_STATUS(fb_registry_new(&c, NULL, &r), FB_OK);
  CHECK_ERR(fb_registry_get_or_create(r, not_utf8, &b), FB_ERR_INVALID_UTF8,
            "fb_registry_get_or_create: name is not valid UTF-8");
  CHECK_ERR(fb_registry_get(r, not_utf8, &b), FB_ERR_INVALID_UTF8, "UTF-8");
  CHECK_ERR(fb_registry_configure(r, not_utf8, &c), FB_ERR_INVALID_UTF8, "UTF-8");
  CHECK_ERR(fb_registry_get_or_create_with(r, not_utf8, &c, &b), FB_ERR_INVALID_UTF8, "UTF-8");
  CHECK_ERR(fb_breaker_new_named(not_utf8, &c, NULL, &b), FB_ERR_INVALID_UTF8,
            "fb_breaker_new_named: name is not valid UTF-8");
  CHECK_ERR(fb_registry_get_or_create(r, "", &b), FB_ERR_INVALID_NAME, "name");
  CHECK_ERR(fb_registry_get_or_create(r, too_long, &b), FB_ERR_INVALID_NAME, "256");
  CHECK_ERR(fb_registry_configure(r, "", &c), FB_ERR_INVALID_NAME, "fb_registry_configure");
  CHECK_ERR(fb_registry_get(r, "nobody", &b), FB_ERR_NOT_FOUND, "no breaker named \"nobody\"");
  CHECK(b == NULL);
  CHECK_STATUS(fb_registry_len(r, &n), FB_OK);
  CHECK(n == 0);
  CHECK_STATUS(fb_registry_free(r), FB_OK);
}

static void check_bad_config(fb_config c, const char *field) {
  fb_breaker *b = NULL;
  fb_registry *r = NULL;
  CHECK_ERR(fb_breaker_new(&c, &b), FB_ERR_INVALID_CONFIG, field);
  CHECK(b == NULL);
  CHECK_ERR(fb_config_validate(&c), FB_ERR_INVALID_CONFIG, field);
  CHECK_ERR(fb_registry_new(&c, NULL, &r), FB_ERR_INVALID_CONFIG, field);
  CHECK(r == NULL);
}

static void bad_config(void) {
  fb_config d = config_default();
  fb_config c;
  CHECK_STATUS(fb_config_validate(&d), FB_OK);

  memset(&c, 0, sizeof c); /* never initialised by fb_config_default */
  check_bad_config(c, "config.size");
  c = d; c.failure_rate_threshold = 1.5; check_bad_config(c, "config.failure_rate_threshold: invalid failure_rate_threshold: 1.5");
  c = d; c.failure_rate_threshold = 0.0; check_bad_config(c, "config.failure_rate_threshold");
  c = d; c.min_calls = 0; check_bad_config(c, "config.min_calls");
  c = d; c.window_type = 9; check_bad_config(c, "config.window_type: 9");
  c = d; c.window_duration_ns = 0; check_bad_config(c, "config.window_duration_ns");
  c = d; c.window_buckets = 0; check_bad_config(c, "config.window_buckets");
  c = d; c.window_buckets = 100000; check_bad_config(c, "config.window_buckets");
  c = d; c.window_type = FB_WINDOW_COUNT; c.window_size = 0; check_bad_config(c, "config.window_size");
  c = d; c.open_timeout_ns = 0; check_bad_config(c, "config.open_timeout_ns");
  c = d; c.open_timeout_ns = UINT64_MAX; check_bad_config(c, "config.open_timeout_ns");
  c = d; c.backoff_multiplier = 0.5; check_bad_config(c, "config.backoff_multiplier");
  c = d; c.backoff_multiplier = 2.0; c.backoff_max_ns = 1; check_bad_config(c, "config.backoff_max_ns");
  c = d; c.jitter = 2.0; check_bad_config(c, "config.jitter");
  c = d; c.half_open_max_calls = 0; check_bad_config(c, "config.half_open_max_calls");
  c = d; c.success_threshold = 0; check_bad_config(c, "config.success_threshold");
  c = d; c.success_threshold = 4; check_bad_config(c, "config.success_threshold");
  c = d; c.half_open_max_wait_ns = 0; check_bad_config(c, "config.half_open_max_wait_ns");
  c = d; c.slow_call_duration_ns = UINT64_MAX; check_bad_config(c, "config.slow_call_duration_ns");
  c = d; c.slow_call_rate_threshold = -1.0; check_bad_config(c, "config.slow_call_rate_threshold");
  c = d; c.max_open_for_ns = 0; check_bad_config(c, "config.max_open_for_ns: invalid max_open_for_ns: 0");
  c = d; c.cancellation = 3; check_bad_config(c, "config.cancellation: 3");

  /* A registry refuses bad configs too. */
  fb_registry *r = NULL;
  fb_breaker *b = NULL;
  CHECK_STATUS(fb_registry_new(&d, NULL, &r), FB_OK);
  c = d; c.min_calls = 0;
  CHECK_ERR(fb_registry_set_default(r, &c), FB_ERR_INVALID_CONFIG, "fb_registry_set_default: config.min_calls");
  CHECK_ERR(fb_registry_configure(r, "a", &c), FB_ERR_INVALID_CONFIG, "fb_registry_configure: config.min_calls");
  CHECK_ERR(fb_registry_get_or_create_with(r, "a", &c, &b), FB_ERR_INVALID_CONFIG, "config.min_calls");
  CHECK(b == NULL);
  CHECK_STATUS(fb_registry_free(r), FB_OK);
}

static void bad_frees(void) {
  fb_config c = config_default();
  fb_breaker *b = NULL;
  fb_clock *clock = NULL;
  fb_registry *r = NULL;
  fb_registry *g = NULL;
  fb_breaker *rb = NULL;
  int not_ours = 0;

  CHECK_STATUS(fb_breaker_new(&c, &b), FB_OK);
  CHECK_STATUS(fb_breaker_free(b), FB_OK);
  CHECK_ERR(fb_breaker_free(b), FB_ERR_INVALID_HANDLE, "freed twice");
  CHECK_ERR(fb_breaker_free((fb_breaker *)&not_ours), FB_ERR_INVALID_HANDLE, "not a live breaker");

  CHECK_STATUS(fb_clock_manual_new(&clock), FB_OK);
  CHECK_ERR(fb_breaker_free((fb_breaker *)clock), FB_ERR_INVALID_HANDLE, "a live clock, not a breaker");
  CHECK_STATUS(fb_clock_free(clock), FB_OK);
  CHECK_ERR(fb_clock_free(clock), FB_ERR_INVALID_HANDLE, "fb_clock_free: not a live clock");

  CHECK_STATUS(fb_registry_new(&c, NULL, &r), FB_OK);
  CHECK_STATUS(fb_registry_get_or_create(r, "inventory:get", &rb), FB_OK);
  CHECK_ERR(fb_breaker_free(rb), FB_ERR_NOT_OWNED, "belongs to a registry");
  CHECK_ERR(fb_breaker_free(rb), FB_ERR_NOT_OWNED, "belongs to a registry");
  /* Still a working breaker. */
  fb_permit p;
  CHECK_STATUS(fb_breaker_acquire(rb, &p, NULL), FB_OK);
  CHECK_STATUS(fb_permit_record(&p, FB_OUTCOME_SUCCESS, 0), FB_OK);
  CHECK(metrics_of(rb).successes == 1);
  CHECK_STATUS(fb_registry_free(r), FB_OK);
  CHECK_ERR(fb_registry_free(r), FB_ERR_INVALID_HANDLE, "fb_registry_free: not a live registry");

  CHECK_STATUS(fb_registry_global(&g), FB_OK);
  CHECK_ERR(fb_registry_free(g), FB_ERR_NOT_OWNED, "global registry");
  CHECK_ERR(fb_registry_free(g), FB_ERR_NOT_OWNED, "global registry");
}

static void bad_permits(void) {
  fb_config c = config_default();
  c.consecutive_failures = 1;
  fixture f = fixture_new(&c);
  fb_permit p = acquire(&f, 0);
  CHECK(p.breaker == f.breaker);
  CHECK_ERR(fb_permit_record(&p, 3, 0), FB_ERR_INVALID_ARGUMENT, "fb_permit_record: outcome 3");
  CHECK_ERR(fb_permit_record(&p, (fb_outcome)-1, 0), FB_ERR_INVALID_ARGUMENT, "outcome 4294967295");
  CHECK(p.breaker == f.breaker); /* a refused outcome does not use it up */
  CHECK_STATUS(fb_permit_record(&p, FB_OUTCOME_IGNORED, 0), FB_OK);
  CHECK(p.breaker == NULL);
  CHECK_ERR(fb_permit_record(&p, FB_OUTCOME_FAILURE, 0), FB_ERR_PERMIT_USED,
            "fb_permit_record: the permit has already been given an outcome or released");
  CHECK_ERR(fb_permit_release(&p), FB_ERR_PERMIT_USED, "fb_permit_release");

  fb_permit q = acquire(&f, 0);
  CHECK_STATUS(fb_permit_release(&q), FB_OK);
  CHECK_ERR(fb_permit_release(&q), FB_ERR_PERMIT_USED, "fb_permit_release");

  /* A zeroed permit was never admitted. */
  fb_permit z;
  memset(&z, 0, sizeof z);
  CHECK_ERR(fb_permit_record(&z, FB_OUTCOME_SUCCESS, 0), FB_ERR_PERMIT_USED, "never admitted");

  /* A rejected acquire leaves a permit that cannot be recorded; a rejection
   * is not an error and leaves fb_last_error() alone. */
  call(&f, FB_OUTCOME_FAILURE, 0, 1);
  fb_permit r;
  memset(&r, 0xAB, sizeof r);
  fb_status st = fb_breaker_acquire(f.breaker, &r, NULL);
  CHECK(st == FB_REJECTED);
  CHECK(strstr(fb_last_error(), "never admitted") != NULL);
  CHECK_ERR(fb_permit_record(&r, FB_OUTCOME_SUCCESS, 0), FB_ERR_PERMIT_USED, "fb_permit_record");

  fb_metrics m = metrics_of(f.breaker);
  CHECK(m.successes == 0 && m.failures == 1 && m.ignored == 1 && m.rejected == 1);
  fixture_free(&f);
}

/* ---------------------------------------------------------------- registry */

static void registries(void) {
  fb_config c = config_default();
  fb_clock *clock = NULL;
  fb_registry *r = NULL;
  fb_breaker *a = NULL, *b = NULL, *g = NULL;
  size_t n = 0;

  CHECK_STATUS(fb_clock_manual_new(&clock), FB_OK);
  CHECK_STATUS(fb_registry_new(&c, clock, &r), FB_OK);
  fb_config inv = config_default();
  inv.min_calls = 2;
  inv.consecutive_failures = 0;
  CHECK_STATUS(fb_registry_configure(r, "inventory:get", &inv), FB_OK);
  CHECK_STATUS(fb_registry_get_or_create(r, "inventory:get", &a), FB_OK);
  CHECK_STATUS(fb_registry_get_or_create(r, "inventory:get", &b), FB_OK);
  CHECK_STATUS(fb_registry_get(r, "inventory:get", &g), FB_OK);
  CHECK(a == b && b == g);
  fb_permit p;
  for (int i = 0; i < 2; i++) {
    CHECK_STATUS(fb_breaker_acquire(a, &p, NULL), FB_OK);
    CHECK_STATUS(fb_permit_record(&p, FB_OUTCOME_FAILURE, 0), FB_OK);
  }
  fb_state s;
  CHECK_STATUS(fb_breaker_state(b, &s), FB_OK);
  CHECK(s == FB_STATE_OPEN);
  /* On the registry's manual clock: 30 s open, 10 s gone. */
  CHECK_STATUS(fb_clock_advance(clock, 10000 * MS), FB_OK);
  fb_rejection rej;
  CHECK_STATUS(fb_breaker_acquire(a, &p, &rej), FB_REJECTED);
  CHECK(rej.reason == FB_REJECT_OPEN && rej.retry_after_ns == 20000 * MS);

  fb_breaker *pay = NULL;
  CHECK_STATUS(fb_registry_get_or_create(r, "payment:pay", &pay), FB_OK);
  CHECK(pay != a);
  CHECK_STATUS(fb_breaker_state(pay, &s), FB_OK);
  CHECK(s == FB_STATE_CLOSED);
  fb_config big = config_default();
  big.half_open_max_calls = 10;
  CHECK_STATUS(fb_registry_set_default(r, &big), FB_OK);
  fb_breaker *w = NULL;
  CHECK_STATUS(fb_registry_get_or_create_with(r, "search:query", &big, &w), FB_OK);
  CHECK_STATUS(fb_registry_len(r, &n), FB_OK);
  CHECK(n == 3);
  /* The registry's Prometheus text: asked for its length first, then
     written; every breaker's state series is there, the open one open. */
  size_t len = 0;
  CHECK_ERR(fb_registry_prometheus(r, NULL, 0, &len), FB_ERR_INVALID_ARGUMENT, "buffer");
  CHECK(len > 0);
  char *text = (char *)malloc(len + 1);
  CHECK(text != NULL);
  CHECK_STATUS(fb_registry_prometheus(r, text, len + 1, &len), FB_OK);
  CHECK(strlen(text) == len);
  CHECK(strstr(text, "fusebox_state{breaker=\"inventory:get\",state=\"open\"} 1") != NULL);
  CHECK(strstr(text, "breaker=\"payment:pay\"") != NULL);
  CHECK(strstr(text, "breaker=\"search:query\"") != NULL);
  free(text);
  CHECK_ERR(fb_registry_prometheus(NULL, NULL, 0, &len), FB_ERR_NULL_POINTER, "registry is NULL");
  CHECK_STATUS(fb_registry_free(r), FB_OK);
  CHECK_STATUS(fb_clock_free(clock), FB_OK);

  /* The global registry: one breaker per name, process-wide. */
  fb_registry *g1 = NULL, *g2 = NULL;
  fb_breaker *x = NULL, *y = NULL;
  CHECK_STATUS(fb_registry_global(&g1), FB_OK);
  CHECK_STATUS(fb_registry_global(&g2), FB_OK);
  CHECK(g1 == g2);
  CHECK_STATUS(fb_registry_get_or_create(g1, "user-service:getUser", &x), FB_OK);
  CHECK_STATUS(fb_registry_get(g2, "user-service:getUser", &y), FB_OK);
  CHECK(x == y);
  CHECK_STATUS(fb_breaker_acquire(x, &p, NULL), FB_OK);
  CHECK_STATUS(fb_permit_record(&p, FB_OUTCOME_SUCCESS, FB_DURATION_AUTO), FB_OK);
  CHECK(metrics_of(y).successes >= 1);
}

static void strings(void) {
  CHECK(strlen(fb_version()) >= 5);
  CHECK(strcmp(fb_status_name(FB_OK), "FB_OK") == 0);
  CHECK(strcmp(fb_status_name(FB_ERR_NOT_OWNED), "FB_ERR_NOT_OWNED") == 0);
  CHECK(strcmp(fb_status_name(12345), "FB_UNKNOWN_STATUS") == 0);
}

/* ------------------------------------------------------------------ stress */

typedef struct stress_arg {
  const fb_breaker *breaker;
  long calls;
  long bad; /* statuses that were not FB_OK */
} stress_arg;

static void *stress_thread(void *raw) {
  stress_arg *a = (stress_arg *)raw;
  /* success, success, failure, ignored: never more failures than successes,
   * so a 0.9 failure-rate threshold is never reached. */
  static const fb_outcome pattern[4] = {FB_OUTCOME_SUCCESS, FB_OUTCOME_SUCCESS,
                                        FB_OUTCOME_FAILURE, FB_OUTCOME_IGNORED};
  for (long i = 0; i < a->calls; i++) {
    fb_permit p;
    if (fb_breaker_acquire(a->breaker, &p, NULL) != FB_OK) {
      a->bad++;
      continue;
    }
    if (fb_permit_record(&p, pattern[i & 3], FB_DURATION_AUTO) != FB_OK) a->bad++;
  }
  return NULL;
}

static void stress(long calls_per_thread) {
  enum { THREADS = 4 };
  fb_config c = config_default();
  c.consecutive_failures = 0;
  c.failure_rate_threshold = 0.9;
  fixture f = fixture_new(&c);
  pthread_t threads[THREADS];
  stress_arg args[THREADS];
  for (int i = 0; i < THREADS; i++) {
    args[i].breaker = f.breaker;
    args[i].calls = calls_per_thread;
    args[i].bad = 0;
    CHECK(pthread_create(&threads[i], NULL, stress_thread, &args[i]) == 0);
  }
  long bad = 0;
  for (int i = 0; i < THREADS; i++) {
    CHECK(pthread_join(threads[i], NULL) == 0);
    bad += args[i].bad;
  }
  CHECK(bad == 0);
  fb_metrics m = metrics_of(f.breaker);
  uint64_t total = (uint64_t)THREADS * (uint64_t)calls_per_thread;
  /* calls_per_thread is a multiple of 4 (see run_all). */
  CHECK(m.successes == total / 2);
  CHECK(m.failures == total / 4);
  CHECK(m.ignored == total / 4);
  CHECK(m.rejected == 0);
  CHECK(m.state == FB_STATE_CLOSED && m.state_changes == 0);
  CHECK(m.window_calls == total * 3 / 4);
  CHECK(m.window_failures == total / 4);
  printf("stress: %d threads x %ld calls: successes %llu failures %llu ignored %llu\n",
         THREADS, calls_per_thread, (unsigned long long)m.successes,
         (unsigned long long)m.failures, (unsigned long long)m.ignored);
  fixture_free(&f);
}

/* Runs everything; returns the process exit status. */
/* Live reconfiguration and snapshot/restore (docs/semantics.md#live-reconfiguration,
   #snapshot-and-restore): a lowered threshold judges the kept window; another
   window is refused with nothing changed; an open breaker written to a file
   stays open for the rest of its period in a restarted registry; a damaged
   or foreign file is refused with FB_ERR_BAD_FILE, a missing one FB_ERR_IO. */
static void reconfigure_and_snapshot(void) {
  fb_clock *clock = NULL;
  fb_registry *r = NULL;
  fb_breaker *db = NULL;
  fb_config c = config_default();
  c.consecutive_failures = 0;
  c.window_type = FB_WINDOW_COUNT;
  c.window_size = 20;
  c.min_calls = 10;
  CHECK_STATUS(fb_clock_manual_new(&clock), FB_OK);
  CHECK_STATUS(fb_registry_new(&c, clock, &r), FB_OK);
  CHECK_STATUS(fb_registry_get_or_create(r, "db", &db), FB_OK);
  fb_permit p;
  for (int i = 0; i < 4; i++) {
    CHECK_STATUS(fb_breaker_acquire(db, &p, NULL), FB_OK);
    CHECK_STATUS(fb_permit_record(&p, FB_OUTCOME_FAILURE, 0), FB_OK);
  }
  fb_config now;
  CHECK_STATUS(fb_breaker_config(db, &now), FB_OK);
  CHECK(now.min_calls == 10 && now.window_size == 20);
  fb_config other = now;
  other.window_size = 50;
  bool tripped = true;
  CHECK_ERR(fb_breaker_reconfigure(db, &other, &tripped), FB_ERR_INVALID_CONFIG,
            "fb_breaker_reconfigure: config.");
  CHECK_ERR(fb_breaker_reconfigure(db, &other, NULL), FB_ERR_INVALID_CONFIG,
            "invalid window_duration_ns: count 50 (expected the breaker's own window");
  other = now;
  other.min_calls = 0;
  CHECK_ERR(fb_breaker_reconfigure(db, &other, NULL), FB_ERR_INVALID_CONFIG,
            "config.min_calls: invalid min_calls: 0");
  CHECK_STATUS(fb_breaker_config(db, &other), FB_OK);
  CHECK(other.min_calls == 10);
  fb_config lower = now;
  lower.min_calls = 4;
  CHECK_STATUS(fb_registry_reconfigure(r, "db", &lower, &tripped), FB_OK);
  CHECK(tripped);
  fb_state s;
  CHECK_STATUS(fb_breaker_state(db, &s), FB_OK);
  CHECK(s == FB_STATE_OPEN);
  CHECK_STATUS(fb_clock_advance(clock, 10000 * MS), FB_OK); /* 20 s left */

  char path[256];
  /* Unique enough: the registry's address (ASLR) names the file. */
  snprintf(path, sizeof path, "/tmp/fusebox-c-test-%p.json", (void *)r);
  CHECK_STATUS(fb_registry_snapshot_write(r, path), FB_OK);
  fb_clock *clock2 = NULL;
  fb_registry *r2 = NULL;
  fb_breaker *db2 = NULL;
  CHECK_STATUS(fb_clock_manual_new(&clock2), FB_OK);
  CHECK_STATUS(fb_registry_new(&c, clock2, &r2), FB_OK);
  CHECK_STATUS(fb_registry_snapshot_restore_after(r2, path, 5000 * MS), FB_OK);
  CHECK_STATUS(fb_registry_get(r2, "db", &db2), FB_OK);
  fb_rejection rej;
  CHECK_STATUS(fb_breaker_acquire(db2, &p, &rej), FB_REJECTED);
  CHECK(rej.reason == FB_REJECT_OPEN && rej.retry_after_ns == 15000 * MS);
  CHECK_STATUS(fb_breaker_config(db2, &other), FB_OK);
  CHECK(other.min_calls == 4 && other.window_size == 20);
  CHECK_STATUS(fb_clock_advance(clock2, 15000 * MS), FB_OK);
  CHECK_STATUS(fb_breaker_acquire(db2, &p, NULL), FB_OK);
  CHECK(p.probe);
  CHECK_STATUS(fb_permit_release(&p), FB_OK);
  /* Wall time: written a moment ago, nearly all of it left. */
  CHECK_STATUS(fb_registry_snapshot_restore(r2, path), FB_OK);

  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    fputs("{\"format\":\"fusebox.snapshot\",\"version\":1,\"brea", f);
    fclose(f);
  }
  CHECK_ERR(fb_registry_snapshot_restore(r2, path), FB_ERR_BAD_FILE,
            "snapshot is damaged or truncated: EOF while parsing");
  f = fopen(path, "w");
  if (f) {
    fputs("{\"format\":\"other\",\"version\":1}", f);
    fclose(f);
  }
  CHECK_ERR(fb_registry_snapshot_restore(r2, path), FB_ERR_BAD_FILE,
            "not a fusebox snapshot: format \"other\"");
  remove(path);
  CHECK_ERR(fb_registry_snapshot_restore(r2, path), FB_ERR_IO, path);
  CHECK_ERR(fb_registry_snapshot_write(r2, NULL), FB_ERR_NULL_POINTER, "path is NULL");
  CHECK_STATUS(fb_registry_free(r2), FB_OK);
  CHECK_STATUS(fb_clock_free(clock2), FB_OK);
  CHECK_STATUS(fb_registry_free(r), FB_OK);
  CHECK_STATUS(fb_clock_free(clock), FB_OK);
}

static int run_all(int argc, char **argv, const char *lang) {
  long n = 1000000;
  if (argc > 1) n = atol(argv[1]);
  if (n < 4) n = 4;
  n -= n % 4;

  scenario_01_failure_rate_trips_at_threshold();
  scenario_03_consecutive_failures_trip();
  scenario_04_full_cycle();
  scenario_05_probe_failure_reopens();
  scenario_06_16_probe_slots_come_back();
  scenario_08_stale_generation_outcome_dropped();
  scenario_10_count_window();
  scenario_12_slow_call_rate_trips();
  scenario_13_force_open_disable_reset();
  scenario_14_exponential_backoff();
  scenario_19_open_for_retry_after();
  reconfigure_and_snapshot();
  bad_nulls();
  bad_names();
  bad_config();
  bad_frees();
  bad_permits();
  registries();
  strings();
  stress(n);

  printf("%s: fusebox %s: %d checks, %d failed\n", lang, fb_version(), g_checks,
         g_failures);
  return g_failures == 0 ? 0 : 1;
}

#endif /* FUSEBOX_TEST_COMMON_H */
