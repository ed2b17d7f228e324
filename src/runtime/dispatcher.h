#pragma once
// Runs invocations of the catalog's functions on their pools of Node.js workers.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "accounts/deployment.h"
#include "config/catalog.h"
#include "secrets/secret_values.h"
#include "runtime/function_pool.h"

namespace sprocket::runtime {

struct RuntimeSettings {
  std::shared_ptr<WorkerLauncher> launcher;  // starts every worker: plain exec, or the sandbox
  std::chrono::milliseconds idle_timeout{300'000};
  std::shared_ptr<MemoryCgroups> cgroups;  // null: memory limits are enforced by polling RSS
  bool spare_workers = true;  // keep pre-started generic workers (one plain, one with axios and lodash loaded)
  std::string no_cgroups_reason;           // why there are none, for the start-up banner
};

using ExposedSecrets = std::vector<std::pair<std::string, std::string>>;  // name, value

// The secrets among `names` that have a value: managed ones (the store, may be null) win over
// those of a folder's `.env` (may be null).
ExposedSecrets select_secrets(const std::vector<std::string>& names, const secrets::AccountSecrets* managed,
                              const std::map<std::string, std::string>* dotenv);

// The "env" frame that tells a live worker its secrets changed from `before` to `now`.
std::string environment_change_frame(const ExposedSecrets& before, const ExposedSecrets& now);

// How to start a worker for `spec`: argv, environment (its variables and exposed secrets only),
// load frame.
WorkerRecipe node_worker_recipe(const config::FunctionSpec& spec, const RuntimeSettings& settings,
                                const accounts::AccountLimits& limits, const ExposedSecrets& secrets);

class Dispatcher {
 public:
  using StrayLogHandler = std::function<void(std::size_t function_index, std::vector<LogLine>)>;

  Dispatcher(boost::asio::io_context& io, RuntimeSettings settings, const accounts::Deployment& deployment,
             const config::Catalog& catalog, StrayLogHandler stray_logs);
  ~Dispatcher();

  void invoke(std::size_t function_index, std::uint64_t invocation_id, std::string invoke_frame, FunctionPool::Completion done);
  std::chrono::milliseconds time_limit(std::size_t function_index) const;
  void shutdown();  // kills every worker
  int instances() const;
  std::string memory_enforcement() const;  // how memory limits are enforced, for the start-up banner

  // Secrets managed by sprocket (the store) by account id; they win over `.env` values. Live
  // instances receive changed values at once, between or during invocations.
  void set_secrets(secrets::SecretValues values);
  // The secrets a function sees (the names it lists that have values), for redaction.
  const ExposedSecrets& exposed_secrets(std::size_t function_index);

 private:
  void schedule_idle_sweep();
  void schedule_rss_poll();
  void fill_spares();
  std::shared_ptr<Worker> take_spare(int memory_mb, bool preloaded);
  const accounts::AccountLimits& limits_of(std::size_t function_index) const;

  boost::asio::io_context& io_;
  RuntimeSettings settings_;
  const accounts::Deployment& deployment_;
  const config::Catalog& catalog_;
  StrayLogHandler stray_logs_;
  std::vector<std::unique_ptr<FunctionPool>> pools_;  // created on first use
  secrets::SecretValues store_secrets_;
  struct Spare {
    std::shared_ptr<Worker> worker;  // null while none is ready
    bool starting = false;
  };
  Spare spares_[2];  // [0] plain, [1] with the preloaded packages required
  int spare_memory_mb_ = 128;
  bool shut_down_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::vector<std::optional<ExposedSecrets>> exposed_;  // per function, computed on demand
  ExposedSecrets compute_exposed(std::size_t function_index) const;
  boost::asio::steady_timer idle_sweep_;
  boost::asio::steady_timer rss_poll_;
};

}  // namespace sprocket::runtime
