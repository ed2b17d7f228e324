#include "actions/execution_json.h"

#include <boost/json.hpp>

#include "logs/log_format.h"

namespace sprocket::actions {
namespace json = boost::json;

json::object execution_to_json(const store::ActionExecutionRecord& e) {
  auto time_or_null = [](std::int64_t ms) { return ms > 0 ? json::value(logs::iso_timestamp(ms)) : json::value(nullptr); };
  boost::system::error_code ec;
  json::value event = json::parse(e.event_json, ec);
  json::value result = e.result_json.empty() ? json::value(json::object{}) : json::parse(e.result_json, ec);
  json::object out{{"id", e.id},
                   {"accountId", e.account_id},
                   {"action", e.action},
                   {"callbackId", e.callback_id},
                   {"state", e.state},
                   {"attemptCount", e.attempts},
                   {"createdAt", logs::iso_timestamp(e.created_ms)},
                   {"nextAttemptAt", e.state == "queued" ? time_or_null(e.next_run_ms) : json::value(nullptr)},
                   {"finishedAt", time_or_null(e.finished_ms)},
                   // Running: the node that holds its lease (store::ActionLease), as that node's log names it.
                   {"node", e.state == "running" && !e.lease_owner.empty() ? json::value(e.lease_owner) : json::value(nullptr)},
                   {"event", event}};
  const json::object* r = result.is_object() ? &result.get_object() : nullptr;
  for (const char* key : {"outputs", "failure", "error", "problems", "warnings"}) {
    const json::value* v = r ? r->if_contains(key) : nullptr;
    out[key] = v ? *v : json::value(nullptr);
  }
  json::array attempts;
  for (const auto& a : e.attempt_list) {
    json::array lines;
    for (const auto& l : a.lines) {
      lines.push_back(json::object{{"timestamp", logs::iso_timestamp(l.timestamp_ms)}, {"level", l.level}, {"message", l.text}});
    }
    attempts.push_back(json::object{{"number", a.number},
                                    {"outcome", a.outcome},
                                    {"startedAt", logs::iso_timestamp(a.started_ms)},
                                    {"startedMs", a.started_ms},
                                    {"finishedAt", time_or_null(a.finished_ms)},
                                    {"durationMs", a.duration_ms},
                                    {"memoryMb", a.memory_mb},
                                    {"error", a.error.empty() ? json::value(nullptr) : json::value(a.error)},
                                    {"retryDelayMs", a.retry_delay_ms > 0 ? json::value(a.retry_delay_ms) : json::value(nullptr)},
                                    {"logs", lines}});
  }
  out["attempts"] = std::move(attempts);
  return out;
}

}  // namespace sprocket::actions
