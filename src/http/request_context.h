#pragma once
// Turning an HTTP request into HubSpot's `context` object (as JSON text for the worker).
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/expected.h"

namespace sprocket::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

// Query-string and form fields: every value is an array of strings, in arrival order.
using ParamMap = std::vector<std::pair<std::string, std::vector<std::string>>>;

// What one request may carry (docs/limits.md): fields of the query string and a form together,
// as many as Express' body-parser, Node's querystring and PHP take by default; and how deep a
// JSON body may nest.
inline constexpr std::size_t kMaxRequestParams = 1000;
inline constexpr std::size_t kMaxJsonBodyDepth = 1000;

// Without a limit (the admin API's query strings); each field costs the same however many came before.
void parse_urlencoded_into(ParamMap& params, std::string_view text);  // a=1&a=2&b=x+y
std::string percent_decode(std::string_view text, bool plus_is_space);

struct Limits {
  std::int64_t executions_remaining = 0;
  std::int64_t time_remaining_ms = 0;
};

struct ContextInputs {
  std::int64_t account_id = 0;
  std::string_view endpoint;        // context.endpoint
  std::string_view remote_address;  // the TCP peer
  bool trust_proxy = false;         // take the client address from X-Forwarded-For
  Limits limits;
};

struct RequestError {
  unsigned status = 400;
  std::string message;
  std::string_view category = "INVALID_REQUEST";  // of the JSON error body (docs/http-api.md)
};

// The media type of Content-Type, lower-cased, without parameters ("application/json").
std::string media_type(const Request& request);

// For endpoints (/_hcms/api/…, /hs/serverless/…). Fails on a body that claims to be JSON and is
// not (the message names the position) or nests too deep, and on too many fields (413).
Expected<std::string, RequestError> build_endpoint_context(const Request& request, const ContextInputs& inputs);

struct AppFunctionCall {
  std::string function_name;     // "serverlessFunction"
  boost::json::object context;   // without "limits", which depend on the function found
};

// For app functions: POST …/action/function/APPID {"serverlessFunction", "parameters", "event", …}.
Expected<AppFunctionCall, RequestError> build_app_function_context(const Request& request, const ContextInputs& inputs);

}  // namespace sprocket::http
