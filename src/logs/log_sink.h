#pragma once
// Where `serve` prints execution records and its other lines: stderr. The event loop only
// collects what is to be printed; at the end of each turn it hands the lot to the sink's own
// thread, which formats execution records, passes the records on to the store, and writes.
// The request path pays for neither the formatting nor the write system call, and a stderr
// that nobody reads (a paused pipe) neither stalls serving nor keeps records from the store.
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "store/store.h"

namespace sprocket::store {
class StoreExecutor;
}

namespace sprocket::logs {

class LogSink {
 public:
  // `colour`: mark statuses and levels with ANSI colours (for a terminal). `max_backlog_bytes`:
  // how much may wait for a writer that cannot write (nobody reads stderr) before waiting lines
  // are dropped; their execution records still go to the store.
  LogSink(boost::asio::io_context& io, int fd, bool colour = false, std::size_t max_backlog_bytes = 16 << 20);
  ~LogSink();  // writes what it can (giving up on a stderr nobody reads), then stops its thread
  LogSink(const LogSink&) = delete;
  LogSink& operator=(const LogSink&) = delete;

  // These are called on the event loop's thread; what they are given is printed in call order.
  void write_line(std::string_view line);  // a newline is appended
  // Prints serve_lines(record); the record goes to `store` (when not null) before it is printed.
  void write_execution(store::ExecutionRecord record, store::StoreExecutor* store);
  // Posts `then` to the event loop once every record given so far is with its store (so that a
  // store query made from `then` sees them; unless the store refuses records for now: the
  // StoreExecutor holds those until it takes them).
  void after_stored(std::function<void()> then);
  // Blocks until every record given so far is with its store and its lines are written (or
  // dropped because stderr is not being read for a few seconds).
  void flush();

 private:
  using Entry = std::variant<std::string, std::pair<store::ExecutionRecord, store::StoreExecutor*>>;
  void collect(Entry entry);
  void hand_over();  // event loop → writer thread
  void run();        // the writer thread
  void append(std::string& out, std::string_view line) const;
  bool write_all(const std::string& text);  // false: gave up (stopping, and stderr not writable)
  static std::size_t size_of(const Entry& entry);
  // Gives the entries' records to their stores, in order, then runs (on the event loop) the
  // after_stored() callbacks this satisfies and wakes flush(). `records`: scratch space.
  void pass_to_store(std::vector<Entry>& entries, std::vector<store::ExecutionRecord>& records);
  bool callback_due() const;  // under mutex_: the oldest after_stored() callback can run

  boost::asio::io_context& io_;
  int fd_;
  bool colour_;
  bool may_block_;  // a pipe or terminal (a regular file never blocks a write)
  std::size_t max_backlog_bytes_;
  std::vector<Entry> collected_;  // event loop only
  bool hand_over_scheduled_ = false;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::vector<Entry> inbox_;
  std::size_t inbox_bytes_ = 0;
  std::uint64_t handed_ = 0;     // entries handed over so far
  std::uint64_t forwarded_ = 0;  // of those, how many have had their records passed to the store
  // after_stored() callbacks with the count of entries that must be forwarded first; the
  // counts never decrease, so the oldest is always the first due.
  std::deque<std::pair<std::uint64_t, std::function<void()>>> waiting_for_store_;
  bool busy_ = false;
  bool sleeping_ = false;        // the writer waits without a timeout: a hand-over must wake it
  bool stopping_ = false;
  bool giving_up_ = false;       // flush() or the destructor waited long enough for the writer
  std::size_t unprinted_ = 0;    // entries dropped while the writer was stuck (said when it can write)
  std::thread thread_;
};

}  // namespace sprocket::logs
