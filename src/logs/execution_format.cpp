#include "logs/execution_format.h"

#include <boost/json.hpp>
#include <cmath>
#include <fmt/format.h>

#include "logs/log_format.h"

namespace sprocket::logs {
namespace json = boost::json;

json::object execution_to_json(const store::ExecutionRecord& r) {
  json::array lines;
  for (const auto& l : r.lines) {
    lines.push_back(json::object{
        {"timestamp", iso_timestamp(l.timestamp_ms)}, {"timestampMs", l.timestamp_ms}, {"level", l.level}, {"message", l.text}});
  }
  return json::object{{"id", r.id},
                      {"requestId", r.request_id},
                      {"accountId", r.account_id},
                      {"function", r.function},
                      {"method", r.method},
                      {"path", r.path},
                      {"httpStatus", r.http_status},
                      {"status", r.status},
                      {"executionMs", r.execution_ms},
                      {"queueMs", r.queue_ms},
                      {"memoryMb", r.memory_mb},
                      {"coldStart", r.cold_start},
                      {"createdAt", iso_timestamp(r.started_ms)},
                      {"startedMs", r.started_ms},
                      {"error", r.error},
                      {"lines", lines}};
}

store::ExecutionRecord execution_from_json(const json::object& o) {
  store::ExecutionRecord r;
  auto str = [&](const char* k) { auto* v = o.if_contains(k); return v && v->is_string() ? std::string(v->get_string()) : std::string(); };
  auto num = [&](const char* k) { auto* v = o.if_contains(k); return v && v->is_number() ? v->to_number<double>() : 0.0; };
  r.id = static_cast<std::int64_t>(num("id"));
  r.request_id = str("requestId");
  r.account_id = static_cast<std::int64_t>(num("accountId"));
  r.function = str("function");
  r.method = str("method");
  r.path = str("path");
  r.http_status = static_cast<int>(num("httpStatus"));
  r.status = str("status");
  r.execution_ms = num("executionMs");
  r.queue_ms = num("queueMs");
  r.memory_mb = static_cast<int>(num("memoryMb"));
  auto* cold = o.if_contains("coldStart");
  r.cold_start = cold && cold->is_bool() && cold->get_bool();
  r.started_ms = static_cast<std::int64_t>(num("startedMs"));
  r.error = str("error");
  if (auto* lines = o.if_contains("lines"); lines && lines->is_array()) {
    for (const auto& l : lines->get_array()) {
      if (!l.is_object()) continue;
      const auto& lo = l.get_object();
      store::LogLineRecord line;
      auto* ts = lo.if_contains("timestampMs");
      line.timestamp_ms = ts && ts->is_number() ? ts->to_number<std::int64_t>() : r.started_ms;
      auto* level = lo.if_contains("level");
      auto* message = lo.if_contains("message");
      line.level = level && level->is_string() ? std::string(level->get_string()) : "INFO";
      line.text = message && message->is_string() ? std::string(message->get_string()) : "";
      r.lines.push_back(std::move(line));
    }
  }
  return r;
}

std::string execution_text(const store::ExecutionRecord& r, bool compact) {
  std::string out = execution_line(r.started_ms, r.status, r.method, r.path, std::llround(r.execution_ms));
  // Beyond HubSpot's layout: the id a client saw (X-Request-Id) finds the execution it means.
  if (!r.request_id.empty()) out += " - RequestId: " + r.request_id;
  if (compact) return out;
  for (const auto& l : r.lines) {
    out += '\n';
    out += console_line(l.timestamp_ms, l.level, l.text);
  }
  return out;
}

std::vector<std::string> serve_lines(const store::ExecutionRecord& r) {
  std::vector<std::string> lines;
  lines.reserve(r.lines.size() + 2);
  lines.push_back(execution_line(r.started_ms, r.status, r.method, r.path, std::llround(r.execution_ms)));
  for (const auto& l : r.lines) lines.push_back(console_line(l.timestamp_ms, l.level, l.text));
  std::string memory = r.memory_mb > 0 ? fmt::format(" Max Memory Used: {} MB", r.memory_mb) : std::string();
  lines.push_back(fmt::format("REPORT RequestId: {} Duration: {:.2f} ms Queue: {:.2f} ms{} Cold Start: {}", r.request_id,
                              r.execution_ms, r.queue_ms, memory, r.cold_start ? "yes" : "no"));
  return lines;
}

}  // namespace sprocket::logs
