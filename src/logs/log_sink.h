#pragma once
// Where `serve` prints execution records: stderr, written in batches after the current
// event-loop turn so that the request path never waits on the terminal or a pipe.
#include <boost/asio/io_context.hpp>
#include <string>
#include <string_view>

namespace sprocket::logs {

class LogSink {
 public:
  // `colour`: mark statuses and levels with ANSI colours (for a terminal).
  LogSink(boost::asio::io_context& io, int fd, bool colour = false);
  ~LogSink();
  void write_line(std::string_view line);  // a newline is appended
  void flush();

 private:
  boost::asio::io_context& io_;
  int fd_;
  bool colour_;
  std::string buffer_;
  bool flush_scheduled_ = false;
};

}  // namespace sprocket::logs
