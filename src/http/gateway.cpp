#include "http/gateway.h"

#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <fmt/format.h>

#include "http/json_text.h"
#include "logs/log_format.h"
#include "runtime/frame_codec.h"

namespace sprocket::http {
namespace json = boost::json;
namespace beast_http = boost::beast::http;
using runtime::InvocationReport;
using runtime::InvocationResult;
using runtime::LogLine;

namespace {

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

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
  std::string body = "{\"status\":\"error\",\"message\":";
  append_json_string(body, message);
  body += ",\"category\":";
  append_json_string(body, category);
  body += ",\"requestId\":";
  append_json_string(body, request_id);
  body += '}';
  return json_response(status, std::move(body));
}

Gateway::Gateway(const config::Catalog& catalog, runtime::Dispatcher& dispatcher, logs::LogSink& log, GatewaySettings settings)
    : catalog_(catalog), dispatcher_(dispatcher), log_(log), settings_(settings), router_(catalog.functions) {}

Limits Gateway::current_limits() const {
  // HubSpot's per-account budget: 600 execution-seconds per minute. Static until budgets are
  // enforced (see docs/limits.md).
  return Limits{6000, 600'000};
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

  if (path.substr(0, kAppFunctionPrefix.size()) == kAppFunctionPrefix) {
    if (is_options) return finish(preflight("POST, OPTIONS", request));
    if (request.method() != beast_http::verb::post) {
      auto response = error_response(405, "METHOD_NOT_ALLOWED", fmt::format("{} is not allowed here; app functions are called with POST", request.method_string()), request_id);
      response.set(beast_http::field::allow, "POST, OPTIONS");
      return finish(std::move(response));
    }
    return handle_app_function(request, remote_address, request_id, finish);
  }

  auto index = router_.find_route(path);
  if (!index) {
    return finish(error_response(404, "NOT_FOUND",
                                 fmt::format("No function is served at {}. Endpoints live under /_hcms/api/NAME (design manager) "
                                             "and /hs/serverless/PATH (projects).",
                                             path),
                                 request_id));
  }
  const auto& spec = catalog_.functions[*index];
  if (is_options) return finish(preflight(allowed_methods(spec), request));
  if (!method_allowed(spec, request.method_string())) {
    auto response = error_response(405, "METHOD_NOT_ALLOWED",
                                   fmt::format("{} is not allowed on {}; serverless.json allows {}", request.method_string(), path,
                                               fmt::join(spec.methods, ", ")),
                                   request_id);
    response.set(beast_http::field::allow, allowed_methods(spec));
    return finish(std::move(response));
  }
  handle_endpoint(*index, request, remote_address, request_id, finish);
}

void Gateway::handle_endpoint(std::size_t index, Request& request, std::string_view remote, const std::string& request_id,
                              Respond& respond) {
  const auto& spec = catalog_.functions[index];
  ContextInputs inputs{settings_.account_id, spec.endpoint, remote, settings_.trust_proxy, current_limits()};
  auto context = build_endpoint_context(request, inputs);
  if (!context) return respond(error_response(context.error().status, "INVALID_REQUEST", context.error().message, request_id));

  std::string frame = invoke_frame(next_invocation_id_++, "endpoint", *context);

  std::int64_t started = now_unix_ms();
  std::string method(request.method_string());
  std::string path(request.target().substr(0, request.target().find('?')));
  dispatcher_.invoke(index, std::move(frame),
                     [this, started, method = std::move(method), path = std::move(path), request_id,
                      respond = std::move(respond)](InvocationReport report) {
                       std::vector<LogLine> notes;  // the gateway's own lines about this execution
                       auto note = [&](std::string_view level, std::string text) {
                         notes.push_back(LogLine{now_unix_ms(), std::string(level), std::move(text)});
                       };
                       Response response;
                       const auto& result = report.result;
                       switch (result.outcome) {
                         case InvocationResult::Outcome::Answered: {
                           const json::value* answer = result.frame.if_contains("response");
                           auto mapped = answer && answer->is_object() ? map_function_response(answer->get_object())
                                                                        : Expected<MappedResponse, std::string>(Unexpected{std::string("the worker sent no response")});
                           if (mapped) {
                             for (auto& w : mapped->warnings) note("WARN", std::move(w));
                             response = std::move(mapped->response);
                           } else {
                             note("ERROR", "Invalid response: " + mapped.error());
                             response = error_response(500, "INVALID_RESPONSE",
                                                       "The function's response could not be sent: " + mapped.error(), request_id);
                           }
                           break;
                         }
                         case InvocationResult::Outcome::Threw: {
                           auto error = thrown_error(result.frame);
                           note("ERROR", error.stack);
                           response = error_response(500, "FUNCTION_ERROR",
                                                     fmt::format("The function failed with an uncaught error. Its logs for request {} have the details.", request_id),
                                                     request_id);
                           break;
                         }
                         case InvocationResult::Outcome::TimedOut:
                           note("ERROR", result.detail);
                           response = error_response(504, "TIMEOUT", result.detail, request_id);
                           break;
                         case InvocationResult::Outcome::Crashed:
                           if (result.frame.contains("loadError")) {
                             note("ERROR", "The function could not be loaded: " + result.detail);
                             response = error_response(500, "FUNCTION_LOAD_ERROR",
                                                       fmt::format("The function could not be loaded. Its logs for request {} have the details.", request_id),
                                                       request_id);
                           } else {
                             note("ERROR", "The function's process died: " + result.detail);
                             response = error_response(502, "WORKER_CRASHED",
                                                       "The function's process ended while handling this request (" + result.detail + ").",
                                                       request_id);
                           }
                           break;
                       }
                       bool success = response.result_int() < 500;
                       log_.write_line(logs::execution_line(started + std::llround(report.queue_ms), success ? "SUCCESS" : "ERROR", method, path,
                                                            std::llround(report.execution_ms)));
                       for (const auto& line : result.logs) log_.write_line(logs::console_line(line.timestamp_ms, line.level, line.text));
                       for (const auto& line : notes) log_.write_line(logs::console_line(line.timestamp_ms, line.level, line.text));
                       respond(std::move(response));
                     });
}

void Gateway::handle_app_function(Request& request, std::string_view remote, const std::string& request_id, Respond& respond) {
  ContextInputs inputs{settings_.account_id, {}, remote, settings_.trust_proxy, current_limits()};
  auto call = build_app_function_context(request, inputs);
  if (!call) {
    return respond(app_function_error(400, "", call.error().message, request_id, "ServerlessActionExecutionError.INVALID_REQUEST",
                                      call.error().message));
  }
  auto index = router_.find_app_function(call->function_name);
  if (!index) {
    std::string message = fmt::format("App function \"{}\" is not declared in any serverless.json served here", call->function_name);
    return respond(app_function_error(400, call->function_name, message, request_id,
                                      "AppFunctionsExecutorErrorType.SERVERLESS_FUNCTION_NOT_FOUND", message));
  }
  std::string frame = invoke_frame(next_invocation_id_++, "app", call->context_json);

  std::int64_t started = now_unix_ms();
  std::string path(request.target().substr(0, request.target().find('?')));
  std::string name = call->function_name;
  dispatcher_.invoke(*index, std::move(frame),
                     [this, started, path = std::move(path), name = std::move(name), request_id,
                      respond = std::move(respond)](InvocationReport report) {
                       const auto& result = report.result;
                       Response response;
                       std::vector<std::string> errors;
                       switch (result.outcome) {
                         case InvocationResult::Outcome::Answered: {
                           std::string body = "{\"logId\":";
                           append_json_string(body, request_id);
                           body += ",\"response\":";
                           std::string value = string_field(result.frame, "valueJson");
                           body += value.empty() ? "null" : value;
                           body += '}';
                           response = json_response(200, std::move(body));
                           break;
                         }
                         case InvocationResult::Outcome::Threw: {
                           auto error = thrown_error(result.frame);
                           errors.push_back(error.stack);
                           response = function_failure(name, error.summary, request_id);
                           break;
                         }
                         case InvocationResult::Outcome::TimedOut:
                           errors.push_back(result.detail);
                           response = function_failure(name, fmt::format("{} {} {}", logs::iso_timestamp(now_unix_ms()), request_id, result.detail),
                                                       request_id);
                           break;
                         case InvocationResult::Outcome::Crashed:
                           errors.push_back(result.frame.contains("loadError") ? "The function could not be loaded: " + result.detail
                                                                              : "The function's process died: " + result.detail);
                           response = function_failure(name, errors.back(), request_id);
                           break;
                       }
                       log_.write_line(logs::execution_line(started + std::llround(report.queue_ms), errors.empty() ? "SUCCESS" : "ERROR", "POST", path,
                                                            std::llround(report.execution_ms)));
                       for (const auto& line : result.logs) log_.write_line(logs::console_line(line.timestamp_ms, line.level, line.text));
                       for (const auto& e : errors) log_.write_line(logs::console_line(now_unix_ms(), "ERROR", e));
                       respond(std::move(response));
                     });
}

void Gateway::log_stray_lines(std::size_t function_index, const std::vector<LogLine>& lines) {
  for (const auto& line : lines) log_.write_line(logs::console_line(line.timestamp_ms, line.level, line.text));
}

}  // namespace sprocket::http
