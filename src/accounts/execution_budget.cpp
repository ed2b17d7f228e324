#include "accounts/execution_budget.h"

#include <cmath>

namespace sprocket::accounts {

BudgetLimits budget_limits(const AccountLimits& limits) {
  return BudgetLimits{static_cast<std::int64_t>(std::llround(limits.execution_seconds_per_minute * 1e6)), limits.executions_per_minute};
}

std::unique_ptr<AccountBudget> LocalBudgetBackend::budget_for(std::int64_t, const AccountLimits& limits) {
  return std::make_unique<ExecutionBudget>(limits.execution_seconds_per_minute, limits.executions_per_minute);
}

ExecutionBudget::ExecutionBudget(double execution_seconds_per_minute, std::optional<std::int64_t> executions_per_minute)
    : limits_{static_cast<std::int64_t>(std::llround(execution_seconds_per_minute * 1e6)), executions_per_minute} {}

std::int64_t ExecutionBudget::second_of(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

ExecutionBudget::Admission ExecutionBudget::check(Clock::time_point now) const { return decide(used_, second_of(now), limits_); }

void ExecutionBudget::count_execution(Clock::time_point now) { used_.add(second_of(now), 0, 1); }

void ExecutionBudget::charge(Clock::time_point finished, std::chrono::microseconds execution_time) {
  used_.add(second_of(finished), execution_time.count(), 0);
}

std::int64_t ExecutionBudget::time_remaining_ms(Clock::time_point now) const {
  return accounts::time_remaining_ms(used_, second_of(now), limits_);
}

std::int64_t ExecutionBudget::executions_remaining(Clock::time_point now, std::chrono::milliseconds longest_execution) const {
  return accounts::executions_remaining(used_, second_of(now), limits_, longest_execution);
}

}  // namespace sprocket::accounts
