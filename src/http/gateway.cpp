#include "http/gateway.h"
#include "util/request_id.h"

#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <fmt/format.h>

#include "util/json_text.h"
#include "logs/log_format.h"
#include "runtime/frame_codec.h"
#include "secrets/secret_values.h"
#include "util/clock.h"

namespace sprocket::http {
namespace json = boost::json;
namespace beast_http = boost::beast::http;
using runtime::InvocationReport;
using runtime::InvocationResult;
using runtime::LogLine;

namespace {

Response json_response(unsigned status, std::string body) {
  Response response{static_cast<beast_http::status>(status), 11};
  response.set(beast_http::field::content_type, "application/json; charset=utf-8");
  response.body() = std::move(body);
  return response;
}

std::string allowed_methods(const config::FunctionSpec& spec) {
  std::string allow;
  for (const auto& m : spec.methods) {
    if (!allow.empty()) allow += ", ";
    allow += m;
  }
  bool has_get = std::find(spec.methods.begin(), spec.methods.end(), "GET") != spec.methods.end();
  if (has_get) allow += ", HEAD";
  allow += ", OPTIONS";
  return allow;
}

bool method_allowed(const config::FunctionSpec& spec, std::string_view method) {
  if (method == "HEAD") method = "GET";
  return std::find(spec.methods.begin(), spec.methods.end(), method) != spec.methods.end();
}

Response preflight(std::string_view allow, const Request& request) {
  Response response{beast_http::status::no_content, 11};
  response.set(beast_http::field::access_control_allow_methods, allow);
  auto requested = request.find(beast_http::field::access_control_request_headers);
  response.set(beast_http::field::access_control_allow_headers,
               requested != request.end() ? std::string(requested->value()) : std::string("Content-Type"));
  response.set(beast_http::field::access_control_max_age, "86400");
  return response;
}

std::string string_field(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// "Error: boom" as the thrown error prints itself, plus its stack for the log.
struct ThrownError {
  std::string summary;
  std::string stack;
};

ThrownError thrown_error(const json::object& frame) {
  ThrownError e;
  const json::value* error = frame.if_contains("error");
  if (!error || !error->is_object()) return {"Error: unknown error", "Error: unknown error"};
  std::string name = string_field(error->get_object(), "name");
  std::string message = string_field(error->get_object(), "message");
  e.summary = name.empty() ? message : message.empty() ? name : name + ": " + message;
  e.stack = string_field(error->get_object(), "stack");
  if (e.stack.empty()) e.stack = e.summary;
  return e;
}

// The error body HubSpot's UI-extension client expects from an app function call.
Response app_function_error(unsigned status, std::string_view function, std::string_view exception, std::string_view request_id,
                            std::string_view sub_category, std::string_view message) {
  json::object error_entry{
      {"subCategory", sub_category},
      {"message", message},
      {"context",
       {{"exception", json::array{json::string(exception)}},
        {"logId", json::array{json::string(request_id)}},
        {"appFunctionLogId", json::array{json::string(request_id)}},
        {"serverlessFunction", json::array{json::string(function)}}}}};
  json::object body{{"status", "error"},
                    {"message", "There was a problem reaching the app's API. Contact the app developer for more information."},
                    {"correlationId", request_id},
                    {"errors", json::array{error_entry}},
                    {"category", "VALIDATION_ERROR"},
                    {"subCategory", "GenXExecutionErrorType.APP_ERROR"}};
  return json_response(status, json::serialize(body));
}

Response function_failure(std::string_view function, std::string_view exception, std::string_view request_id) {
  return app_function_error(400, function, exception, request_id, "ServerlessActionExecutionError.SERVERLESS_FUNCTION_ERROR",
                            fmt::format("The serverless function '{}' failed to execute: {}", function, exception));
}

// {"type":"invoke",…} framed for the worker (docs/protocol.md), built without a JSON DOM.
std::string invoke_frame(std::uint64_t id, std::string_view mode, std::string_view context_json) {
  std::string frame = runtime::begin_frame();
  frame.reserve(64 + context_json.size());
  frame += "{\"type\":\"invoke\",\"id\":";
  frame += std::to_string(id);
  frame += ",\"mode\":\"";
  frame += mode;
  frame += "\",\"context\":";
  frame += context_json;
  frame += '}';
  runtime::finish_frame(frame);
  return frame;
}

}  // namespace

Response error_response(unsigned status, std::string_view category, std::string_view message, std::string_view request_id) {
  // An error found before there is a request of its own (a malformed request, a refused admin
  // call) still gets an id, in the body and the header, as every response does. One generator
  // per thread: the admin API and the gateway answer on threads of their own.
  std::string made;
  if (request_id.empty()) {
    thread_local util::RequestIdGenerator ids;
    made = ids.next();
    request_id = made;
  }
  std::string body = "{\"status\":\"error\",\"message\":";
  util::append_json_string(body, message);
  body += ",\"category\":";
  util::append_json_string(body, category);
  body += ",\"requestId\":";
  util::append_json_string(body, request_id);
  body += '}';
  Response response = json_response(status, std::move(body));
  if (!made.empty()) response.set("X-Request-Id", made);
  return response;
}

Gateway::Gateway(accounts::Deployment& deployment, std::shared_ptr<Generation> generation, logs::LogSink& log,
                 GatewaySettings settings, ExecutionSinks sinks)
    : deployment_(deployment), generation_(std::move(generation)), log_(log), settings_(settings), sinks_(sinks) {}

void Gateway::activate(std::shared_ptr<Generation> generation) { generation_ = std::move(generation); }

Limits Gateway::current_limits(const Generation& gen, std::size_t function_index) {
  auto& account = deployment_.accounts[gen.catalog.functions[function_index].account_index];
  auto now = accounts::AccountBudget::Clock::now();
  return Limits{account.budget->executions_remaining(now, gen.dispatcher->time_limit(function_index)),
                account.budget->time_remaining_ms(now)};
}

std::optional<Response> Gateway::refuse_if_budget_spent(std::size_t account_index, const std::string& request_id) {
  auto& account = deployment_.accounts[account_index];
  auto admission = account.budget->check(accounts::AccountBudget::Clock::now());
  if (admission.admitted) return std::nullopt;
  if (sinks_.metrics) sinks_.metrics->rejected("budget");
  std::string why = std::string_view(admission.reason) == "EXECUTIONS"
                        ? fmt::format("{} executions per minute", *account.limits.executions_per_minute)
                        : fmt::format("{} execution-seconds per minute", account.limits.execution_seconds_per_minute);
  auto response = error_response(429, "RATE_LIMITED",
                                 fmt::format("Account {} has used its budget of {}. Retry after {} s.", account.id, why,
                                             admission.retry_after.count()),
                                 request_id);
  response.set(beast_http::field::retry_after, std::to_string(admission.retry_after.count()));
  return response;
}

// Nothing runs on the event loop between the check and this, and time only frees budget, so the
// check's answer still holds (with a shared budget, a sync in between may have brought other
// nodes' executions: those are the overshoot docs/scale-out.md allows).
void Gateway::count_execution(std::size_t account_index) {
  deployment_.accounts[account_index].budget->count_execution(accounts::AccountBudget::Clock::now());
}

void Gateway::handle(Request request, std::string remote_address, Respond respond) {
  std::string request_id = request_ids_.next();
  // Every answer, the function's or the gateway's, carries the request id and HubSpot's CORS header.
  Respond finish = [request_id, respond = std::move(respond)](Response response) {
    response.set("X-Request-Id", request_id);
    if (response.find(beast_http::field::access_control_allow_origin) == response.end()) {
      response.set(beast_http::field::access_control_allow_origin, "*");
    }
    respond(std::move(response));
  };
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  bool is_options = request.method() == beast_http::verb::options;
  auto host = request.find(beast_http::field::host);
  std::size_t account = deployment_.account_for_host(host == request.end() ? std::string_view() : std::string_view(host->value()));

  if (path.substr(0, kAppFunctionPrefix.size()) == kAppFunctionPrefix) {
    if (is_options) return finish(preflight("POST, OPTIONS", request));
    if (request.method() != beast_http::verb::post) {
      auto response = error_response(405, "METHOD_NOT_ALLOWED", fmt::format("{} is not allowed here; app functions are called with POST", request.method_string()), request_id);
      response.set(beast_http::field::allow, "POST, OPTIONS");
      return finish(std::move(response));
    }
    return handle_app_function(generation_, account, request, remote_address, request_id, finish);
  }

  const auto& gen = generation_;
  auto index = gen->routers[account].find_route(path);
  if (!index) {
    return finish(error_response(404, "NOT_FOUND",
                                 fmt::format("No function is served at {}. Endpoints live under /_hcms/api/NAME (design manager) "
                                             "and /hs/serverless/PATH (projects).",
                                             path),
                                 request_id));
  }
  const auto& spec = gen->catalog.functions[*index];
  if (is_options) return finish(preflight(allowed_methods(spec), request));
  if (!method_allowed(spec, request.method_string())) {
    auto response = error_response(405, "METHOD_NOT_ALLOWED",
                                   fmt::format("{} is not allowed on {}; serverless.json allows {}", request.method_string(), path,
                                               fmt::join(spec.methods, ", ")),
                                   request_id);
    response.set(beast_http::field::allow, allowed_methods(spec));
    return finish(std::move(response));
  }
  handle_endpoint(gen, account, *index, request, remote_address, request_id, finish);
}

void Gateway::handle_endpoint(const std::shared_ptr<Generation>& gen, std::size_t account, std::size_t index, Request& request,
                              std::string_view remote, const std::string& request_id, Respond& respond) {
  // A spent budget is refused before the query string and body are parsed, which costs as much
  // as the request is large; a request refused as invalid is not counted as an execution.
  if (auto refused = refuse_if_budget_spent(account, request_id)) return respond(std::move(*refused));
  const auto& spec = gen->catalog.functions[index];
  ContextInputs inputs{deployment_.accounts[account].id, spec.endpoint, remote, settings_.trust_proxy, current_limits(*gen, index)};
  auto context = build_endpoint_context(request, inputs);
  if (!context) return respond(error_response(context.error().status, context.error().category, context.error().message, request_id));
  count_execution(account);
  Execution execution{gen, index, request_id, std::string(request.method_string()),
                      std::string(request.target().substr(0, request.target().find('?'))), util::unix_now_ms(), false};
  std::uint64_t id = next_invocation_id_++;
  run(std::move(execution), id, invoke_frame(id, "endpoint", *context), std::move(respond));
}

void Gateway::handle_app_function(const std::shared_ptr<Generation>& gen, std::size_t account, Request& request,
                                  std::string_view remote, const std::string& request_id, Respond& respond) {
  // The function's name is in the body, but the budget is the account's (known from the Host
  // header), so a spent budget is refused before the body is parsed, as for endpoints.
  if (auto refused = refuse_if_budget_spent(account, request_id)) return respond(std::move(*refused));
  ContextInputs inputs{deployment_.accounts[account].id, {}, remote, settings_.trust_proxy, {}};
  auto call = build_app_function_context(request, inputs);
  if (!call) {
    return respond(app_function_error(400, "", call.error().message, request_id, "ServerlessActionExecutionError.INVALID_REQUEST",
                                      call.error().message));
  }
  auto index = gen->routers[account].find_app_function(call->function_name);
  if (!index) {
    std::string message = fmt::format("App function \"{}\" is not declared in any serverless.json served here", call->function_name);
    return respond(app_function_error(400, call->function_name, message, request_id,
                                      "AppFunctionsExecutorErrorType.SERVERLESS_FUNCTION_NOT_FOUND", message));
  }
  // The budget figures are known only now that the function (and so its time limit) is.
  Limits limits = current_limits(*gen, *index);
  call->context["limits"] = {{"executionsRemaining", limits.executions_remaining}, {"timeRemaining", limits.time_remaining_ms}};
  count_execution(account);
  Execution execution{gen, *index, request_id, "POST", std::string(request.target().substr(0, request.target().find('?'))),
                      util::unix_now_ms(), true};
  std::uint64_t id = next_invocation_id_++;
  run(std::move(execution), id, invoke_frame(id, "app", json::serialize(call->context)), std::move(respond));
}

void Gateway::run(Execution execution, std::uint64_t invocation_id, std::string frame, Respond respond) {
  std::size_t index = execution.function_index;
  auto& dispatcher = *execution.generation->dispatcher;
  ++in_flight_;
  last_exchange_ = std::chrono::steady_clock::now();
  dispatcher.invoke(index, invocation_id, std::move(frame),
                     [this, execution = std::move(execution), respond = std::move(respond)](InvocationReport report) {
                       --in_flight_;
                       last_exchange_ = std::chrono::steady_clock::now();
                       std::vector<LogLine> notes;  // the gateway's own lines about this execution
                       Response response = execution.app_function ? app_answer(execution, report, notes)
                                                                  : endpoint_answer(execution, report, notes);
                       bool success = execution.app_function ? response.result_int() == 200 : response.result_int() < 500;
                       record(execution, report, success, static_cast<int>(response.result_int()), notes);
                       respond(std::move(response));
                     });
}

namespace {

// HubSpot (AWS Lambda) refuses responses over 6 MB, as it refuses requests.
constexpr std::size_t kMaxResponseBytes = 6 * 1024 * 1024;

void note(std::vector<LogLine>& notes, std::string_view level, std::string text) {
  notes.push_back(LogLine{util::unix_now_ms(), std::string(level), std::move(text)});
}

// What a failure that is not the function's answer means, for the log.
std::string failure_note(const InvocationResult& result) {
  if (result.outcome == InvocationResult::Outcome::Crashed) {
    return result.frame.contains("loadError") ? "The function could not be loaded: " + result.detail
                                              : "The function's process died: " + result.detail;
  }
  return result.detail;
}

}  // namespace

Response Gateway::endpoint_answer(const Execution& e, const InvocationReport& report, std::vector<LogLine>& notes) {
  const auto& result = report.result;
  const std::string& id = e.request_id;
  switch (result.outcome) {
    case InvocationResult::Outcome::Answered: {
      const json::value* answer = result.frame.if_contains("response");
      if (!answer || !answer->is_object()) {
        note(notes, "ERROR", "Invalid response: the worker sent no response");
        return error_response(500, "INVALID_RESPONSE", "The function's response could not be sent.", id);
      }
      auto mapped = map_function_response(answer->get_object());
      if (!mapped) {
        note(notes, "ERROR", "Invalid response: " + mapped.error());
        // The reason quotes what the function sent, which may hold a secret or be huge: the
        // client gets it redacted and cut short; the log (redacted when stored) has it whole.
        std::string why = secrets::redact(mapped.error(), e.generation->dispatcher->exposed_secrets(e.function_index));
        if (why.size() > 300) {
          std::size_t cut = 300;
          while (cut > 0 && (static_cast<unsigned char>(why[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
          why = why.substr(0, cut) + "…";
        }
        return error_response(500, "INVALID_RESPONSE", "The function's response could not be sent: " + why, id);
      }
      for (auto& w : mapped->warnings) note(notes, "WARN", std::move(w));
      if (mapped->response.body().size() > kMaxResponseBytes) {
        std::string why = fmt::format("The function's response body is {} bytes; the limit is {} bytes (6 MB)",
                                      mapped->response.body().size(), kMaxResponseBytes);
        note(notes, "ERROR", why);
        return error_response(502, "RESPONSE_TOO_LARGE", why, id);
      }
      return std::move(mapped->response);
    }
    case InvocationResult::Outcome::Threw:
      note(notes, "ERROR", thrown_error(result.frame).stack);
      return error_response(500, "FUNCTION_ERROR",
                            fmt::format("The function failed with an uncaught error. Its logs for request {} have the details.", id), id);
    case InvocationResult::Outcome::TimedOut:
      note(notes, "ERROR", result.detail);
      return error_response(504, "TIMEOUT", result.detail, id);
    case InvocationResult::Outcome::OutOfMemory:
      note(notes, "ERROR", result.detail);
      return error_response(502, "MEMORY_LIMIT_EXCEEDED", result.detail + "; the function's instance was stopped.", id);
    case InvocationResult::Outcome::QueueFull: {
      note(notes, "WARN", "Not run: " + result.detail);
      auto response = error_response(429, "TOO_MANY_REQUESTS",
                                     "The function is busy: " + result.detail + ". Retry shortly.", id);
      response.set(beast_http::field::retry_after, "1");
      return response;
    }
    case InvocationResult::Outcome::QueueTimeout: {
      note(notes, "WARN", "Not run: " + result.detail);
      auto response = error_response(503, "NO_INSTANCE_AVAILABLE", "The function is busy: " + result.detail + ".", id);
      response.set(beast_http::field::retry_after, "1");
      return response;
    }
    case InvocationResult::Outcome::NotStarted:  // the pool runs these elsewhere; never seen here
    case InvocationResult::Outcome::Crashed:
      note(notes, "ERROR", failure_note(result));
      if (result.frame.contains("loadError")) {
        return error_response(500, "FUNCTION_LOAD_ERROR",
                              fmt::format("The function could not be loaded. Its logs for request {} have the details.", id), id);
      }
      return error_response(502, "WORKER_CRASHED",
                            "The function's process ended while handling this request (" + result.detail + ").", id);
  }
  return error_response(500, "INTERNAL", "unexpected outcome", id);
}

Response Gateway::app_answer(const Execution& e, const InvocationReport& report, std::vector<LogLine>& notes) {
  const auto& result = report.result;
  const auto& name = e.generation->catalog.functions[e.function_index].name;
  switch (result.outcome) {
    case InvocationResult::Outcome::Answered: {
      std::string body = "{\"logId\":";
      util::append_json_string(body, e.request_id);
      body += ",\"response\":";
      std::string value = string_field(result.frame, "valueJson");
      body += value.empty() ? "null" : value;
      body += '}';
      return json_response(200, std::move(body));
    }
    case InvocationResult::Outcome::Threw: {
      auto error = thrown_error(result.frame);
      note(notes, "ERROR", error.stack);
      // HubSpot puts the error's text in the body; never a secret's value.
      return function_failure(name, secrets::redact(error.summary, e.generation->dispatcher->exposed_secrets(e.function_index)),
                              e.request_id);
    }
    case InvocationResult::Outcome::TimedOut:
      note(notes, "ERROR", result.detail);
      return function_failure(name, fmt::format("{} {} {}", logs::iso_timestamp(util::unix_now_ms()), e.request_id, result.detail),
                              e.request_id);
    case InvocationResult::Outcome::QueueFull:
    case InvocationResult::Outcome::QueueTimeout: {
      note(notes, "WARN", "Not run: " + result.detail);
      auto response = function_failure(name, result.detail, e.request_id);
      response.result(result.outcome == InvocationResult::Outcome::QueueFull ? 429 : 503);
      response.set(beast_http::field::retry_after, "1");
      return response;
    }
    case InvocationResult::Outcome::OutOfMemory:
    case InvocationResult::Outcome::NotStarted:
    case InvocationResult::Outcome::Crashed:
      note(notes, "ERROR", failure_note(result));
      return function_failure(name, failure_note(result), e.request_id);
  }
  return function_failure(name, "unexpected outcome", e.request_id);
}

void Gateway::record(const Execution& e, InvocationReport& report, bool success, int http_status, std::vector<LogLine>& notes) {
  auto& result = report.result;
  const auto& spec = e.generation->catalog.functions[e.function_index];
  auto& account = deployment_.accounts[spec.account_index];
  const auto& secrets = e.generation->dispatcher->exposed_secrets(e.function_index);
  using Outcome = InvocationResult::Outcome;
  bool ran = result.outcome != Outcome::QueueFull && result.outcome != Outcome::QueueTimeout;
  if (ran) {
    account.budget->charge(accounts::AccountBudget::Clock::now(),
                           std::chrono::microseconds(std::llround(report.execution_ms * 1000)));
  }
  std::int64_t started = e.received_unix_ms + std::llround(report.queue_ms);
  int memory_mb = static_cast<int>((result.max_rss_kb + 1023) / 1024);
  store::ExecutionRecord stored;
  stored.request_id = e.request_id;
  stored.account_id = account.id;
  stored.function = spec.name;
  stored.method = e.method;
  stored.path = e.path;
  stored.status = success ? "SUCCESS" : "ERROR";
  stored.http_status = http_status;
  stored.execution_ms = report.execution_ms;
  stored.queue_ms = report.queue_ms;
  stored.memory_mb = memory_mb;
  stored.cold_start = report.cold_start;
  stored.started_ms = started;
  stored.lines.reserve(result.logs.size() + notes.size() + 1);
  auto keep = [&](LogLine&& line) {
    secrets::redact_in_place(line.text, secrets);
    stored.lines.push_back({line.timestamp_ms, std::move(line.level), std::move(line.text)});
  };

  // HubSpot keeps 4 KB of a function's output per execution; sprocket's own notes always show.
  std::size_t budget = account.limits.log_bytes_per_execution;
  std::size_t used = 0, dropped = static_cast<std::size_t>(result.dropped_log_bytes);
  bool overflowed = false;
  for (auto& line : result.logs) {
    overflowed = overflowed || used + line.text.size() > budget;
    if (!overflowed) {
      used += line.text.size();
      keep(std::move(line));
    } else {
      dropped += line.text.size();
    }
  }
  if (dropped > 0) {
    keep(LogLine{util::unix_now_ms(), "WARN",
                 fmt::format("Log output truncated: {} bytes dropped (the limit is {} bytes per execution)", dropped, budget)});
  }
  for (auto& line : notes) {
    bool error = line.level == "ERROR";
    keep(std::move(line));
    if (error && stored.error.empty()) stored.error = stored.lines.back().text;
  }
  if (sinks_.metrics) {
    std::string function = fmt::format("{}/{}", account.id, spec.name);
    if (ran) sinks_.metrics->execution(function, stored.http_status, report.execution_ms / 1000, report.queue_ms / 1000, report.cold_start);
    if (result.outcome == Outcome::QueueFull) sinks_.metrics->rejected("queue_full");
    if (result.outcome == Outcome::QueueTimeout) sinks_.metrics->rejected("queue_timeout");
    if (result.outcome == Outcome::OutOfMemory) sinks_.metrics->memory_kill();
    if (result.outcome == Outcome::TimedOut) sinks_.metrics->timeout();
  }
  if (sinks_.observe) sinks_.observe(stored);
  // Printed (logs::serve_lines) and then stored, both off the event loop.
  log_.write_execution(std::move(stored), sinks_.store);
}

void Gateway::log_stray_lines(const Generation& generation, std::size_t function_index, const std::vector<LogLine>& lines) {
  const auto& secrets = generation.dispatcher->exposed_secrets(function_index);
  for (const auto& line : lines) {
    log_.write_line(logs::console_line(line.timestamp_ms, line.level, secrets::redact(line.text, secrets)));
  }
}

}  // namespace sprocket::http
