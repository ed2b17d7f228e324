#pragma once
// HubSpot's log line formats.
#include <cstdint>
#include <string>
#include <string_view>

namespace sprocket::logs {

// 2021-04-28T19:19:21.666Z
std::string iso_timestamp(std::int64_t unix_ms);

// "2021-04-28T19:19:21.666Z - SUCCESS - GET /_hcms/api/hello - Execution Time: 279ms"
std::string execution_line(std::int64_t start_unix_ms, std::string_view status, std::string_view method,
                           std::string_view path, std::int64_t execution_ms);

// "2021-04-28T19:15:13.200Z    INFO   Log some debug info"
std::string console_line(std::int64_t unix_ms, std::string_view level, std::string_view text);

// The ANSI colour that marks one of the lines above on a terminal (green SUCCESS, red ERROR,
// yellow WARN, dim DEBUG and REPORT); empty for a line left plain. Ends with kColourReset.
std::string_view line_colour(std::string_view line);
inline constexpr std::string_view kColourReset = "\x1b[0m";

}  // namespace sprocket::logs
