#include "store/store_executor.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>

namespace sprocket::store {
namespace {
using Clock = std::chrono::steady_clock;
constexpr std::size_t kBatch = 1024;  // bigger transactions cost less per record
constexpr auto kBatchDelay = std::chrono::milliseconds(100);
constexpr auto kFlushPatience = std::chrono::seconds(10);  // a stop waits this long for a store that refuses records

std::size_t approximate_bytes(const ExecutionRecord& r) {
  std::size_t bytes = sizeof(ExecutionRecord) + r.request_id.size() + r.function.size() + r.method.size() + r.path.size() +
                      r.status.size() + r.error.size();
  for (const auto& l : r.lines) bytes += sizeof(LogLineRecord) + l.level.size() + l.text.size();
  return bytes;
}

std::string size_text(std::size_t bytes) {
  return bytes >= (1u << 20) ? fmt::format("{} MB", bytes >> 20) : fmt::format("{} KB", (bytes + 1023) >> 10);
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

StoreExecutor::StoreExecutor(std::unique_ptr<Store> store, StoreExecutorSettings settings)
    : store_(std::move(store)), settings_(settings), drop_report_(settings.report_interval), thread_([this] { run(); }) {}

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

bool StoreExecutor::flush() {
  std::unique_lock lock(mutex_);
  ++flushes_waiting_;  // the store thread writes what is pending now, without waiting for company
  wake_.notify_one();
  auto queued = [&] { return !tasks_.empty() || !pending_.empty() || busy_; };
  if (!idle_.wait_for(lock, kFlushPatience, [&] { return !queued() && held_records_ == 0; })) {
    idle_.wait(lock, [&] { return !queued(); });  // held records wait for the next attempt, or the stop
  }
  --flushes_waiting_;
  return held_records_ == 0;
}

void StoreExecutor::run() {
  // Storing logs must not take CPU from serving: under load this thread yields, and its
  // batches simply grow.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  std::unique_lock lock(mutex_);
  while (true) {
    if (held_records_ == 0) {
      // Wait for work; execution records wait up to kBatchDelay for company.
      wake_.wait_for(lock, kBatchDelay, [&] {
        return stopping_ || !tasks_.empty() || pending_.size() >= kBatch || (flushes_waiting_ > 0 && !pending_.empty());
      });
    } else {
      // Records are held for the next attempt; new ones join them then. Tasks run meanwhile:
      // they may not need the lock the records wait for (reads do not, in WAL mode).
      wake_.wait_until(lock, held_.next_attempt, [&] { return stopping_ || !tasks_.empty(); });
    }
    if (tasks_.empty() && pending_.empty() && held_records_ == 0) {
      idle_.notify_all();
      if (stopping_) return;
      continue;
    }
    auto tasks = std::move(tasks_);
    tasks_.clear();
    auto records = std::move(pending_);
    pending_.clear();
    const bool stopping = stopping_;
    busy_ = true;
    lock.unlock();
    write_records(std::move(records), stopping);
    for (auto& task : tasks) {
      try {
        task(*store_);
      } catch (const std::exception& e) {
        fmt::print(stderr, "sprocket: store error: {}\n", e.what());
      }
    }
    lock.lock();
    busy_ = false;
    held_records_ = held_.records.size();
    held_count_.store(held_records_, std::memory_order_relaxed);
    idle_.notify_all();  // flush() may be waiting
  }
}

// Writes `records` after the ones held from earlier attempts, in one transaction, or keeps them
// all for a later attempt while the store refuses them for now.
void StoreExecutor::write_records(std::vector<ExecutionRecord>&& records, bool stopping) {
  hold(std::move(records));
  if (held_.records.empty()) return;
  const bool outage = held_.delay.count() > 0;
  if (outage && !stopping && Clock::now() < held_.next_attempt) return;
  try {
    store_->append_executions(held_.records);
    if (outage) fmt::print(stderr, "sprocket: stored {} held execution records after {:.1f} s\n", held_.records.size(), seconds_since(held_.since));
    held_ = Held{};
    if (auto line = drop_report_.stored(Clock::now())) fmt::print(stderr, "{}\n", *line);
  } catch (const StoreError& e) {
    if (!e.transient || stopping) return drop_held(e.what(), stopping);
    note_refusal(e.what());
  } catch (const std::exception& e) {
    drop_held(e.what(), stopping);
  }
}

void StoreExecutor::hold(std::vector<ExecutionRecord>&& records) {
  if (held_.delay.count() > 0) {
    for (const auto& r : records) held_.bytes += approximate_bytes(r);
  }
  if (held_.records.empty()) {
    held_.records.swap(records);
  } else {
    for (auto& r : records) held_.records.push_back(std::move(r));
  }
  enforce_bound();
}

// The store refused the held records for now: try again later, a little later each time.
void StoreExecutor::note_refusal(const std::string& why) {
  held_.last_error = why;
  if (held_.delay.count() == 0) {
    held_.since = Clock::now();
    held_.delay = settings_.first_retry_delay;
    held_.bytes = 0;
    for (const auto& r : held_.records) held_.bytes += approximate_bytes(r);
    fmt::print(stderr,
               "sprocket: could not store {} execution records now ({}); they are held and tried again (at most {}; past "
               "that the oldest are dropped)\n",
               held_.records.size(), why, size_text(settings_.max_held_bytes));
    enforce_bound();
  } else {
    held_.delay = std::min(held_.delay * 2, settings_.max_retry_delay);
  }
  held_.next_attempt = Clock::now() + held_.delay;
}

void StoreExecutor::enforce_bound() {
  if (held_.delay.count() == 0 || held_.bytes <= settings_.max_held_bytes) return;
  // The oldest go first: who reads the logs after an outage looks for the latest. Down to
  // three quarters of the bound, so that this happens once per quarter of it, not per batch.
  const std::size_t target = settings_.max_held_bytes / 4 * 3;
  std::size_t count = 0;
  while (count < held_.records.size() && held_.bytes > target) held_.bytes -= approximate_bytes(held_.records[count++]);
  held_.records.erase(held_.records.begin(), held_.records.begin() + static_cast<std::ptrdiff_t>(count));
  dropped_records_ += count;
  auto why = fmt::format("the store has refused them for {:.0f} s: {}; at most {} are held, the oldest go first",
                         seconds_since(held_.since), held_.last_error, size_text(settings_.max_held_bytes));
  if (auto line = drop_report_.dropped(count, why, Clock::now())) fmt::print(stderr, "{}\n", *line);
}

void StoreExecutor::drop_held(const std::string& why, bool stopping) {
  std::size_t count = held_.records.size();
  dropped_records_ += count;
  held_ = Held{};
  if (stopping) {
    // The last word: said whatever the rate limit, since nothing comes after it.
    fmt::print(stderr, "sprocket: {} execution records could not be stored and are dropped (stopping): {}; {} were dropped in all\n",
               count, why, dropped_records());
    return;
  }
  if (auto line = drop_report_.dropped(count, fmt::format("refused for good: {}", why), Clock::now())) fmt::print(stderr, "{}\n", *line);
}

}  // namespace sprocket::store
