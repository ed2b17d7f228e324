#pragma once
// An account's execution budget over a rolling minute, kept in this node's memory: execution
// time (HubSpot's 600 execution-seconds per minute) and, optionally, a number of executions.
#include <chrono>
#include <cstdint>
#include <optional>

#include "accounts/budget_backend.h"
#include "accounts/rolling_window.h"

namespace sprocket::accounts {

class ExecutionBudget final : public AccountBudget {
 public:
  ExecutionBudget(double execution_seconds_per_minute, std::optional<std::int64_t> executions_per_minute);

  Admission check(Clock::time_point now) const override;
  void count_execution(Clock::time_point now) override;
  void charge(Clock::time_point finished, std::chrono::microseconds execution_time) override;
  std::int64_t time_remaining_ms(Clock::time_point now) const override;
  std::int64_t executions_remaining(Clock::time_point now, std::chrono::milliseconds longest_execution) const override;

  static std::int64_t second_of(Clock::time_point t);

 private:
  BudgetLimits limits_;
  RollingWindow used_;
};

}  // namespace sprocket::accounts
