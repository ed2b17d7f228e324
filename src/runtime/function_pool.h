#pragma once
// The warm instances of one function: grows to a maximum under load, queues what it cannot
// serve at once, and lets idle instances go. One invocation at a time per instance.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/restart_backoff.h"
#include "runtime/worker.h"

namespace sprocket::runtime {

struct WorkerRecipe {
  WorkerImage image;       // what an instance is (the launcher makes a process of it)
  std::string load_frame;  // what it must load once started
  int memory_mb = 128;     // a spare generic worker serves only a pool with its memory limit
  bool wants_preloaded = false;  // the code requires HubSpot's usual packages: take a spare that has them
};

struct PoolSettings {
  int max_instances = 8;
  std::chrono::milliseconds time_limit{10'000};
  std::chrono::milliseconds idle_timeout{300'000};
  int memory_limit_mb = 128;
  std::size_t max_queued = 100;                 // more waiting requests are refused (QueueFull)
  std::chrono::milliseconds queue_timeout{10'000};  // a request waits at most this long (QueueTimeout)
  // Most invocations sent to one instance at once (1: no pipelining); how many are, depends on
  // how fast the function answers (as many as fit in about 1 ms, at least 2).
  std::size_t pipeline_depth = 16;
  std::string name;  // the function, as log lines name it
};

struct InvocationReport {
  InvocationResult result;
  double queue_ms = 0;      // waiting for an instance, including a cold start
  double execution_ms = 0;  // from sending the invocation to its answer
  bool cold_start = false;  // served by an instance started for it
};

class FunctionPool {
 public:
  using Completion = std::function<void(InvocationReport)>;
  using StrayLogHandler = std::function<void(std::vector<LogLine>)>;

  // `cgroups` (may be null: RSS is polled instead) holds each instance's memory cgroup.
  // `take_spare` hands over a pre-started generic worker, if one is ready (may be null).
  using SpareSource = std::function<std::shared_ptr<Worker>(int memory_mb, bool preloaded)>;
  FunctionPool(boost::asio::io_context& io, WorkerLauncher& launcher, WorkerRecipe recipe, PoolSettings settings,
               MemoryCgroups* cgroups, SpareSource take_spare, StrayLogHandler stray_logs);
  ~FunctionPool();
  FunctionPool(const FunctionPool&) = delete;
  FunctionPool& operator=(const FunctionPool&) = delete;

  // `invocation_id` is the id in the frame, which the worker's result must carry.
  void submit(std::uint64_t invocation_id, std::string invoke_frame, Completion done);
  void stop_idle(std::chrono::steady_clock::time_point now);  // ends instances idle past the timeout
  void shutdown();                                             // kills every instance
  void enforce_rss_limits();                                   // when there are no cgroups
  // New instances start from `recipe`; live ones get `frame` (an "env" frame) now.
  void update_environment(WorkerRecipe recipe, const std::string& frame);

  int instances() const { return static_cast<int>(workers_.size()); }

 private:
  struct Waiting {
    std::shared_ptr<const std::string> frame;
    Completion done;
    std::chrono::steady_clock::time_point since;  // when it arrived: its queue time is measured from here
    // Where its queue timeout counts from: its arrival, or when an instance that held it died
    // (the time it spent inside that instance is not its fault).
    std::chrono::steady_clock::time_point waiting_since;
    std::uint64_t id = 0;
    int requeues = 0;  // times it came back from an instance that stopped before running it
  };

  void start_instances_for_queue();
  // True when failures in a row hold back the next instance; a timer starts it later.
  bool held_back_by_failures();
  void count_outcome(const InvocationResult& result);
  void start_instance();
  void on_instance_free(const std::shared_ptr<Worker>& worker, bool cold);
  std::shared_ptr<Worker> pipeline_target() const;
  std::size_t pipeline_depth_now() const;  // invocations one instance may hold now
  // Loading a function (its top-level code) gets the same time as running it, and at least 5 s
  // (a cold start on a busy machine).
  std::chrono::milliseconds load_limit() const { return std::max(settings_.time_limit, std::chrono::milliseconds(5000)); }
  void run(const std::shared_ptr<Worker>& worker, Waiting waiting, bool cold);
  void fail_queue(const std::string& why);
  void arm_queue_deadline();
  void expire_waiting();

  boost::asio::io_context& io_;
  WorkerLauncher& launcher_;
  WorkerRecipe recipe_;
  PoolSettings settings_;
  MemoryCgroups* cgroups_;
  SpareSource take_spare_;
  boost::asio::steady_timer queue_deadline_;
  RestartBackoff backoff_;
  boost::asio::steady_timer backoff_timer_;
  bool backoff_armed_ = false;
  std::string last_failure_;  // how the last failed instance ended, for the log
  double typical_execution_ms_ = 0;  // moving average: pipelining is for functions that answer fast
  int samples_ = 0;                  // executions averaged so far (up to a few)
  StrayLogHandler stray_logs_;
  std::vector<std::shared_ptr<Worker>> workers_;  // every live instance
  std::vector<std::shared_ptr<Worker>> idle_;     // most recently used last
  int starting_ = 0;
  std::deque<Waiting> queue_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards callbacks after destruction
};

}  // namespace sprocket::runtime
