#include "accounts/rolling_window.h"

#include <algorithm>

namespace sprocket::accounts {
namespace {
std::size_t slot(std::int64_t second) {
  return static_cast<std::size_t>(((second % RollingWindow::kSeconds) + RollingWindow::kSeconds) % RollingWindow::kSeconds);
}
bool in_window(std::int64_t second, std::int64_t current) {
  return second > current - RollingWindow::kSeconds && second <= current;
}
}  // namespace

SecondUsage& RollingWindow::bucket_for(std::int64_t second) {
  SecondUsage& b = buckets_[slot(second)];
  if (b.second != second) b = SecondUsage{second, 0, 0};
  return b;
}

void RollingWindow::add(std::int64_t second, std::int64_t execution_us, std::int64_t executions) {
  SecondUsage& b = bucket_for(second);
  b.execution_us += execution_us;
  b.executions += executions;
}

void RollingWindow::add(const RollingWindow& other, std::int64_t current) {
  for (const auto& b : other.buckets_) {
    if (in_window(b.second, current)) add(b.second, b.execution_us, b.executions);
  }
}

SecondUsage RollingWindow::totals(std::int64_t current) const {
  SecondUsage sum{current, 0, 0};
  for (const auto& b : buckets_) {
    if (in_window(b.second, current)) {
      sum.execution_us += b.execution_us;
      sum.executions += b.executions;
    }
  }
  return sum;
}

const SecondUsage* RollingWindow::at(std::int64_t second) const {
  const SecondUsage& b = buckets_[slot(second)];
  return b.second == second ? &b : nullptr;
}

std::vector<SecondUsage> RollingWindow::take(std::int64_t current) {
  std::vector<SecondUsage> taken;
  for (std::int64_t s = current - kSeconds + 1; s <= current; ++s) {
    SecondUsage& b = buckets_[slot(s)];
    if (b.second != s) continue;
    if (b.execution_us != 0 || b.executions != 0) taken.push_back(b);
    b = SecondUsage{};
  }
  return taken;  // a second past `current` (another thread's clock a hair ahead) stays for next time
}

namespace {
std::chrono::seconds retry_after(const RollingWindow& used, std::int64_t current, const BudgetLimits& limits, bool by_count) {
  // Walk the window from its oldest second: the budget frees once enough usage has left it.
  SecondUsage left = used.totals(current);
  for (std::int64_t s = current - RollingWindow::kSeconds + 1; s <= current; ++s) {
    const SecondUsage* b = used.at(s);
    if (!b) continue;
    left.execution_us -= b->execution_us;
    left.executions -= b->executions;
    bool freed = by_count ? left.executions < *limits.executions : left.execution_us < limits.execution_us;
    if (freed) return std::chrono::seconds(std::max<std::int64_t>(1, s + RollingWindow::kSeconds - current));
  }
  return std::chrono::seconds(RollingWindow::kSeconds);
}
}  // namespace

Admission decide(const RollingWindow& used, std::int64_t current, const BudgetLimits& limits) {
  SecondUsage total = used.totals(current);
  if (total.execution_us >= limits.execution_us) return {false, retry_after(used, current, limits, false), "EXECUTION_TIME"};
  if (limits.executions && total.executions >= *limits.executions) return {false, retry_after(used, current, limits, true), "EXECUTIONS"};
  return {};
}

bool within(const SecondUsage& total, const BudgetLimits& limits) {
  return total.execution_us < limits.execution_us && (!limits.executions || total.executions < *limits.executions);
}

std::int64_t time_remaining_ms(const SecondUsage& total, const BudgetLimits& limits) {
  return std::max<std::int64_t>(0, (limits.execution_us - total.execution_us) / 1000);
}

std::int64_t executions_remaining(const SecondUsage& total, const BudgetLimits& limits, std::chrono::milliseconds longest_execution) {
  if (limits.executions) return std::max<std::int64_t>(0, *limits.executions - total.executions);
  std::int64_t remaining_ms = time_remaining_ms(total, limits);
  return longest_execution.count() > 0 ? remaining_ms / longest_execution.count() : remaining_ms;
}

std::int64_t time_remaining_ms(const RollingWindow& used, std::int64_t current, const BudgetLimits& limits) {
  return time_remaining_ms(used.totals(current), limits);
}

std::int64_t executions_remaining(const RollingWindow& used, std::int64_t current, const BudgetLimits& limits,
                                  std::chrono::milliseconds longest_execution) {
  return executions_remaining(used.totals(current), limits, longest_execution);
}

}  // namespace sprocket::accounts
