#pragma once
// Where accounts' execution budgets are kept: in this node's memory (`LocalBudgetBackend`), or
// shared by every node through Redis (`RedisBudgetBackend`, redis_budget.h). The gateway sees
// only `AccountBudget`, and never waits on anything but memory: a shared backend syncs on a
// thread of its own.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "accounts/limits.h"
#include "accounts/rolling_window.h"

namespace sprocket::accounts {

// One account's budget, used on the event loop. check() counts nothing; admit() and
// count_execution() count an execution, charge() its time once it is known.
class AccountBudget {
 public:
  using Clock = std::chrono::steady_clock;
  using Admission = accounts::Admission;
  virtual ~AccountBudget() = default;

  virtual Admission check(Clock::time_point now) const = 0;
  virtual void count_execution(Clock::time_point now) = 0;  // after a check() that admitted
  virtual void charge(Clock::time_point finished, std::chrono::microseconds execution_time) = 0;
  virtual std::int64_t time_remaining_ms(Clock::time_point now) const = 0;
  virtual std::int64_t executions_remaining(Clock::time_point now, std::chrono::milliseconds longest_execution) const = 0;

  Admission admit(Clock::time_point now) {
    Admission admission = check(now);
    if (admission.admitted) count_execution(now);
    return admission;
  }
};

// What /readyz and /metrics say about the backend.
struct BudgetHealth {
  std::string backend = "local";  // "local" or "redis"
  bool degraded = false;          // the shared store cannot be reached: each node keeps a share
  std::string reason;             // why, naming the server (never a password)
  std::int64_t live_nodes = 1;    // nodes seen by the last successful sync (1 for local)
  std::uint64_t syncs = 0;        // successful syncs
  std::uint64_t sync_errors = 0;  // failed connects and syncs
};

class BudgetBackend {
 public:
  virtual ~BudgetBackend() = default;
  virtual std::unique_ptr<AccountBudget> budget_for(std::int64_t account_id, const AccountLimits& limits) = 0;
  virtual void start() {}  // after every budget_for(): begins syncing, if the backend does
  virtual void stop() {}   // joins whatever start() began; budgets stay usable
  virtual BudgetHealth health() const { return {}; }
};

BudgetLimits budget_limits(const AccountLimits& limits);

class LocalBudgetBackend final : public BudgetBackend {
 public:
  std::unique_ptr<AccountBudget> budget_for(std::int64_t account_id, const AccountLimits& limits) override;
};

}  // namespace sprocket::accounts
