#pragma once
// When a function's instances keep ending in failure (time-outs, the memory limit, crashes, load
// errors; "in a row" ignores fewer than five successes in between), its next instance waits:
// without it, one function that fails at every request keeps the node's cores busy starting
// workers for it, at the expense of every other function.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace sprocket::runtime {

class RestartBackoff {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kFreeFailures = 3;                    // in a row, before any wait
  static constexpr std::chrono::milliseconds kFirstWait{100};  // then doubling ...
  static constexpr std::chrono::milliseconds kLongestWait{5'000};  // ... up to this
  // Successes in a row that end it: one would let a function that fails every other time
  // restart at full speed.
  static constexpr int kSuccessesToForget = 5;

  void failed(Clock::time_point now) {
    ++failures_;
    successes_ = 0;
    last_failure_ = now;
  }
  void succeeded() {
    if (++successes_ >= kSuccessesToForget) failures_ = 0;
  }
  int failures_in_a_row() const { return failures_; }
  // How long after the last failure the next instance may start (zero: at once).
  std::chrono::milliseconds wait() const {
    if (failures_ < kFreeFailures) return std::chrono::milliseconds(0);
    int doublings = std::min(failures_ - kFreeFailures, 16);
    return std::min(kFirstWait * (1 << doublings), kLongestWait);
  }
  Clock::time_point next_start() const { return last_failure_ + wait(); }

 private:
  int failures_ = 0;
  int successes_ = 0;
  Clock::time_point last_failure_{};
};

// Instance starts a back-off has delayed, over every pool of the process (for /metrics).
inline std::atomic<std::uint64_t>& delayed_instance_starts() {
  static std::atomic<std::uint64_t> count{0};
  return count;
}

}  // namespace sprocket::runtime
