#pragma once
// An account's execution budget over a rolling minute: execution time (HubSpot's 600
// execution-seconds per minute) and, optionally, a number of executions.
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>

namespace sprocket::accounts {

class ExecutionBudget {
 public:
  using Clock = std::chrono::steady_clock;

  ExecutionBudget(double execution_seconds_per_minute, std::optional<std::int64_t> executions_per_minute);

  struct Admission {
    bool admitted = true;
    std::chrono::seconds retry_after{0};  // when refused: until enough of the window has passed
    const char* reason = "";              // "EXECUTION_TIME" or "EXECUTIONS"
  };
  Admission check(Clock::time_point now) const;                    // would admit now; counts nothing
  Admission admit(Clock::time_point now);                          // counts the execution when admitted
  void count_execution(Clock::time_point now);                     // after a check() that admitted
  void charge(Clock::time_point finished, std::chrono::microseconds execution_time);

  std::int64_t time_remaining_ms(Clock::time_point now);
  // Executions left in the window; without a count limit, how many executions as long as
  // `longest_execution` the remaining time still allows.
  std::int64_t executions_remaining(Clock::time_point now, std::chrono::milliseconds longest_execution);

 private:
  static constexpr int kBuckets = 60;  // one a second
  struct Bucket {
    std::int64_t second = -1;
    std::int64_t execution_us = 0;
    std::int64_t executions = 0;
  };
  Bucket& bucket_for(std::int64_t second);
  void totals(Clock::time_point now, std::int64_t& execution_us, std::int64_t& executions) const;
  std::chrono::seconds retry_after(Clock::time_point now, bool by_count) const;
  static std::int64_t second_of(Clock::time_point t);

  std::int64_t budget_us_;
  std::optional<std::int64_t> executions_per_minute_;
  std::array<Bucket, kBuckets> buckets_{};
};

}  // namespace sprocket::accounts
