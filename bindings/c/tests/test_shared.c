/*
 * The fusebox C ABI shared-memory test (fb_shared_*), in C11 + POSIX: one
 * breaker for every process, across fork().
 *   - 4 forked children hammering one breaker: exact counts;
 *   - a failing dependency opens the breaker for all 4 children at once
 *     (a handful of failures, not 4 x the threshold);
 *   - children killed at random with SIGKILL: counts within what the
 *     survivors and the victims acknowledged, the breaker still works;
 *   - a probe held by a killed child is recovered by the half-open wait
 *     limit (on a shared manual clock);
 *   - 4 children racing to create the file agree on one;
 *   - refusals: another config, a file that is not a registry, a full
 *     registry, bad options, NULL pointers, double frees.
 *
 * Usage: test_shared [N]   (calls per child in the hammer, default 200000)
 */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "fusebox.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* In a child: give up loudly (the parent sees a non-zero exit). */
#define REQUIRE(cond)                                                   \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s:%d: child: %s (fb_last_error: \"%s\")\n",     \
              __FILE__, __LINE__, #cond, fb_last_error());              \
      _exit(100);                                                       \
    }                                                                   \
  } while (0)

static const uint64_t SEC = 1000000000ull;
static char g_dir[256];

static void path_in_dir(char *out, size_t n, const char *name) {
  snprintf(out, n, "%s/%s", g_dir, name);
}

static fb_config base_config(void) {
  fb_config c;
  fb_config_default(&c);
  return c;
}

static fb_metrics metrics_of(fb_breaker *b) {
  fb_metrics m;
  memset(&m, 0, sizeof m);
  CHECK(fb_breaker_metrics(b, &m) == FB_OK);
  return m;
}

/* Children report through a pipe, not their exit status (which valgrind
 * replaces with its own): one 8-byte write each (atomic: < PIPE_BUF), only
 * when they succeeded. */
static void report(int fd, int64_t v) {
  REQUIRE(write(fd, &v, sizeof v) == (ssize_t)sizeof v);
}

/* Read the children's reports until every writer is gone (the parent has
 * closed its own write end); returns how many came. */
static int collect(int fd, int64_t *out, int max) {
  int n = 0;
  int64_t v;
  while (n < max && read(fd, &v, sizeof v) == (ssize_t)sizeof v) out[n++] = v;
  return n;
}

/* Wait for every child; returns how many were killed by a signal. */
static int reap(const pid_t *pids, int n) {
  int killed = 0;
  for (int i = 0; i < n; i++) {
    int st = 0;
    CHECK(waitpid(pids[i], &st, 0) == pids[i]);
    killed += WIFSIGNALED(st);
  }
  return killed;
}

/* A start line: children block reading one byte each from the pipe. */
static void wait_start(int fd) {
  char c;
  REQUIRE(read(fd, &c, 1) == 1);
}

static void go(int fd, int n) {
  char buf[16] = {0};
  CHECK(write(fd, buf, (size_t)n) == n);
}

/* Call i's outcome: success, success, failure, ignored. */
static fb_outcome pattern(uint64_t i) {
  switch (i % 4) {
    case 2: return FB_OUTCOME_FAILURE;
    case 3: return FB_OUTCOME_IGNORED;
    default: return FB_OUTCOME_SUCCESS;
  }
}

static void test_hammer(uint64_t n) {
  char path[300];
  path_in_dir(path, sizeof path, "hammer");
  fb_shared_registry *reg = NULL;
  CHECK(fb_shared_open(path, NULL, NULL, &reg) == FB_OK);
  bool created = false;
  CHECK(fb_shared_created(reg, &created) == FB_OK && created);
  fb_config c = base_config();
  c.consecutive_failures = 0;
  c.failure_rate_threshold = 0.9;
  fb_breaker *b = NULL;
  CHECK(fb_shared_get_or_create(reg, "hammer", &c, &b) == FB_OK);

  /* The children use the parent's handles: the mapping is shared. */
  int res[2];
  CHECK(pipe(res) == 0);
  pid_t pids[4];
  for (int k = 0; k < 4; k++) {
    pids[k] = fork();
    if (pids[k] == 0) {
      close(res[0]);
      for (uint64_t i = 0; i < n; i++) {
        fb_permit p;
        REQUIRE(fb_breaker_acquire(b, &p, NULL) == FB_OK);
        REQUIRE(fb_permit_record(&p, pattern(i), FB_DURATION_AUTO) == FB_OK);
      }
      report(res[1], (int64_t)n);
      _exit(0);
    }
  }
  close(res[1]);
  int64_t done[4];
  CHECK(collect(res[0], done, 4) == 4);
  close(res[0]);
  CHECK(reap(pids, 4) == 0);
  for (int k = 0; k < 4; k++) CHECK(done[k] == (int64_t)n);
  fb_metrics m = metrics_of(b);
  uint64_t q = n / 4, r = n % 4;
  uint64_t ok = 2 * q + (r < 2 ? r : 2), fail = q + (r >= 3), ign = q;
  CHECK(m.successes == 4 * ok);
  CHECK(m.failures == 4 * fail);
  CHECK(m.ignored == 4 * ign);
  CHECK(m.state == FB_STATE_CLOSED);
  printf("  hammer: 4 processes x %llu calls: %llu successes, %llu failures, "
         "%llu ignored\n",
         (unsigned long long)n, (unsigned long long)m.successes,
         (unsigned long long)m.failures, (unsigned long long)m.ignored);
  CHECK(fb_shared_free(reg) == FB_OK);
}

static void test_trip_seen_by_all(void) {
  char path[300];
  path_in_dir(path, sizeof path, "trip");
  fb_shared_registry *reg = NULL;
  CHECK(fb_shared_open(path, NULL, NULL, &reg) == FB_OK);
  fb_config c = base_config(); /* 5 failures in a row trip it */
  fb_breaker *b = NULL;
  CHECK(fb_shared_get_or_create(reg, "dependency", &c, &b) == FB_OK);
  int start[2], res[2];
  CHECK(pipe(start) == 0 && pipe(res) == 0);
  pid_t pids[4];
  for (int k = 0; k < 4; k++) {
    pids[k] = fork();
    if (pids[k] == 0) {
      close(start[1]);
      close(res[0]);
      wait_start(start[0]);
      int failures = 0;
      for (;;) {
        fb_permit p;
        fb_rejection rej;
        fb_status s = fb_breaker_acquire(b, &p, &rej);
        if (s == FB_REJECTED) {
          REQUIRE(rej.reason == FB_REJECT_OPEN);
          break;
        }
        REQUIRE(s == FB_OK);
        /* The dependency is down. */
        REQUIRE(fb_permit_record(&p, FB_OUTCOME_FAILURE, FB_DURATION_AUTO) ==
                FB_OK);
        REQUIRE(++failures < 50);
      }
      report(res[1], failures); /* stopped by the open breaker */
      _exit(0);
    }
  }
  close(start[0]);
  close(res[1]);
  go(start[1], 4);
  close(start[1]);
  int64_t failures[4];
  CHECK(collect(res[0], failures, 4) == 4);
  close(res[0]);
  CHECK(reap(pids, 4) == 0);
  int total = 0;
  for (int k = 0; k < 4; k++) total += (int)failures[k];
  /* One breaker for the four: the 5th failure in a row trips it, and each
   * of the 3 other children may have had one call in flight. */
  CHECK(total >= 5 && total <= 8);
  fb_metrics m = metrics_of(b);
  CHECK(m.state == FB_STATE_OPEN);
  CHECK(m.failures == (uint64_t)total);
  CHECK(m.rejected == 4);
  printf("  trip: %d failed calls in all before the 4 children were stopped\n",
         total);
  CHECK(fb_shared_free(reg) == FB_OK);
}

static void test_sigkill(uint64_t calls) {
  char path[300], clock_path[300];
  path_in_dir(path, sizeof path, "kill");
  path_in_dir(clock_path, sizeof clock_path, "kill-clock");
  fb_shared_clock *clock = NULL;
  CHECK(fb_shared_clock_open(clock_path, &clock) == FB_OK);
  fb_shared_registry *reg = NULL;
  CHECK(fb_shared_open(path, NULL, clock, &reg) == FB_OK);
  /* A count window (exact lifetime totals whatever the kills), never
   * tripping on the pattern. */
  fb_config c = base_config();
  c.window_type = FB_WINDOW_COUNT;
  c.window_size = 100;
  c.min_calls = 100;
  c.failure_rate_threshold = 0.9;
  c.consecutive_failures = 0;
  fb_breaker *b = NULL;
  CHECK(fb_shared_get_or_create(reg, "kill", &c, &b) == FB_OK);
  fb_config ack_config = base_config();
  ack_config.consecutive_failures = 0;
  enum { N = 6, VICTIMS = 3 };
  fb_breaker *acks[N];
  for (int k = 0; k < N; k++) {
    char name[32];
    snprintf(name, sizeof name, "ack-%d", k);
    CHECK(fb_shared_get_or_create(reg, name, &ack_config, &acks[k]) == FB_OK);
  }
  int res[2];
  CHECK(pipe(res) == 0);
  pid_t pids[N];
  for (int k = 0; k < N; k++) {
    pids[k] = fork();
    if (pids[k] == 0) {
      close(res[0]);
      /* Victims call until killed: however long the parent is kept off
       * the CPU (valgrind runs this with few calls), none can finish. */
      for (uint64_t i = 0; k < VICTIMS || i < calls; i++) {
        fb_permit p;
        REQUIRE(fb_breaker_acquire(b, &p, NULL) == FB_OK);
        REQUIRE(fb_permit_record(&p, pattern(i), FB_DURATION_AUTO) == FB_OK);
        REQUIRE(fb_breaker_acquire(acks[k], &p, NULL) == FB_OK);
        REQUIRE(fb_permit_record(&p, FB_OUTCOME_SUCCESS, 0) == FB_OK);
      }
      report(res[1], k);
      _exit(0);
    }
  }
  close(res[1]);
  /* No victim dies before every child has recorded a call (their ack
   * breakers say so): else one could die before its first call, testing
   * nothing. Bounded, in case a child died; the kills come either way. */
  struct timespec t0, now, tick = {0, 200000};
  CHECK(clock_gettime(CLOCK_MONOTONIC, &t0) == 0);
  for (int k = 0; k < N; k++) {
    while (metrics_of(acks[k]).successes == 0) {
      CHECK(clock_gettime(CLOCK_MONOTONIC, &now) == 0);
      if (now.tv_sec - t0.tv_sec >= 120) break;
      nanosleep(&tick, NULL);
    }
    CHECK(metrics_of(acks[k]).successes > 0); /* child k started */
  }
  /* Then each victim dies at a random moment within 30 ms, in turn. */
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  for (int k = 0; k < VICTIMS; k++) {
    struct timespec ts = {0, (long)(1 + rand() % 10) * 1000000L};
    nanosleep(&ts, NULL);
    CHECK(kill(pids[k], SIGKILL) == 0);
  }
  int64_t finished[N];
  CHECK(collect(res[0], finished, N) == N - VICTIMS);
  close(res[0]);
  CHECK(reap(pids, N) == VICTIMS);
  uint64_t lo[3] = {0, 0, 0}, hi[3];
  uint64_t acked[N];
  for (int k = 0; k < N; k++) {
    acked[k] = metrics_of(acks[k]).successes;
    uint64_t q = acked[k] / 4, r = acked[k] % 4;
    lo[0] += 2 * q + (r < 2 ? r : 2);
    lo[1] += q + (r >= 3);
    lo[2] += q;
    if (k >= VICTIMS) CHECK(acked[k] == calls);
  }
  memcpy(hi, lo, sizeof lo);
  for (int k = 0; k < VICTIMS; k++) {
    /* Victims call until killed, so any count is theirs to have reached;
     * each started (checked before the kills) and was killed (reaped). */
    CHECK(acked[k] > 0);
    fb_outcome o = pattern(acked[k]);
    hi[o == FB_OUTCOME_SUCCESS ? 0 : o == FB_OUTCOME_FAILURE ? 1 : 2]++;
  }
  fb_metrics m = metrics_of(b);
  CHECK(m.successes >= lo[0] && m.successes <= hi[0]);
  CHECK(m.failures >= lo[1] && m.failures <= hi[1]);
  CHECK(m.ignored >= lo[2] && m.ignored <= hi[2]);
  CHECK(m.state == FB_STATE_CLOSED && m.generation == 0 && m.rejected == 0);
  printf("  sigkill: victims acknowledged %llu, %llu, %llu calls; totals "
         "consistent\n",
         (unsigned long long)acked[0], (unsigned long long)acked[1],
         (unsigned long long)acked[2]);
  /* Still a working breaker: trip, open, probe, close. */
  fb_permit p;
  fb_rejection rej;
  int failed = 0;
  while (metrics_of(b).state == FB_STATE_CLOSED && failed < 100) {
    CHECK(fb_breaker_acquire(b, &p, NULL) == FB_OK);
    CHECK(fb_permit_record(&p, FB_OUTCOME_FAILURE, 0) == FB_OK);
    failed++;
  }
  CHECK(fb_breaker_acquire(b, &p, &rej) == FB_REJECTED &&
        rej.reason == FB_REJECT_OPEN);
  CHECK(fb_shared_clock_advance(clock, 30 * SEC) == FB_OK);
  for (int i = 0; i < 3; i++) {
    CHECK(fb_breaker_acquire(b, &p, NULL) == FB_OK && p.probe == 1);
    CHECK(fb_permit_record(&p, FB_OUTCOME_SUCCESS, 0) == FB_OK);
  }
  CHECK(metrics_of(b).state == FB_STATE_CLOSED);
  CHECK(fb_shared_free(reg) == FB_OK);
  CHECK(fb_shared_clock_free(clock) == FB_OK);
}

static void test_killed_probe(void) {
  char path[300], clock_path[300];
  path_in_dir(path, sizeof path, "probe");
  path_in_dir(clock_path, sizeof clock_path, "probe-clock");
  fb_shared_clock *clock = NULL;
  CHECK(fb_shared_clock_open(clock_path, &clock) == FB_OK);
  fb_shared_registry *reg = NULL;
  CHECK(fb_shared_open(path, NULL, clock, &reg) == FB_OK);
  fb_config c = base_config();
  c.consecutive_failures = 1;
  c.open_timeout_ns = 10 * SEC;
  c.half_open_max_calls = 1;
  c.success_threshold = 1;
  c.half_open_max_wait_ns = 30 * SEC;
  fb_breaker *b = NULL;
  CHECK(fb_shared_get_or_create(reg, "probe", &c, &b) == FB_OK);
  fb_permit p;
  fb_rejection rej;
  CHECK(fb_breaker_acquire(b, &p, NULL) == FB_OK);
  CHECK(fb_permit_record(&p, FB_OUTCOME_FAILURE, 0) == FB_OK);
  CHECK(fb_shared_clock_advance(clock, 10 * SEC) == FB_OK);

  /* A child takes the only probe slot, says so, and is killed. */
  int said[2];
  CHECK(pipe(said) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(said[0]);
    fb_permit probe;
    REQUIRE(fb_breaker_acquire(b, &probe, NULL) == FB_OK && probe.probe);
    REQUIRE(write(said[1], "p", 1) == 1);
    sleep(120);
    _exit(101);
  }
  close(said[1]);
  char ch = 0;
  CHECK(read(said[0], &ch, 1) == 1 && ch == 'p');
  close(said[0]);
  CHECK(kill(pid, SIGKILL) == 0);
  int st = 0;
  CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));

  CHECK(fb_breaker_acquire(b, &p, &rej) == FB_REJECTED &&
        rej.reason == FB_REJECT_HALF_OPEN_FULL);
  CHECK(fb_shared_clock_advance(clock, 30 * SEC) == FB_OK);
  /* The half-open wait limit: back to Open... */
  CHECK(fb_breaker_acquire(b, &p, &rej) == FB_REJECTED &&
        rej.reason == FB_REJECT_OPEN && rej.retry_after_ns == 10 * SEC);
  /* ... then a new probe closes it. */
  CHECK(fb_shared_clock_advance(clock, 10 * SEC) == FB_OK);
  CHECK(fb_breaker_acquire(b, &p, NULL) == FB_OK && p.probe == 1);
  CHECK(fb_permit_record(&p, FB_OUTCOME_SUCCESS, 0) == FB_OK);
  CHECK(metrics_of(b).state == FB_STATE_CLOSED);
  printf("  killed probe: recovered by the half-open wait limit\n");
  CHECK(fb_shared_free(reg) == FB_OK);
  CHECK(fb_shared_clock_free(clock) == FB_OK);
}

static void test_race_to_create(void) {
  for (int round = 0; round < 3; round++) {
    char path[300], name[32];
    snprintf(name, sizeof name, "race%d", round);
    path_in_dir(path, sizeof path, name);
    int start[2], res[2];
    CHECK(pipe(start) == 0 && pipe(res) == 0);
    pid_t pids[4];
    for (int k = 0; k < 4; k++) {
      pids[k] = fork();
      if (pids[k] == 0) {
        close(start[1]);
        close(res[0]);
        wait_start(start[0]);
        fb_shared_options o;
        fb_shared_options_default(&o);
        o.capacity = 8 + (uint32_t)k; /* only the creator's counts */
        fb_shared_registry *reg = NULL;
        REQUIRE(fb_shared_open(path, &o, NULL, &reg) == FB_OK);
        fb_config c = base_config();
        fb_breaker *b = NULL;
        REQUIRE(fb_shared_get_or_create(reg, "race", &c, &b) == FB_OK);
        for (int i = 0; i < 1000; i++) {
          fb_permit p;
          REQUIRE(fb_breaker_acquire(b, &p, NULL) == FB_OK);
          REQUIRE(fb_permit_record(&p, FB_OUTCOME_SUCCESS, 0) == FB_OK);
        }
        bool created = false;
        uint32_t cap = 0;
        REQUIRE(fb_shared_created(reg, &created) == FB_OK);
        REQUIRE(fb_shared_capacity(reg, &cap) == FB_OK);
        report(res[1], (created ? 1000 : 0) + (int64_t)cap);
        _exit(0);
      }
    }
    close(start[0]);
    close(res[1]);
    go(start[1], 4);
    close(start[1]);
    int64_t got[4];
    CHECK(collect(res[0], got, 4) == 4);
    close(res[0]);
    CHECK(reap(pids, 4) == 0);
    int creators = 0;
    for (int k = 0; k < 4; k++) {
      creators += got[k] >= 1000;
      /* One file, one capacity: the creator's (8..11). */
      CHECK(got[k] % 1000 == got[0] % 1000 && got[k] % 1000 >= 8);
    }
    CHECK(creators == 1);
    fb_shared_registry *reg = NULL;
    CHECK(fb_shared_open(path, NULL, NULL, &reg) == FB_OK);
    fb_breaker *b = NULL;
    CHECK(fb_shared_get(reg, "race", &b) == FB_OK);
    CHECK(metrics_of(b).successes == 4000);
    CHECK(fb_shared_free(reg) == FB_OK);
  }
  printf("  race: 4 processes creating one file agreed on one, 3 times\n");
}

static void test_refusals(void) {
  char path[300], junk[300], clock_path[300];
  path_in_dir(path, sizeof path, "refuse");
  path_in_dir(junk, sizeof junk, "junk");
  path_in_dir(clock_path, sizeof clock_path, "refuse-clock");
  fb_shared_options o;
  CHECK(fb_shared_options_default(&o) == FB_OK);
  o.capacity = 2;
  fb_shared_registry *reg = NULL;
  CHECK(fb_shared_open(path, &o, NULL, &reg) == FB_OK);
  fb_config c = base_config();
  fb_breaker *b = NULL, *b2 = NULL;
  CHECK(fb_shared_get_or_create(reg, "a", &c, &b) == FB_OK);

  /* Another config for an existing breaker, from another handle too. */
  fb_config other = c;
  other.min_calls = 20;
  CHECK_ERR(fb_shared_get_or_create(reg, "a", &other, &b2),
            FB_ERR_CONFIG_MISMATCH, "min_calls");
  /* The slot stores max_open_for_ns and cancellation too. */
  other = c;
  other.max_open_for_ns = c.max_open_for_ns / 2;
  CHECK_ERR(fb_shared_get_or_create(reg, "a", &other, &b2),
            FB_ERR_CONFIG_MISMATCH, "max_open_for");
  other = c;
  other.cancellation = FB_CANCEL_FAILURE;
  CHECK_ERR(fb_shared_get_or_create(reg, "a", &other, &b2),
            FB_ERR_CONFIG_MISMATCH, "cancellation");
  fb_shared_registry *reg2 = NULL;
  CHECK(fb_shared_open(path, NULL, NULL, &reg2) == FB_OK);
  CHECK_ERR(fb_shared_get_or_create(reg2, "a", &other, &b2),
            FB_ERR_CONFIG_MISMATCH, "\"a\"");
  /* The stored config, by name. */
  CHECK(fb_shared_get(reg2, "a", &b2) == FB_OK);
  CHECK_ERR(fb_shared_get(reg2, "nope", &b2), FB_ERR_NOT_FOUND, "nope");

  /* Full. */
  CHECK(fb_shared_get_or_create(reg, "b", &c, &b2) == FB_OK);
  CHECK_ERR(fb_shared_get_or_create(reg, "c", &c, &b2), FB_ERR_FULL,
            "all 2 slots");

  /* The registry's breakers are not the caller's to free. */
  CHECK_ERR(fb_breaker_free(b), FB_ERR_NOT_OWNED, "registry");

  /* Not a registry; no such folder; bad options; bad names, configs. */
  FILE *f = fopen(junk, "w");
  CHECK(f != NULL);
  if (f) {
    for (int i = 0; i < 100; i++) fputs("not a registry at all\n", f);
    fclose(f);
  }
  CHECK_ERR(fb_shared_open(junk, NULL, NULL, &reg2 /* unchanged */),
            FB_ERR_BAD_FILE, "not a fusebox shared registry");
  CHECK_ERR(fb_shared_open("/nonexistent-dir/x/reg", NULL, NULL, &reg2),
            FB_ERR_IO, "/nonexistent-dir/x/reg");
  fb_shared_options bad;
  fb_shared_options_default(&bad);
  bad.capacity = 0;
  CHECK_ERR(fb_shared_open(clock_path, &bad, NULL, &reg2),
            FB_ERR_INVALID_ARGUMENT, "options.capacity");
  bad.size = 3;
  CHECK_ERR(fb_shared_open(clock_path, &bad, NULL, &reg2),
            FB_ERR_INVALID_ARGUMENT, "fb_shared_options_default");
  CHECK_ERR(fb_shared_get_or_create(reg, "", &c, &b2), FB_ERR_INVALID_NAME,
            "name");
  CHECK_ERR(fb_shared_get_or_create(reg, "\xff", &c, &b2),
            FB_ERR_INVALID_UTF8, "name");
  fb_config broken = c;
  broken.min_calls = 0;
  CHECK_ERR(fb_shared_get_or_create(reg, "a", &broken, &b2),
            FB_ERR_INVALID_CONFIG, "config.min_calls");

  /* NULL pointers. */
  CHECK_ERR(fb_shared_open(NULL, NULL, NULL, &reg2), FB_ERR_NULL_POINTER,
            "path");
  CHECK_ERR(fb_shared_open(path, NULL, NULL, NULL), FB_ERR_NULL_POINTER,
            "out");
  CHECK_ERR(fb_shared_open("", NULL, NULL, &reg2), FB_ERR_INVALID_ARGUMENT,
            "empty");
  CHECK_ERR(fb_shared_get_or_create(NULL, "a", &c, &b2), FB_ERR_NULL_POINTER,
            "registry");
  CHECK_ERR(fb_shared_get_or_create(reg, NULL, &c, &b2), FB_ERR_NULL_POINTER,
            "name");
  CHECK_ERR(fb_shared_get_or_create(reg, "a", NULL, &b2), FB_ERR_NULL_POINTER,
            "config");
  CHECK_ERR(fb_shared_get_or_create(reg, "a", &c, NULL), FB_ERR_NULL_POINTER,
            "out");
  CHECK_ERR(fb_shared_clock_open(NULL, NULL), FB_ERR_NULL_POINTER, "out");
  CHECK_ERR(fb_shared_clock_advance(NULL, 1), FB_ERR_NULL_POINTER, "clock");

  /* Frees: once each, and only what fb_shared_* made. */
  CHECK(fb_shared_free(reg2) == FB_OK);
  CHECK_ERR(fb_shared_free(reg2), FB_ERR_INVALID_HANDLE, "freed twice");
  CHECK(fb_shared_free(reg) == FB_OK);
  CHECK_ERR(fb_shared_free(NULL), FB_ERR_NULL_POINTER, "registry");
  fb_shared_clock *clock = NULL;
  CHECK(fb_shared_clock_open(clock_path, &clock) == FB_OK);
  CHECK_ERR(fb_shared_free((fb_shared_registry *)clock),
            FB_ERR_INVALID_HANDLE, "fb_shared_open");
  CHECK(fb_shared_clock_free(clock) == FB_OK);
  CHECK_ERR(fb_shared_clock_free(clock), FB_ERR_INVALID_HANDLE, "twice");
  CHECK(strcmp(fb_status_name(FB_ERR_CONFIG_MISMATCH),
               "FB_ERR_CONFIG_MISMATCH") == 0);
  CHECK(strcmp(fb_status_name(FB_ERR_BAD_FILE), "FB_ERR_BAD_FILE") == 0);
  printf("  refusals: config mismatch, bad file, full, bad input\n");
}

int main(int argc, char **argv) {
  uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
  /* Nothing buffered when fork() copies the process. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(g_dir, sizeof g_dir, "%s/fusebox-c-shared-XXXXXX", root);
  if (mkdtemp(g_dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  test_refusals();
  test_hammer(n);
  test_trip_seen_by_all();
  test_killed_probe();
  /* Survivors' calls; victims call until killed. */
  test_sigkill(15 * n);
  test_race_to_create();
  char cmd[320];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  printf("shared: %d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
