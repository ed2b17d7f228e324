#include "logs/log_sink.h"

#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "logs/execution_format.h"
#include "logs/log_format.h"
#include "store/store_executor.h"

namespace sprocket::logs {

namespace {
// How long a busy writer waits before it looks for more (the most a line waits, under load).
constexpr auto kWriterPoll = std::chrono::milliseconds(2);
// How long flush() waits for lines to be written to a stderr that is not being read.
constexpr auto kFlushPatience = std::chrono::seconds(3);
// A pipe that polls writable takes at least this much without blocking.
constexpr std::size_t kPipeChunk = 4096;

}  // namespace

LogSink::LogSink(boost::asio::io_context& io, int fd, bool colour, std::size_t max_backlog_bytes)
    : io_(io), fd_(fd), colour_(colour), max_backlog_bytes_(max_backlog_bytes) {
  struct stat st {};
  may_block_ = ::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode);
  thread_ = std::thread([this] { run(); });
}

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

std::size_t LogSink::size_of(const Entry& entry) {
  if (const auto* line = std::get_if<std::string>(&entry)) return line->size() + 1;
  const auto& record = std::get<1>(entry).first;
  std::size_t size = 256;
  for (const auto& l : record.lines) size += l.text.size() + 40;
  return size;
}

void LogSink::pass_to_store(std::vector<Entry>& entries, std::vector<store::ExecutionRecord>& records) {
  // In order, one lock per run of records bound for the same store.
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

  std::vector<std::function<void()>> due;
  {
    std::lock_guard lock(mutex_);
    forwarded_ += entries.size();
    while (callback_due()) {
      due.push_back(std::move(waiting_for_store_.front().second));
      waiting_for_store_.pop_front();
    }
  }
  idle_.notify_all();  // flush() may be waiting for the records
  for (auto& then : due) boost::asio::post(io_, std::move(then));
}

bool LogSink::callback_due() const { return !waiting_for_store_.empty() && waiting_for_store_.front().first <= forwarded_; }

void LogSink::hand_over() {
  hand_over_scheduled_ = false;
  if (collected_.empty()) return;
  std::size_t bytes = 0;
  for (const auto& entry : collected_) bytes += size_of(entry);
  std::vector<Entry> dropped;
  bool wake;
  {
    std::lock_guard lock(mutex_);
    handed_ += collected_.size();
    inbox_bytes_ += bytes;
    if (inbox_.empty()) {
      inbox_.swap(collected_);
    } else {
      for (auto& entry : collected_) inbox_.push_back(std::move(entry));
    }
    if (inbox_bytes_ > max_backlog_bytes_) {
      // Nobody reads stderr (a paused pipe): the writer is blocked in write(2). Everything
      // waiting goes to the store now, in order, and its lines are not printed; serving goes
      // on and memory stays bounded.
      dropped.swap(inbox_);
      unprinted_ += dropped.size();
      inbox_bytes_ = 0;
    }
    wake = sleeping_;
  }
  collected_.clear();
  if (!dropped.empty()) {
    std::vector<store::ExecutionRecord> records;
    pass_to_store(dropped, records);
  }
  // A busy writer looks again by itself within kWriterPoll; waking it on every turn of the
  // event loop would cost the loop a system call each time.
  if (wake) wake_.notify_one();
}

void LogSink::after_stored(std::function<void()> then) {
  hand_over();
  {
    std::lock_guard lock(mutex_);
    if (forwarded_ < handed_) {
      waiting_for_store_.emplace_back(handed_, std::move(then));
      then = nullptr;
    }
  }
  if (then) {
    boost::asio::post(io_, std::move(then));
  } else {
    wake_.notify_one();  // the writer may be in its poll: records should not wait for it
  }
}

void LogSink::flush() {
  hand_over();
  wake_.notify_one();
  std::unique_lock lock(mutex_);
  auto done = [&] { return forwarded_ == handed_ && inbox_.empty() && !busy_; };
  if (!idle_.wait_for(lock, kFlushPatience, done)) {
    // stderr is not being read: the writer stores the records and drops the lines it cannot write.
    giving_up_ = true;
    wake_.notify_one();
    idle_.wait(lock, done);
    giving_up_ = false;
  }
}

void LogSink::append(std::string& out, std::string_view line) const {
  std::string_view colour = colour_ ? line_colour(line) : std::string_view();
  out.append(colour);
  out.append(line);
  if (!colour.empty()) out.append(kColourReset);
  out += '\n';
}

bool LogSink::write_all(const std::string& text) {
  std::size_t offset = 0;
  while (offset < text.size()) {
    std::size_t chunk = text.size() - offset;
    if (may_block_) {
      // Wait for room a little at a time, so that a stop or a flush that has waited long
      // enough can give up on a stderr nobody reads instead of blocking forever.
      pollfd p{fd_, POLLOUT, 0};
      int ready = ::poll(&p, 1, 100);
      if (ready == 0) {
        std::lock_guard lock(mutex_);
        if (stopping_ || giving_up_) return false;
        continue;
      }
      if (ready < 0 && errno != EINTR) return false;
      if (ready < 0) continue;
      if (chunk > kPipeChunk) {
        // Whole lines per write: the event loop's own messages (fmt::print to stderr) then
        // never land inside one of these lines, since writes to a pipe of this size are atomic.
        std::size_t newline = text.rfind('\n', offset + kPipeChunk - 1);
        chunk = newline != std::string::npos && newline >= offset ? newline + 1 - offset : kPipeChunk;
      }
    }
    ssize_t n = ::write(fd_, text.data() + offset, chunk);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;  // nowhere to write logs: drop them rather than stall serving
    }
    offset += static_cast<std::size_t>(n);
  }
  return true;
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
    auto has_work = [&] { return !inbox_.empty() || unprinted_ > 0 || callback_due(); };
    if (recently_busy) wake_.wait_for(lock, kWriterPoll, [&] { return stopping_ || has_work(); });
    if (!has_work() && !stopping_) {
      sleeping_ = true;
      wake_.wait(lock, [&] { return stopping_ || has_work(); });
      sleeping_ = false;
    }
    if (!has_work()) return;  // stopping, and nothing left
    recently_busy = true;
    entries.swap(inbox_);
    inbox_bytes_ = 0;
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
    // The records go to the store before the write, which may block on a stderr nobody reads.
    pass_to_store(entries, records);
    entries.clear();

    write_all(text);

    lock.lock();
    busy_ = false;
    if (inbox_.empty()) idle_.notify_all();
  }
}

}  // namespace sprocket::logs
