#pragma once
// Queued executions of workflow actions, run from the Store's durable queue: claimed in a
// transaction, run one attempt at a time each in a pool of Node.js or Python workers (memory
// cgroups, 20 s, 128 MB), finished in a transaction that either ends the execution or schedules
// its retry (HubSpot's schedule, retry_schedule.h). Single-threaded: every method runs on the
// io_context's thread; the store work runs on the StoreExecutor's.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "accounts/deployment.h"
#include "actions/action_worker.h"
#include "actions/retry_schedule.h"
#include "config/action_spec.h"
#include "logs/log_sink.h"
#include "metrics/metrics.h"
#include "runtime/dispatcher.h"
#include "runtime/function_pool.h"
#include "secrets/secret_values.h"
#include "store/store_executor.h"

namespace sprocket::actions {

struct ActionRunnerSettings {
  runtime::RuntimeSettings runtime;
  RetryClock clock;
  int concurrency = 4;  // attempts running at once on this node
  std::chrono::milliseconds time_limit = kActionTimeLimit;  // HubSpot's 20 s; `--time-limit-ms` overrides it
  std::chrono::milliseconds poll_interval{1000};  // how often the queue is read when nothing is due sooner
  // This node's lease on what it runs (store::ActionLease): its id, unique per process, and how
  // long a claim holds unless renewed (a third of it is the renewal period).
  std::string node_id;
  std::chrono::milliseconds lease_duration{30'000};
  // Other nodes run the same queue (a shared store): what is running may be theirs, so only
  // expired leases are taken back, at the start and every third of a lease. Otherwise this node is
  // the only one, and at its start everything left running is from a process that died.
  bool shared_queue = false;
};

// A node id for leases: the host name, the process id and random bits (a restarted process on
// the same host is another node: its predecessor's leases must expire first).
std::string new_node_id();

struct EnqueueOutcome {
  unsigned status = 202;  // the admin API's answer: 202, or 400/404/500 with `message`
  std::string message;
  store::ActionExecutionRecord execution;
};

class ActionRunner {
 public:
  ActionRunner(boost::asio::io_context& io, store::StoreExecutor& store, const accounts::Deployment& deployment,
               ActionRunnerSettings settings, logs::LogSink& log, metrics::Metrics& metrics);
  ~ActionRunner();
  ActionRunner(const ActionRunner&) = delete;
  ActionRunner& operator=(const ActionRunner&) = delete;

  // What is deployed now (start-up, a deploy, a reload). Attempts in flight finish on the code
  // they started with.
  void set_actions(std::vector<config::ActionSpec> actions, std::map<std::filesystem::path, std::map<std::string, std::string>> dotenv);
  void set_secrets(secrets::SecretValues values);
  const std::vector<config::ActionSpec>& actions() const { return actions_; }
  const config::ActionSpec* find(std::int64_t account_id, const std::string& name) const;
  // Deploy-time rule: the actions of `catalog` whose secret values (as stored now) hold more
  // than 1000 characters together.
  std::vector<std::string> secret_budget_problems(const config::Catalog& catalog) const;

  // Start-up, blocking: executions a process that died left running are queued again
  // (at-least-once; on a shared queue once their lease expired); returns how many. Then
  // start() runs what is due, and keeps doing so.
  std::size_t recover_interrupted();
  static constexpr int kMaxInterruptions = 3;  // then an execution fails instead of running again
  void start();

  using EnqueueDone = std::function<void(EnqueueOutcome)>;
  // Validates and stores an execution; `done` (on the event loop) runs once it is durable.
  void enqueue(std::int64_t account_id, const std::string& name, const boost::json::object& given_event, EnqueueDone done);

  // A clean stop, in two steps: drain() stops claiming and calls `idle` once no attempt is
  // running; stop() kills the workers, and attempts it cuts off stay "running" in the store to
  // run again at the next start.
  void drain(std::function<void()> idle);
  void stop();
  int running() const { return running_; }

 private:
  struct Pool {
    std::unique_ptr<runtime::FunctionPool> pool;
    runtime::ExposedSecrets secrets;  // what its workers were given last
    int running = 0;                  // attempts submitted and not finished
  };

  void poll();
  void tend_leases();
  store::InterruptedActions interrupted_actions(std::int64_t now_ms, std::int64_t lease_expired_before_ms) const;
  void schedule_poll(std::optional<std::int64_t> next_due_ms);
  void run(store::ActionExecutionRecord execution, std::int64_t started_ms);
  void finish(store::ActionExecutionRecord execution, std::int64_t started_ms, const AttemptOutcome& outcome,
              std::vector<store::LogLineRecord> lines, const runtime::ExposedSecrets& secrets);
  void store_result(store::ActionExecutionRecord execution, store::ActionAttemptRecord attempt);
  void attempt_done();
  runtime::ExposedSecrets secrets_for(const config::ActionSpec& action) const;
  runtime::ExposedSecrets secrets_for(const config::ActionSpec& action,
                                      const std::map<std::filesystem::path, std::map<std::string, std::string>>& dotenv) const;
  std::shared_ptr<Pool> pool_for(const config::ActionSpec& action, const runtime::ExposedSecrets& secrets);
  void drop_idle_retired_pools();
  void sweep();

  boost::asio::io_context& io_;
  store::StoreExecutor& store_;
  const accounts::Deployment& deployment_;
  ActionRunnerSettings settings_;
  logs::LogSink& log_;
  metrics::Metrics& metrics_;
  std::vector<config::ActionSpec> actions_;
  std::map<std::filesystem::path, std::map<std::string, std::string>> dotenv_;
  secrets::SecretValues secrets_;
  // The pools of the actions served now, by account and name; a deploy or reload retires them
  // (fresh workers for the new code, as functions get) and they go once their attempts end.
  std::map<std::string, std::shared_ptr<Pool>> pools_;
  std::vector<std::shared_ptr<Pool>> retired_;
  boost::asio::steady_timer poll_timer_;
  boost::asio::steady_timer sweep_timer_;
  boost::asio::steady_timer lease_timer_;
  bool polling_ = false;
  bool poll_again_ = false;
  bool started_ = false;
  bool draining_ = false;
  bool stopped_ = false;
  std::function<void()> on_idle_;
  int running_ = 0;
  std::uint64_t invocations_ = 0;  // ids of the invoke frames sent, which results must echo
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sprocket::actions
