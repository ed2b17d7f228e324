#include "store/store_executor.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fmt/format.h>

namespace sprocket::store {
namespace {
constexpr std::size_t kBatch = 1024;  // bigger transactions cost less per record
constexpr auto kBatchDelay = std::chrono::milliseconds(100);
}  // namespace

StoreExecutor::StoreExecutor(std::unique_ptr<Store> store) : store_(std::move(store)), thread_([this] { run(); }) {}

StoreExecutor::~StoreExecutor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void StoreExecutor::post(std::function<void(Store&)> task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
}

void StoreExecutor::append_executions(std::vector<ExecutionRecord>&& records) {
  bool full;
  {
    std::lock_guard lock(mutex_);
    if (pending_.empty()) {
      pending_.swap(records);
    } else {
      for (auto& record : records) pending_.push_back(std::move(record));
    }
    full = pending_.size() >= kBatch;
  }
  records.clear();
  if (full) wake_.notify_one();
}

void StoreExecutor::flush() {
  std::unique_lock lock(mutex_);
  ++flushes_waiting_;  // the store thread writes what is pending now, without waiting for company
  wake_.notify_one();
  idle_.wait(lock, [&] { return tasks_.empty() && pending_.empty() && !busy_; });
  --flushes_waiting_;
}

void StoreExecutor::run() {
  // Storing logs must not take CPU from serving: under load this thread yields, and its
  // batches simply grow.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  std::unique_lock lock(mutex_);
  while (true) {
    // Wait for work; execution records wait up to kBatchDelay for company.
    wake_.wait_for(lock, kBatchDelay,
                   [&] { return stopping_ || !tasks_.empty() || pending_.size() >= kBatch || (flushes_waiting_ > 0 && !pending_.empty()); });
    if (tasks_.empty() && pending_.empty()) {
      idle_.notify_all();
      if (stopping_) return;
      continue;
    }
    auto tasks = std::move(tasks_);
    tasks_.clear();
    auto records = std::move(pending_);
    pending_.clear();
    busy_ = true;
    lock.unlock();
    try {
      store_->append_executions(records);
    } catch (const std::exception& e) {
      fmt::print(stderr, "sprocket: could not store {} execution records: {}\n", records.size(), e.what());
    }
    for (auto& task : tasks) {
      try {
        task(*store_);
      } catch (const std::exception& e) {
        fmt::print(stderr, "sprocket: store error: {}\n", e.what());
      }
    }
    lock.lock();
    busy_ = false;
  }
}

}  // namespace sprocket::store
