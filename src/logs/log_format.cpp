#include "logs/log_format.h"

#include <ctime>
#include <fmt/format.h>

namespace sprocket::logs {

std::string iso_timestamp(std::int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
}

std::string execution_line(std::int64_t start_unix_ms, std::string_view status, std::string_view method,
                           std::string_view path, std::int64_t execution_ms) {
  return fmt::format("{} - {} - {} {} - Execution Time: {}ms", iso_timestamp(start_unix_ms), status, method, path,
                     execution_ms);
}

std::string console_line(std::int64_t unix_ms, std::string_view level, std::string_view text) {
  return fmt::format("{}    {:<5}  {}", iso_timestamp(unix_ms), level, text);
}

}  // namespace sprocket::logs
