#pragma once
// Where `serve` prints execution records and its other lines: stderr. The event loop only
// collects what is to be printed; at the end of each turn it hands the lot to the sink's own
// thread, which formats execution records, writes, and then passes the records on to the store.
// The request path pays for neither the formatting nor the write system call.
#include <boost/asio/io_context.hpp>
#include <condition_variable>
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
  // `colour`: mark statuses and levels with ANSI colours (for a terminal). `max_backlog`:
  // how many entries may wait for a writer that cannot write (nobody reads stderr) before
  // further lines are dropped (execution records still go to their store).
  LogSink(boost::asio::io_context& io, int fd, bool colour = false, std::size_t max_backlog = 100'000);
  ~LogSink();  // writes everything collected, then stops its thread
  LogSink(const LogSink&) = delete;
  LogSink& operator=(const LogSink&) = delete;

  // Both are called on the event loop's thread; what they are given is printed in call order.
  void write_line(std::string_view line);  // a newline is appended
  // Prints serve_lines(record), then hands the record to `store` (when not null).
  void write_execution(store::ExecutionRecord record, store::StoreExecutor* store);
  // Blocks until everything given so far is written and its records are with their store.
  void flush();

 private:
  using Entry = std::variant<std::string, std::pair<store::ExecutionRecord, store::StoreExecutor*>>;
  void collect(Entry entry);
  void hand_over();  // event loop → writer thread
  void run();        // the writer thread
  void append(std::string& out, std::string_view line) const;

  boost::asio::io_context& io_;
  int fd_;
  bool colour_;
  std::size_t max_backlog_;
  std::vector<Entry> collected_;  // event loop only
  bool hand_over_scheduled_ = false;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::vector<Entry> inbox_;
  bool busy_ = false;
  bool sleeping_ = false;  // the writer waits without a timeout: a hand-over must wake it
  std::size_t unprinted_ = 0;  // entries dropped while the writer was stuck (said when it can write)
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sprocket::logs
