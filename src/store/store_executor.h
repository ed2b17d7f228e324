#pragma once
// The Store's own thread: blocking store calls never run on the event loop. Execution records
// are batched (one transaction per batch) so that logging costs the request path one enqueue.
// Records the store refuses for a while (another connection holds the database's lock, the
// disk is full) are held and tried again with a growing delay, up to a memory bound; past it
// the oldest are dropped, counted (dropped_records, /metrics) and reported on stderr, never
// silently and never a line per batch (DropReport).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/drop_report.h"
#include "store/store.h"

namespace sprocket::store {

struct StoreExecutorSettings {
  std::size_t max_held_bytes = 64 << 20;  // execution records held while the store refuses them
  std::chrono::milliseconds first_retry_delay{50};
  std::chrono::milliseconds max_retry_delay{2000};  // plus the store's own busy timeout per attempt
  std::chrono::seconds report_interval{60};  // while records are dropped, the log says so at most this often
};

class StoreExecutor {
 public:
  explicit StoreExecutor(std::unique_ptr<Store> store, StoreExecutorSettings settings = {});
  ~StoreExecutor();  // writes what is queued (held records get one last attempt), then stops
  StoreExecutor(const StoreExecutor&) = delete;
  StoreExecutor& operator=(const StoreExecutor&) = delete;

  // Runs `task` on the store thread, in order. Exceptions are reported on stderr.
  void post(std::function<void(Store&)> task);
  // Execution records, written in batches (one lock for all of these).
  void append_executions(std::vector<ExecutionRecord>&& records);
  // Blocks until everything queued so far is written (tests, shutdown). While the store
  // refuses records it waits a while for it (kFlushPatience), not forever; false: records
  // are still held.
  bool flush();
  // Records that were never stored: dropped past the bound, refused for good, or at stop.
  std::uint64_t dropped_records() const { return dropped_records_.load(std::memory_order_relaxed); }
  // Records held now for a store that refuses them.
  std::uint64_t held_records() const { return held_count_.load(std::memory_order_relaxed); }

 private:
  // Records the store refused, kept for the next attempt; store thread only.
  struct Held {
    std::vector<ExecutionRecord> records;
    std::size_t bytes = 0;                    // estimated; counted only during an outage
    std::chrono::milliseconds delay{0};       // 0: no outage
    std::chrono::steady_clock::time_point next_attempt{};
    std::chrono::steady_clock::time_point since{};
    std::string last_error;
  };

  void run();
  void write_records(std::vector<ExecutionRecord>&& records, bool stopping);
  void hold(std::vector<ExecutionRecord>&& records);
  void note_refusal(const std::string& why);
  void enforce_bound();
  void drop_held(const std::string& why, bool stopping);

  std::unique_ptr<Store> store_;
  StoreExecutorSettings settings_;
  Held held_;
  DropReport drop_report_;  // store thread only
  std::atomic<std::uint64_t> dropped_records_{0};
  std::atomic<std::uint64_t> held_count_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::function<void(Store&)>> tasks_;
  std::vector<ExecutionRecord> pending_;
  std::size_t held_records_ = 0;  // held_.records.size(), for flush()
  bool busy_ = false;
  int flushes_waiting_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sprocket::store
