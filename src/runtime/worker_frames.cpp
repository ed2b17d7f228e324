#include "runtime/worker_frames.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <limits>

namespace sprocket::runtime {
namespace json = boost::json;

namespace {

// Far beyond any real figure, and far from overflowing the arithmetic done with it.
constexpr std::int64_t kMaxCount = std::int64_t{1} << 50;

// A JSON integer from 0 to kMaxCount; the workers never send fractions or negative counts.
Expected<std::int64_t, std::string> non_negative_integer(const json::object& frame, std::string_view key) {
  const json::value* v = frame.if_contains(key);
  if (!v) return std::int64_t{0};
  if (v->is_int64() && v->get_int64() >= 0 && v->get_int64() <= kMaxCount) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(kMaxCount)) return static_cast<std::int64_t>(v->get_uint64());
  return Unexpected{fmt::format("{} must be an integer from 0 to 2^50, not {}", key, json::serialize(*v).substr(0, 40))};
}

bool known_level(std::string_view level) { return level == "INFO" || level == "WARN" || level == "ERROR" || level == "DEBUG"; }

}  // namespace

json::value parse_worker_json(std::string_view text, boost::system::error_code& ec) {
  json::parse_options options;
  options.max_depth = kMaxWorkerJsonDepth;
  return json::parse(text, ec, json::storage_ptr(), options);
}

Expected<std::vector<LogLine>, std::string> read_log_lines(const json::value* logs) {
  std::vector<LogLine> out;
  if (!logs) return out;
  if (!logs->is_array()) return Unexpected{std::string("logs must be an array of [timestamp, level, text]")};
  out.reserve(logs->get_array().size());
  for (const auto& entry : logs->get_array()) {
    const json::array* a = entry.if_array();
    if (!a || a->size() != 3) return Unexpected{std::string("each log line must be [timestamp, level, text]")};
    const json::value& ts = (*a)[0];
    std::int64_t timestamp = 0;
    if (ts.is_int64()) timestamp = ts.get_int64();
    else if (ts.is_uint64() && ts.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      timestamp = static_cast<std::int64_t>(ts.get_uint64());
    } else {
      return Unexpected{std::string("a log line's timestamp must be an integer of milliseconds")};
    }
    if (!(*a)[1].is_string() || !known_level((*a)[1].get_string())) {
      return Unexpected{std::string("a log line's level must be INFO, WARN, ERROR or DEBUG")};
    }
    if (!(*a)[2].is_string()) return Unexpected{std::string("a log line's text must be a string")};
    out.push_back(LogLine{timestamp, std::string((*a)[1].get_string()), std::string((*a)[2].get_string())});
  }
  return out;
}

Expected<ResultFields, std::string> read_result_fields(const json::object& frame) {
  ResultFields fields;
  if (!frame.contains("id")) return Unexpected{std::string("a result must carry the id of its invocation")};
  auto id = non_negative_integer(frame, "id");
  if (!id) return Unexpected{id.error()};
  fields.id = *id;
  auto logs = read_log_lines(frame.if_contains("logs"));
  if (!logs) return Unexpected{logs.error()};
  fields.logs = std::move(*logs);
  auto rss = non_negative_integer(frame, "maxRssKb");
  if (!rss) return Unexpected{rss.error()};
  fields.max_rss_kb = *rss;
  auto dropped = non_negative_integer(frame, "droppedLogBytes");
  if (!dropped) return Unexpected{dropped.error()};
  fields.dropped_log_bytes = *dropped;

  const json::value* response = frame.if_contains("response");
  const json::value* value_json = frame.if_contains("valueJson");
  const json::value* error = frame.if_contains("error");
  if ((response != nullptr) + (value_json != nullptr) + (error != nullptr) != 1) {
    return Unexpected{std::string("a result carries exactly one of response, valueJson and error")};
  }
  if (response && !response->is_object()) return Unexpected{std::string("response must be an object")};
  if (value_json && !value_json->is_string()) return Unexpected{std::string("valueJson must be a string")};
  if (error) {
    if (!error->is_object()) return Unexpected{std::string("error must be an object")};
    for (std::string_view key : {"name", "message", "stack", "retry"}) {
      const json::value* v = error->get_object().if_contains(key);
      if (v && !v->is_string()) return Unexpected{fmt::format("error.{} must be a string", key)};
    }
  }
  return fields;
}

}  // namespace sprocket::runtime
