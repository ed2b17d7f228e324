#pragma once
// Runs invocations of the catalog's functions on their pools of Node.js workers.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/catalog.h"
#include "runtime/function_pool.h"

namespace sprocket::runtime {

struct RuntimeSettings {
  std::filesystem::path node_executable = "/usr/bin/node";
  std::filesystem::path node_guest_dir;  // holds bootstrap.js and the preloaded node_modules
  int max_instances = 8;                 // per function
  std::chrono::milliseconds idle_timeout{300'000};
  std::chrono::milliseconds design_manager_time_limit{10'000};  // HubSpot: 10 s
  std::chrono::milliseconds project_time_limit{15'000};         // HubSpot: 15 s
  int memory_limit_mb = 128;
};

// How to start a worker for `spec`: argv, environment (its variables and secrets only), load frame.
WorkerRecipe node_worker_recipe(const config::FunctionSpec& spec, const RuntimeSettings& settings,
                                const std::map<std::string, std::string>& secret_values);

class Dispatcher {
 public:
  using StrayLogHandler = std::function<void(std::size_t function_index, std::vector<LogLine>)>;

  Dispatcher(boost::asio::io_context& io, RuntimeSettings settings, const config::Catalog& catalog,
             StrayLogHandler stray_logs);
  ~Dispatcher();

  void invoke(std::size_t function_index, std::string invoke_frame, FunctionPool::Completion done);
  std::chrono::milliseconds time_limit(std::size_t function_index) const;
  void shutdown();  // kills every worker
  int instances() const;

 private:
  void schedule_idle_sweep();

  boost::asio::io_context& io_;
  RuntimeSettings settings_;
  const config::Catalog& catalog_;
  StrayLogHandler stray_logs_;
  std::vector<std::unique_ptr<FunctionPool>> pools_;  // created on first use
  boost::asio::steady_timer idle_sweep_;
};

}  // namespace sprocket::runtime
