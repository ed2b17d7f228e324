#include "logs/log_sink.h"

#include <boost/asio/post.hpp>
#include <cerrno>
#include <unistd.h>

#include <utility>

namespace sprocket::logs {

LogSink::LogSink(boost::asio::io_context& io, int fd, bool colour) : io_(io), fd_(fd), colour_(colour) {}

namespace {
// The first marker found in a line decides its colour.
constexpr std::pair<std::string_view, std::string_view> kColours[] = {
    {" - SUCCESS - ", "\x1b[32m"}, {" - ERROR - ", "\x1b[31m"}, {"    ERROR  ", "\x1b[31m"},
    {"    WARN   ", "\x1b[33m"},   {"    DEBUG  ", "\x1b[2m"},  {"REPORT ", "\x1b[2m"}};
}  // namespace

LogSink::~LogSink() { flush(); }

void LogSink::write_line(std::string_view line) {
  std::string_view colour;
  if (colour_) {
    for (const auto& [marker, code] : kColours) {
      if (line.find(marker) != std::string_view::npos) {
        colour = code;
        break;
      }
    }
  }
  buffer_.append(colour);
  buffer_.append(line);
  if (!colour.empty()) buffer_.append("\x1b[0m");
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
