'use strict'
// Generated from the core's `fusebox::bindings` by core/tests/generated_codes.rs:
// do not edit. `FUSEBOX_BLESS=1 cargo test -p fusebox --test generated_codes` rewrites it.
// Codes and names the JS layer shares with the core (see docs/architecture.md#bindings).

module.exports = Object.freeze({
  // Outcome codes of the hot `record` (mailbox slot 3); RELEASE: no outcome, give the permit back;
  // CANCEL: the call was cancelled (as the `cancellation` option says).
  SUCCESS: 0,
  FAILURE: 1,
  IGNORED: 2,
  RELEASE: 3,
  CANCEL: 4,
  OUTCOMES: Object.freeze(['success', 'failure', 'ignored']),
  // By code: a rejection's reason, a phase (the state word's phase bits), a state.
  REJECT_REASONS: Object.freeze(['open', 'halfOpenFull', 'forcedOpen']),
  PHASES: Object.freeze(['closed', 'open', 'halfOpen', 'forcedOpen', 'disabled']),
  STATES: Object.freeze(['closed', 'open', 'halfOpen']),
  // The state of each phase, by phase code.
  STATE_OF_PHASE: Object.freeze(['closed', 'open', 'halfOpen', 'open', 'closed']),
  // The `cancellation` option's values, by code.
  CANCELLATIONS: Object.freeze(['release', 'slowIfOverdue', 'failure']),
  // The core's config fields (as its errors name them) and the options that set them.
  CONFIG_FIELDS: Object.freeze({
    'failure_rate_threshold': 'failureRateThreshold',
    'consecutive_failures': 'consecutiveFailures',
    'min_calls': 'minCalls',
    'window': 'windowMs',
    'window.buckets': 'windowBuckets',
    'window.size': 'countWindow',
    'open_timeout': 'openTimeoutMs',
    'backoff.multiplier': 'backoff.multiplier',
    'backoff.max': 'backoff.maxMs',
    'jitter': 'jitter',
    'half_open_max_calls': 'halfOpenMaxCalls',
    'success_threshold': 'successThreshold',
    'half_open_max_wait': 'halfOpenMaxWaitMs',
    'slow_call_duration': 'slowCallMs',
    'slow_call_rate_threshold': 'slowCallRateThreshold',
    'max_open_for': 'maxOpenForMs',
    'cancellation': 'cancellation'
  })
})
