#pragma once
// The Store's own thread: blocking store calls never run on the event loop. Execution records
// are batched (one transaction per batch) so that logging costs the request path one enqueue.
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "store/store.h"

namespace sprocket::store {

class StoreExecutor {
 public:
  explicit StoreExecutor(std::unique_ptr<Store> store);
  ~StoreExecutor();  // writes what is queued, then stops
  StoreExecutor(const StoreExecutor&) = delete;
  StoreExecutor& operator=(const StoreExecutor&) = delete;

  // Runs `task` on the store thread, in order. Exceptions are reported on stderr.
  void post(std::function<void(Store&)> task);
  // Execution records, written in batches (one lock for all of these).
  void append_executions(std::vector<ExecutionRecord>&& records);
  // Blocks until everything queued so far is written (tests, shutdown).
  void flush();

 private:
  void run();

  std::unique_ptr<Store> store_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::function<void(Store&)>> tasks_;
  std::vector<ExecutionRecord> pending_;
  bool busy_ = false;
  int flushes_waiting_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sprocket::store
