#pragma once
// The request path: pick the account and function, check the account's budget, build the
// context, run the function, map its answer, account for it and log it.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "accounts/deployment.h"
#include "http/request_context.h"
#include "http/request_handler.h"
#include "http/response_mapping.h"
#include "http/generation.h"
#include "http/router.h"
#include "logs/log_sink.h"
#include "metrics/metrics.h"
#include "store/store_executor.h"
#include "runtime/dispatcher.h"
#include "util/request_id.h"

namespace sprocket::http {

struct GatewaySettings {
  bool trust_proxy = false;  // take client addresses from X-Forwarded-For / True-Client-IP
};

// Where executions are recorded besides stderr (either may be null).
struct ExecutionSinks {
  store::StoreExecutor* store = nullptr;
  metrics::Metrics* metrics = nullptr;
  // Sees each execution record, redacted, before it is printed and stored (`sprocket invoke`).
  std::function<void(const store::ExecutionRecord&)> observe;
};

class Gateway final : public RequestHandler {
 public:
  Gateway(accounts::Deployment& deployment, std::shared_ptr<Generation> generation, logs::LogSink& log,
          GatewaySettings settings, ExecutionSinks sinks = {});

  void handle(Request request, std::string remote_address, Respond respond) override;
  std::size_t in_flight() const { return in_flight_; }  // invocations dispatched (queued or running), not answered
  // When a request last started or was answered.
  std::chrono::steady_clock::time_point last_exchange() const { return last_exchange_; }
  void log_stray_lines(const Generation& generation, std::size_t function_index, const std::vector<runtime::LogLine>& lines);

  // New requests go to `generation` from now on; those in flight finish on the one they began.
  void activate(std::shared_ptr<Generation> generation);
  const std::shared_ptr<Generation>& current() const { return generation_; }

 private:
  struct Execution {
    std::shared_ptr<Generation> generation;
    std::size_t function_index = 0;
    std::string request_id;
    std::string method;
    std::string path;
    std::int64_t received_unix_ms = 0;
    bool app_function = false;
  };

  void handle_endpoint(const std::shared_ptr<Generation>& gen, std::size_t account, std::size_t index, Request& request,
                       std::string_view remote, const std::string& request_id, Respond& respond);
  void handle_app_function(const std::shared_ptr<Generation>& gen, std::size_t account, Request& request, std::string_view remote,
                           const std::string& request_id, Respond& respond);
  // Checks only; count_execution() counts the request once it is known to be valid.
  std::optional<Response> refuse_if_budget_spent(std::size_t account, const std::string& request_id);
  void count_execution(std::size_t account);
  Limits current_limits(const Generation& gen, std::size_t function_index);
  void run(Execution execution, std::uint64_t invocation_id, std::string frame, Respond respond);
  Response endpoint_answer(const Execution& e, const runtime::InvocationReport& report, std::vector<runtime::LogLine>& notes);
  Response app_answer(const Execution& e, const runtime::InvocationReport& report, std::vector<runtime::LogLine>& notes);
  // Takes the report's and the notes' lines (moved into the record).
  void record(const Execution& e, runtime::InvocationReport& report, bool success, int http_status,
              std::vector<runtime::LogLine>& notes);

  accounts::Deployment& deployment_;
  std::shared_ptr<Generation> generation_;
  logs::LogSink& log_;
  GatewaySettings settings_;
  ExecutionSinks sinks_;
  util::RequestIdGenerator request_ids_;
  std::uint64_t next_invocation_id_ = 1;
  std::size_t in_flight_ = 0;
  std::chrono::steady_clock::time_point last_exchange_{};
};

// {"status":"error","message":…,"category":…,"requestId":…} with the given status.
// request_id empty: a new id, in the body and in an X-Request-Id header.
Response error_response(unsigned status, std::string_view category, std::string_view message, std::string_view request_id);

}  // namespace sprocket::http
