#include "accounts/execution_budget.h"

#include <algorithm>
#include <cmath>

namespace sprocket::accounts {

ExecutionBudget::ExecutionBudget(double execution_seconds_per_minute, std::optional<std::int64_t> executions_per_minute)
    : budget_us_(static_cast<std::int64_t>(std::llround(execution_seconds_per_minute * 1e6))),
      executions_per_minute_(executions_per_minute) {}

std::int64_t ExecutionBudget::second_of(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

ExecutionBudget::Bucket& ExecutionBudget::bucket_for(std::int64_t second) {
  Bucket& b = buckets_[static_cast<std::size_t>(((second % kBuckets) + kBuckets) % kBuckets)];
  if (b.second != second) b = Bucket{second, 0, 0};
  return b;
}

void ExecutionBudget::totals(Clock::time_point now, std::int64_t& execution_us, std::int64_t& executions) const {
  std::int64_t current = second_of(now);
  execution_us = 0;
  executions = 0;
  for (const auto& b : buckets_) {
    if (b.second > current - kBuckets && b.second <= current) {
      execution_us += b.execution_us;
      executions += b.executions;
    }
  }
}

std::chrono::seconds ExecutionBudget::retry_after(Clock::time_point now, bool by_count) const {
  // Walk the window from its oldest second: the budget frees once enough usage has left it.
  std::int64_t current = second_of(now);
  std::int64_t used_us = 0, used = 0;
  totals(now, used_us, used);
  for (std::int64_t s = current - kBuckets + 1; s <= current; ++s) {
    const Bucket& b = buckets_[static_cast<std::size_t>(((s % kBuckets) + kBuckets) % kBuckets)];
    if (b.second != s) continue;
    used_us -= b.execution_us;
    used -= b.executions;
    bool freed = by_count ? used < *executions_per_minute_ : used_us < budget_us_;
    if (freed) return std::chrono::seconds(std::max<std::int64_t>(1, s + kBuckets - current));
  }
  return std::chrono::seconds(kBuckets);
}

ExecutionBudget::Admission ExecutionBudget::check(Clock::time_point now) const {
  std::int64_t used_us = 0, used = 0;
  totals(now, used_us, used);
  if (used_us >= budget_us_) return {false, retry_after(now, false), "EXECUTION_TIME"};
  if (executions_per_minute_ && used >= *executions_per_minute_) return {false, retry_after(now, true), "EXECUTIONS"};
  return {};
}

ExecutionBudget::Admission ExecutionBudget::admit(Clock::time_point now) {
  Admission admission = check(now);
  if (admission.admitted) count_execution(now);
  return admission;
}

void ExecutionBudget::count_execution(Clock::time_point now) { bucket_for(second_of(now)).executions += 1; }

void ExecutionBudget::charge(Clock::time_point finished, std::chrono::microseconds execution_time) {
  bucket_for(second_of(finished)).execution_us += execution_time.count();
}

std::int64_t ExecutionBudget::time_remaining_ms(Clock::time_point now) {
  std::int64_t used_us = 0, used = 0;
  totals(now, used_us, used);
  return std::max<std::int64_t>(0, (budget_us_ - used_us) / 1000);
}

std::int64_t ExecutionBudget::executions_remaining(Clock::time_point now, std::chrono::milliseconds longest_execution) {
  std::int64_t used_us = 0, used = 0;
  totals(now, used_us, used);
  if (executions_per_minute_) return std::max<std::int64_t>(0, *executions_per_minute_ - used);
  std::int64_t remaining_ms = std::max<std::int64_t>(0, (budget_us_ - used_us) / 1000);
  return longest_execution.count() > 0 ? remaining_ms / longest_execution.count() : remaining_ms;
}

}  // namespace sprocket::accounts
