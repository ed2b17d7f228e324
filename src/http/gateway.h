#pragma once
// The request path: route, build the context, run the function, map its answer, log it.
#include <cstdint>
#include <functional>
#include <string>

#include "config/catalog.h"
#include "http/request_context.h"
#include "http/response_mapping.h"
#include "http/router.h"
#include "logs/log_sink.h"
#include "runtime/dispatcher.h"
#include "util/request_id.h"

namespace sprocket::http {

struct GatewaySettings {
  std::int64_t account_id = 123456;  // HubSpot's local default
  bool trust_proxy = false;          // take client addresses from X-Forwarded-For / True-Client-IP
};

class Gateway {
 public:
  using Respond = std::function<void(Response)>;

  Gateway(const config::Catalog& catalog, runtime::Dispatcher& dispatcher, logs::LogSink& log, GatewaySettings settings);

  // `respond` is called exactly once, possibly before handle() returns.
  void handle(Request request, std::string remote_address, Respond respond);
  void log_stray_lines(std::size_t function_index, const std::vector<runtime::LogLine>& lines);

 private:
  void handle_endpoint(std::size_t index, Request& request, std::string_view remote, const std::string& request_id,
                       Respond& respond);
  void handle_app_function(Request& request, std::string_view remote, const std::string& request_id, Respond& respond);
  Limits current_limits() const;

  const config::Catalog& catalog_;
  runtime::Dispatcher& dispatcher_;
  logs::LogSink& log_;
  GatewaySettings settings_;
  Router router_;
  util::RequestIdGenerator request_ids_;
  std::uint64_t next_invocation_id_ = 1;
};

// {"status":"error","message":…,"category":…,"requestId":…} with the given status.
Response error_response(unsigned status, std::string_view category, std::string_view message, std::string_view request_id);

}  // namespace sprocket::http
