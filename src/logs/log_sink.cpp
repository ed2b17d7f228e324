#include "logs/log_sink.h"

#include <boost/asio/post.hpp>
#include <cerrno>
#include <unistd.h>

namespace sprocket::logs {

LogSink::LogSink(boost::asio::io_context& io, int fd) : io_(io), fd_(fd) {}

LogSink::~LogSink() { flush(); }

void LogSink::write_line(std::string_view line) {
  buffer_.append(line);
  buffer_ += '\n';
  if (!flush_scheduled_) {
    flush_scheduled_ = true;
    boost::asio::post(io_, [this] { flush(); });
  }
}

void LogSink::flush() {
  flush_scheduled_ = false;
  std::size_t offset = 0;
  while (offset < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + offset, buffer_.size() - offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // nowhere to write logs: drop them rather than stall serving
    }
    offset += static_cast<std::size_t>(n);
  }
  buffer_.clear();
}

}  // namespace sprocket::logs
