// The fusebox C ABI test, in C++17: the C checks of test_common.h compiled
// as C++, then the header used the C++ way (RAII handles, std::thread).
#include "test_common.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace {

struct BreakerFree {
  void operator()(fb_breaker *b) const { fb_breaker_free(b); }
};
struct ClockFree {
  void operator()(fb_clock *c) const { fb_clock_free(c); }
};
using BreakerPtr = std::unique_ptr<fb_breaker, BreakerFree>;
using ClockPtr = std::unique_ptr<fb_clock, ClockFree>;

// A permit that gives itself back if it goes out of scope unrecorded
// (an exception, an early return).
class Call {
 public:
  explicit Call(const fb_breaker *b) { status_ = fb_breaker_acquire(b, &permit_, &rejection_); }
  ~Call() {
    if (status_ == FB_OK && permit_.breaker != nullptr) fb_permit_release(&permit_);
  }
  Call(const Call &) = delete;
  Call &operator=(const Call &) = delete;
  bool admitted() const { return status_ == FB_OK; }
  bool probe() const { return permit_.probe != 0; }
  const fb_rejection &rejection() const { return rejection_; }
  fb_status record(fb_outcome o) { return fb_permit_record(&permit_, o, FB_DURATION_AUTO); }

 private:
  fb_status status_;
  fb_permit permit_{};
  fb_rejection rejection_{};
};

void raii_and_threads() {
  fb_config c = config_default();
  c.consecutive_failures = 1;
  c.open_timeout_ns = 1000 * MS;
  c.half_open_max_calls = 1;
  c.success_threshold = 1;
  fb_clock *raw_clock = nullptr;
  CHECK_STATUS(fb_clock_manual_new(&raw_clock), FB_OK);
  ClockPtr clock(raw_clock);
  fb_breaker *raw = nullptr;
  CHECK_STATUS(fb_breaker_new_with_clock(&c, clock.get(), &raw), FB_OK);
  BreakerPtr breaker(raw);

  { Call call(breaker.get()); CHECK(call.admitted()); CHECK_STATUS(call.record(FB_OUTCOME_FAILURE), FB_OK); }
  { Call call(breaker.get()); CHECK(!call.admitted()); CHECK(call.rejection().reason == FB_REJECT_OPEN); }
  CHECK_STATUS(fb_clock_advance(clock.get(), 1000 * MS), FB_OK);
  {
    Call probe(breaker.get());
    CHECK(probe.admitted() && probe.probe());
    // Goes out of scope unrecorded: the destructor frees the probe slot.
  }
  {
    Call probe(breaker.get());
    CHECK(probe.admitted() && probe.probe());
    CHECK_STATUS(probe.record(FB_OUTCOME_SUCCESS), FB_OK);
  }
  fb_state s;
  CHECK_STATUS(fb_breaker_state(breaker.get(), &s), FB_OK);
  CHECK(s == FB_STATE_CLOSED);

  // std::thread, each thread with its own thread-local last error.
  std::atomic<long> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; t++) {
    threads.emplace_back([&] {
      if (fb_breaker_state(nullptr, nullptr) != FB_ERR_NULL_POINTER) bad++;
      if (strstr(fb_last_error(), "fb_breaker_state") == nullptr) bad++;
      for (int i = 0; i < 10000; i++) {
        Call call(breaker.get());
        if (!call.admitted() || call.record(FB_OUTCOME_SUCCESS) != FB_OK) bad++;
      }
    });
  }
  for (auto &th : threads) th.join();
  CHECK(bad.load() == 0);
  CHECK(metrics_of(breaker.get()).successes == 20001);
}

}  // namespace

int main(int argc, char **argv) {
  raii_and_threads();
  return run_all(argc, argv, "C++");
}
