#include "logs/log_format.h"

#include <ctime>
#include <fmt/format.h>
#include <utility>

namespace sprocket::logs {

std::string iso_timestamp(std::int64_t unix_ms) {
  // Log lines come in bursts within the same second: format its date and time once.
  thread_local std::int64_t cached_second = -1;
  thread_local char prefix[24];
  std::int64_t second = unix_ms / 1000;
  if (second != cached_second) {
    std::time_t t = static_cast<std::time_t>(second);
    std::tm tm{};
    gmtime_r(&t, &tm);
    fmt::format_to_n(prefix, sizeof prefix, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_second = second;
  }
  std::string out(prefix, 20);
  int ms = static_cast<int>(unix_ms % 1000);
  out += static_cast<char>('0' + ms / 100);
  out += static_cast<char>('0' + ms / 10 % 10);
  out += static_cast<char>('0' + ms % 10);
  out += 'Z';
  return out;
}

std::string execution_line(std::int64_t start_unix_ms, std::string_view status, std::string_view method,
                           std::string_view path, std::int64_t execution_ms) {
  return fmt::format("{} - {} - {} {} - Execution Time: {}ms", iso_timestamp(start_unix_ms), status, method, path,
                     execution_ms);
}

std::string console_line(std::int64_t unix_ms, std::string_view level, std::string_view text) {
  std::string out = iso_timestamp(unix_ms);
  out.reserve(out.size() + 11 + text.size());
  out += "    ";
  out += level;
  out.append(level.size() < 5 ? 5 - level.size() : 0, ' ');
  out += "  ";
  out += text;
  return out;
}

std::string_view line_colour(std::string_view line) {
  // The first marker found in a line decides its colour.
  constexpr std::pair<std::string_view, std::string_view> kColours[] = {
      {" - SUCCESS - ", "\x1b[32m"}, {" - ERROR - ", "\x1b[31m"}, {"    ERROR  ", "\x1b[31m"},
      {"    WARN   ", "\x1b[33m"},   {"    DEBUG  ", "\x1b[2m"},  {"REPORT ", "\x1b[2m"}};
  for (const auto& [marker, code] : kColours) {
    if (line.find(marker) != std::string_view::npos) return code;
  }
  return {};
}

}  // namespace sprocket::logs
