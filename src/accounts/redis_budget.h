#pragma once
// Execution budgets shared by every node through one Redis server (docs/scale-out.md).
//
// Each node keeps its own view in memory, so admission never waits on Redis: the totals of
// every node as of the last sync, plus what this node has counted since. A thread of the
// backend's own syncs every `sync_interval`: one Lua script call (EVALSHA) adds this node's
// new usage (per account, per second) and returns the totals of the rolling minute and the
// number of live nodes. The script is atomic, and each batch carries a sequence number the
// script applies once, so a batch resent after a lost reply is not counted twice.
//
// Redis unreachable: the node is "degraded" and enforces budget ÷ live nodes (as last seen) on
// its own usage, reconnecting with backoff; the batch in flight and what was counted meanwhile
// are sent once it is back.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "accounts/budget_backend.h"
#include "accounts/redis_connection.h"
#include "accounts/rolling_window.h"

namespace sprocket::accounts {

struct RedisBudgetSettings {
  RedisLocation where;
  std::string key_prefix = "sprocket:budget:";
  std::string node_id;  // empty: HOST:PID:RANDOM
  std::chrono::milliseconds sync_interval{150};
  std::chrono::milliseconds timeout{500};  // connecting, and each command
  std::chrono::milliseconds max_backoff{2'000};
  std::chrono::milliseconds node_ttl{5'000};  // a node not heard from for this long is not live
  std::function<void(const std::string&)> log;  // called on the sync thread: degraded, recovered
};

// One account's usage sent by one sync, and the totals of every node the sync returns.
struct AccountDeltas {
  std::int64_t account_id = 0;
  std::vector<SecondUsage> seconds;
};
struct SyncResult {
  std::int64_t live_nodes = 0;
  bool applied = false;  // false: this batch had been applied before (its reply was lost)
  std::vector<RollingWindow> totals;  // per account, in the order sent
};

// The sync script, on a connection the caller owns: `seq` must grow with each new batch of
// `node`, and a batch resent must keep its `seq`. `now` is the node's wall-clock second.
Expected<SyncResult, std::string> run_sync_script(RedisConnection& connection, const std::string& key_prefix,
                                                  const std::string& node, std::uint64_t seq, std::int64_t now,
                                                  std::chrono::milliseconds node_ttl, const std::vector<AccountDeltas>& batch);

class RedisBudgetBackend final : public BudgetBackend {
 public:
  explicit RedisBudgetBackend(RedisBudgetSettings settings);
  ~RedisBudgetBackend() override;

  std::unique_ptr<AccountBudget> budget_for(std::int64_t account_id, const AccountLimits& limits) override;
  // One sync on the calling thread (so start-up can say whether Redis answers), then the thread.
  void start() override;
  void stop() override;
  BudgetHealth health() const override;

  bool sync_now();  // one sync on the calling thread; true when Redis took it (tests, start())
  const std::string& node_id() const { return settings_.node_id; }

  struct State;  // one account's windows, shared with its AccountBudget

 private:
  void run();
  bool sync_locked();
  void failed(const std::string& why);
  void wait_for(std::chrono::milliseconds delay);

  RedisBudgetSettings settings_;
  std::vector<std::shared_ptr<State>> accounts_;  // fixed once start() runs

  std::mutex sync_mutex_;  // one sync at a time; held across I/O, never taken by the event loop
  std::optional<RedisConnection> connection_;
  std::uint64_t seq_ = 0;
  bool batch_in_flight_ = false;  // the last batch's reply never came: resend it with its seq
  std::int64_t batch_now_ = 0;
  std::vector<AccountDeltas> batch_;
  bool warned_ = false;  // the log says degraded: it will say recovered

  std::shared_ptr<std::atomic<bool>> degraded_;
  std::shared_ptr<std::atomic<std::int64_t>> live_nodes_;
  std::atomic<std::uint64_t> syncs_{0}, sync_errors_{0};
  mutable std::mutex reason_mutex_;
  std::string reason_;

  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sprocket::accounts
