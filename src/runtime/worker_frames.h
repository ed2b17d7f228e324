#pragma once
// What a worker sends, read field by field. User code can write to the worker's fd 3, so every
// frame is untrusted input: a field of the wrong type or range is a protocol error that ends
// the instance, never an exception in whatever code happens to read it later.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string_view>
#include <cstdint>
#include <string>
#include <vector>

#include "util/expected.h"

namespace sprocket::runtime {

struct LogLine {
  std::int64_t timestamp_ms = 0;  // Unix time
  std::string level;              // INFO, WARN, ERROR, DEBUG
  std::string text;
};

// The checked fields of a "result" frame; the answer itself (response, valueJson or error)
// stays in the frame, checked for its type here and for its content by whoever maps it.
struct ResultFields {
  std::int64_t id = 0;  // the invocation it answers (required)
  std::vector<LogLine> logs;
  std::int64_t max_rss_kb = 0;
  std::int64_t dropped_log_bytes = 0;
};

// JSON from a worker: a frame, or an action's valueJson. Values may carry what a request
// brought in (1,000 levels of JSON at most, http/request_context.h) a few levels down, so the
// limit is above that, not Boost.JSON's default of 32.
inline constexpr std::size_t kMaxWorkerJsonDepth = 1100;
boost::json::value parse_worker_json(std::string_view text, boost::system::error_code& ec);

// "logs": an array of [timestamp_ms, level, text]; absent means none.
Expected<std::vector<LogLine>, std::string> read_log_lines(const boost::json::value* logs);
// A "result" frame: exactly one of response (object), valueJson (string), error (object).
Expected<ResultFields, std::string> read_result_fields(const boost::json::object& frame);

}  // namespace sprocket::runtime
