/* The README example: a breaker around a dependency that is down. */
#include <stdio.h>
#include "fusebox.h"

static int call_inventory(void) { return -1; /* the dependency is down */ }

int main(void) {
  fb_config config;
  fb_config_default(&config);
  config.consecutive_failures = 3;                 /* trip after 3 in a row */
  config.open_timeout_ns = 30ull * 1000000000ull;  /* stay open 30 s */

  fb_breaker *breaker;
  if (fb_breaker_new(&config, &breaker) != FB_OK) {
    fprintf(stderr, "fusebox: %s\n", fb_last_error());
    return 1;
  }
  for (int i = 0; i < 5; i++) {
    fb_permit permit;
    fb_rejection why;
    if (fb_breaker_acquire(breaker, &permit, &why) == FB_REJECTED) {
      printf("call %d: fail fast, retry in %.0f s\n", i, why.retry_after_ns / 1e9);
      continue; /* serve a fallback here */
    }
    int ok = call_inventory() == 0;
    fb_permit_record(&permit, ok ? FB_OUTCOME_SUCCESS : FB_OUTCOME_FAILURE,
                     FB_DURATION_AUTO);
    printf("call %d: %s\n", i, ok ? "ok" : "failed");
  }
  fb_breaker_free(breaker);
  return 0;
}
