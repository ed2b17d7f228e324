// A client's request, byte for byte, down the path the gateway takes: Beast's parser with the
// server's limits, the framing checks (smuggling), the route, and HubSpot's `context` object
// for endpoints and app functions (query string, form, headers, JSON body). Whatever comes in,
// nothing crashes and the context handed to a worker is valid JSON.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/json.hpp>

#include "config/function_spec.h"
#include "fuzz_support.h"
#include "http/framing.h"
#include "http/request_context.h"
#include "http/router.h"
#include "http/server.h"

namespace {
using namespace sprocket;
namespace beast_http = boost::beast::http;
namespace json = boost::json;

const http::Router& router() {
  static const std::vector<config::FunctionSpec> functions = [] {
    std::vector<config::FunctionSpec> f(3);
    f[0].name = "hello";
    f[0].route = "/_hcms/api/hello";
    f[1].name = "deep";
    f[1].route = "/hs/serverless/a/b";
    f[2].name = "serverlessFunction";  // an app function: no route
    return f;
  }();
  static const http::Router r(functions, 0);
  return r;
}

void check_is_json(const std::string& text, const char* what) {
  json::parse_options options;
  options.max_depth = http::kMaxJsonBodyDepth + 16;  // the body, a few levels down the context
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec, {}, options);
  if (ec || !parsed.is_object()) fuzz::fail(std::string(what) + " is not a JSON object: " + ec.message());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const http::ServerSettings settings;
  beast_http::request_parser<beast_http::string_body> parser;
  parser.eager(true);
  parser.body_limit(settings.body_limit);
  parser.header_limit(static_cast<std::uint32_t>(settings.header_limit));
  boost::system::error_code ec;
  std::size_t used = parser.put(boost::asio::buffer(data, size), ec);
  if (ec == beast_http::error::need_more && !parser.is_header_done()) return 0;
  if (ec && ec != beast_http::error::need_more) return 0;  // answered 400/413/431 by the server
  if (used > size) fuzz::fail("the parser used more than it was given");
  if (http::framing_error(parser.get().base(), parser.get().version())) return 0;  // 400, connection closed
  if (http::resolve_host(parser.get())) return 0;                                  // 400, connection closed
  if (http::split_absolute_form(parser.get().target())) fuzz::fail("a target left in absolute form");
  if (!parser.is_done()) return 0;  // the server waits for the rest of the body
  http::Request request = parser.release();

  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (auto index = router().find_route(path); index && *index > 1) fuzz::fail("an app function was reached by a path");

  http::ContextInputs inputs{424242, "hello", "127.0.0.1", size % 2 == 0, {1000, 10000}};
  if (auto context = http::build_endpoint_context(request, inputs)) {
    check_is_json(*context, "an endpoint's context");
  } else if (context.error().status < 400 || context.error().status > 499 || context.error().message.empty()) {
    fuzz::fail("a refused request without a 4xx and a message");
  }
  if (auto call = http::build_app_function_context(request, inputs)) {
    check_is_json(json::serialize(call->context), "an app function's context");
  }
  return 0;
}
