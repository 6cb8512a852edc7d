/*
 * The checks every C test counts with: CHECK (a condition), CHECK_STATUS
 * (a call's status) and CHECK_ERR (a status and a message naming the
 * problem). A failed check prints where it was and fb_last_error(), and is
 * counted in g_failures; a test's main returns non-zero when any failed.
 */
#ifndef FUSEBOX_TESTS_CHECK_H
#define FUSEBOX_TESTS_CHECK_H

#include "fusebox.h"

#include <stdio.h>
#include <string.h>

static int g_checks = 0;
static int g_failures = 0;

static void check_failed(const char *file, int line, const char *what) {
  g_failures++;
  fprintf(stderr, "%s:%d: CHECK failed: %s (fb_last_error: \"%s\")\n", file,
          line, what, fb_last_error());
}

#define CHECK(cond)                                  \
  do {                                               \
    g_checks++;                                      \
    if (!(cond)) check_failed(__FILE__, __LINE__, #cond); \
  } while (0)

/* The call returns `want`. */
#define CHECK_STATUS(call, want)                                            \
  do {                                                                      \
    fb_status got_ = (call);                                                \
    g_checks++;                                                             \
    if (got_ != (want)) {                                                   \
      char what_[512];                                                      \
      snprintf(what_, sizeof what_, "%s == %s, got %s", #call, #want,       \
               fb_status_name((int32_t)got_));                              \
      check_failed(__FILE__, __LINE__, what_);                              \
    }                                                                       \
  } while (0)

/* The call fails with `want`, and fb_last_error() contains `needle`. */
#define CHECK_ERR(call, want, needle)                                       \
  do {                                                                      \
    CHECK_STATUS(call, want);                                               \
    g_checks++;                                                             \
    if (strstr(fb_last_error(), (needle)) == NULL) {                        \
      char what_[512];                                                      \
      snprintf(what_, sizeof what_, "message of %s mentions \"%s\"", #call, \
               (needle));                                                   \
      check_failed(__FILE__, __LINE__, what_);                              \
    }                                                                       \
  } while (0)

#endif /* FUSEBOX_TESTS_CHECK_H */
