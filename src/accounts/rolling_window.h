#pragma once
// Usage over a rolling minute in one-second buckets, and the decisions a budget makes from it.
// Shared by the local budget and the Redis one, so that both refuse with the same numbers.
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace sprocket::accounts {

struct SecondUsage {
  std::int64_t second = -1;  // whole seconds of the clock the window is kept in
  std::int64_t execution_us = 0;
  std::int64_t executions = 0;
};

class RollingWindow {
 public:
  static constexpr int kSeconds = 60;

  void add(std::int64_t second, std::int64_t execution_us, std::int64_t executions);
  void add(const RollingWindow& other, std::int64_t current);  // other's seconds that are in the window
  SecondUsage totals(std::int64_t current) const;                // over (current - 60, current]
  const SecondUsage* at(std::int64_t second) const;             // nullptr when nothing is kept for it
  // The seconds with usage in the window, oldest first; those are emptied.
  std::vector<SecondUsage> take(std::int64_t current);
  void clear() { buckets_ = {}; }

 private:
  SecondUsage& bucket_for(std::int64_t second);
  std::array<SecondUsage, kSeconds> buckets_{};
};

// What a budget allows over a minute; `executions` is optional (HubSpot has no count limit).
struct BudgetLimits {
  std::int64_t execution_us = 0;
  std::optional<std::int64_t> executions;
};

struct Admission {
  bool admitted = true;
  std::chrono::seconds retry_after{0};  // when refused: until enough of the window has passed
  const char* reason = "";              // "EXECUTION_TIME" or "EXECUTIONS"
};

Admission decide(const RollingWindow& used, std::int64_t current, const BudgetLimits& limits);
bool within(const SecondUsage& total, const BudgetLimits& limits);  // decide() would admit: no window needed
std::int64_t time_remaining_ms(const SecondUsage& total, const BudgetLimits& limits);
std::int64_t executions_remaining(const SecondUsage& total, const BudgetLimits& limits, std::chrono::milliseconds longest_execution);
std::int64_t time_remaining_ms(const RollingWindow& used, std::int64_t current, const BudgetLimits& limits);
// Executions left in the window; without a count limit, how many executions as long as
// `longest_execution` the remaining time still allows.
std::int64_t executions_remaining(const RollingWindow& used, std::int64_t current, const BudgetLimits& limits,
                                  std::chrono::milliseconds longest_execution);

}  // namespace sprocket::accounts
