#include "logs/log_sink.h"

#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <unistd.h>

#include <fmt/format.h>

#include "logs/execution_format.h"
#include "store/store_executor.h"

namespace sprocket::logs {

namespace {
// How long a busy writer waits before it looks for more (the most a line waits, under load).
constexpr auto kWriterPoll = std::chrono::milliseconds(2);

// The first marker found in a line decides its colour.
constexpr std::pair<std::string_view, std::string_view> kColours[] = {
    {" - SUCCESS - ", "\x1b[32m"}, {" - ERROR - ", "\x1b[31m"}, {"    ERROR  ", "\x1b[31m"},
    {"    WARN   ", "\x1b[33m"},   {"    DEBUG  ", "\x1b[2m"},  {"REPORT ", "\x1b[2m"}};

void write_all(int fd, const std::string& text) {
  std::size_t offset = 0;
  while (offset < text.size()) {
    ssize_t n = ::write(fd, text.data() + offset, text.size() - offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere to write logs: drop them rather than stall serving
    }
    offset += static_cast<std::size_t>(n);
  }
}
}  // namespace

LogSink::LogSink(boost::asio::io_context& io, int fd, bool colour, std::size_t max_backlog)
    : io_(io), fd_(fd), colour_(colour), max_backlog_(max_backlog), thread_([this] { run(); }) {}

LogSink::~LogSink() {
  flush();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void LogSink::write_line(std::string_view line) { collect(std::string(line)); }

void LogSink::write_execution(store::ExecutionRecord record, store::StoreExecutor* store) {
  collect(std::pair(std::move(record), store));
}

void LogSink::collect(Entry entry) {
  collected_.push_back(std::move(entry));
  if (!hand_over_scheduled_) {
    hand_over_scheduled_ = true;
    boost::asio::post(io_, [this] { hand_over(); });
  }
}

void LogSink::hand_over() {
  hand_over_scheduled_ = false;
  if (collected_.empty()) return;
  bool wake;
  bool stuck;
  {
    std::lock_guard lock(mutex_);
    stuck = inbox_.size() >= max_backlog_;
    if (stuck) {
      unprinted_ += collected_.size();
    } else if (inbox_.empty()) {
      inbox_.swap(collected_);
    } else {
      for (auto& entry : collected_) inbox_.push_back(std::move(entry));
      collected_.clear();
    }
    wake = sleeping_;
  }
  if (stuck) {
    // Nobody reads stderr (a paused pipe): the writer is blocked in write(2). Serving goes on,
    // memory stays bounded, and the records still reach the store; these lines are not printed.
    for (auto& entry : collected_) {
      if (auto* execution = std::get_if<1>(&entry); execution && execution->second) {
        execution->second->append_execution(std::move(execution->first));
      }
    }
    collected_.clear();
  }
  // A busy writer looks again by itself within kWriterPoll; waking it on every turn of the
  // event loop would cost the loop a system call each time.
  if (wake) wake_.notify_one();
}

void LogSink::flush() {
  hand_over();
  wake_.notify_one();
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return inbox_.empty() && !busy_; });
}

void LogSink::append(std::string& out, std::string_view line) const {
  std::string_view colour;
  if (colour_) {
    for (const auto& [marker, code] : kColours) {
      if (line.find(marker) != std::string_view::npos) {
        colour = code;
        break;
      }
    }
  }
  out.append(colour);
  out.append(line);
  if (!colour.empty()) out.append("\x1b[0m");
  out += '\n';
}

void LogSink::run() {
  std::vector<Entry> entries;
  std::vector<store::ExecutionRecord> records;
  std::string text;
  std::unique_lock lock(mutex_);
  bool recently_busy = false;
  while (true) {
    // After a batch, look again every kWriterPoll while lines keep coming; once a poll finds
    // nothing, sleep until the event loop wakes this thread.
    auto has_work = [&] { return !inbox_.empty() || unprinted_ > 0; };
    if (recently_busy) wake_.wait_for(lock, kWriterPoll, [&] { return stopping_ || has_work(); });
    if (!has_work() && !stopping_) {
      sleeping_ = true;
      wake_.wait(lock, [&] { return stopping_ || has_work(); });
      sleeping_ = false;
    }
    if (!has_work()) return;  // stopping, and nothing left
    recently_busy = true;
    entries.swap(inbox_);
    std::size_t skipped = std::exchange(unprinted_, 0);
    busy_ = true;
    lock.unlock();

    text.clear();
    if (skipped > 0) {
      append(text, fmt::format("sprocket: {} log entries were not printed: stderr was not being read (their executions are stored)", skipped));
    }
    for (auto& entry : entries) {
      if (auto* line = std::get_if<std::string>(&entry)) {
        append(text, *line);
      } else {
        for (const auto& printed : serve_lines(std::get<1>(entry).first)) append(text, printed);
      }
    }
    write_all(fd_, text);
    // Records reach the store after their lines are printed, in order, one lock per batch.
    store::StoreExecutor* store = nullptr;
    for (auto& entry : entries) {
      auto* execution = std::get_if<1>(&entry);
      if (!execution || !execution->second) continue;
      if (execution->second != store && !records.empty()) store->append_executions(std::move(records));
      store = execution->second;
      records.push_back(std::move(execution->first));
    }
    if (!records.empty()) store->append_executions(std::move(records));
    records.clear();
    entries.clear();

    lock.lock();
    busy_ = false;
    if (inbox_.empty()) idle_.notify_all();
  }
}

}  // namespace sprocket::logs
