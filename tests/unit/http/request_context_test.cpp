#include "http/request_context.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

using namespace sprocket::http;
namespace json = boost::json;
namespace beast_http = boost::beast::http;

namespace {

Request make(beast_http::verb verb, std::string target, std::string body = "", std::string type = "") {
  Request r{verb, target, 11};
  if (!type.empty()) r.set(beast_http::field::content_type, type);
  r.body() = std::move(body);
  r.prepare_payload();
  return r;
}

json::object context_of(const Request& r, ContextInputs inputs = {}) {
  if (inputs.account_id == 0) inputs.account_id = 123456;
  if (inputs.remote_address.empty()) inputs.remote_address = "127.0.0.1";
  auto text = build_endpoint_context(r, inputs);
  EXPECT_TRUE(text.has_value());
  return json::parse(*text).as_object();
}

}  // namespace

TEST(RequestContext, QueryParamsAreArraysOfStrings) {
  auto c = context_of(make(beast_http::verb::get, "/_hcms/api/x?a=1&a=2&b=x+y&c[d]=e&e=&f=%20sp&flag"));
  auto params = c.at("params").as_object();
  EXPECT_EQ(json::serialize(params.at("a")), R"(["1","2"])");
  EXPECT_EQ(json::serialize(params.at("b")), R"(["x y"])");
  EXPECT_EQ(json::serialize(params.at("c[d]")), R"(["e"])");
  EXPECT_EQ(json::serialize(params.at("e")), R"([""])");
  EXPECT_EQ(json::serialize(params.at("f")), R"([" sp"])");
  EXPECT_EQ(json::serialize(params.at("flag")), R"([""])");
  EXPECT_EQ(json::serialize(c.at("body")), "{}");
  EXPECT_EQ(c.at("method").as_string(), "GET");
  EXPECT_TRUE(c.at("contact").is_null());
  EXPECT_EQ(c.at("accountId").as_int64(), 123456);
}

TEST(RequestContext, FormFieldsJoinQueryParams) {
  auto c = context_of(make(beast_http::verb::post, "/x?a=q", "a=f&name=Ada+L%C3%B6w", "application/x-www-form-urlencoded; charset=UTF-8"));
  EXPECT_EQ(json::serialize(c.at("params").at("a")), R"(["q","f"])");
  EXPECT_EQ(c.at("params").at("name").at(0).as_string(), "Ada L\xC3\xB6w");
  EXPECT_EQ(json::serialize(c.at("body")), "{}");
}

TEST(RequestContext, JsonBodyIsPassedAsSent) {
  auto c = context_of(make(beast_http::verb::put, "/x", " [1, 2.50, {\"k\": null}] ", "application/json"));
  EXPECT_EQ(json::serialize(c.at("body")), R"([1,2.5E0,{"k":null}])");
  auto empty = context_of(make(beast_http::verb::post, "/x", "", "application/json"));
  EXPECT_EQ(json::serialize(empty.at("body")), "{}");
  auto text = context_of(make(beast_http::verb::post, "/x", "hello", "text/plain"));
  EXPECT_EQ(json::serialize(text.at("body")), "{}");
}

TEST(RequestContext, MalformedJsonNamesThePosition) {
  auto r = make(beast_http::verb::post, "/x", "{\n  \"a\": tru\n}", "application/json");
  ContextInputs inputs;
  inputs.remote_address = "127.0.0.1";
  auto result = build_endpoint_context(r, inputs);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().status, 400u);
  EXPECT_NE(result.error().message.find("line 2"), std::string::npos) << result.error().message;
}

TEST(RequestContext, HeadersAreLowerCasedJoinedAndCarryTheClientAddress) {
  auto r = make(beast_http::verb::get, "/x");
  r.insert("X-Custom", "1");
  r.insert("X-Custom", "2");
  r.insert("Cookie", "a=1");
  r.insert("Cookie", "b=2");
  r.insert("True-Client-IP", "6.6.6.6");  // spoofed: not trusted by default
  r.insert("X-Forwarded-For", "203.0.113.7");
  ContextInputs inputs;
  inputs.remote_address = "10.0.0.5";
  auto c = context_of(r, inputs);
  auto headers = c.at("headers").as_object();
  EXPECT_EQ(headers.at("x-custom").as_string(), "1, 2");
  EXPECT_EQ(headers.at("cookie").as_string(), "a=1; b=2");
  EXPECT_EQ(headers.at("true-client-ip").as_string(), "10.0.0.5");
  EXPECT_EQ(headers.at("x-forwarded-for").as_string(), "203.0.113.7, 10.0.0.5");

  inputs.trust_proxy = true;
  auto r2 = make(beast_http::verb::get, "/x");
  r2.insert("X-Forwarded-For", "203.0.113.7, 10.1.1.1");
  auto trusted = context_of(r2, inputs);
  EXPECT_EQ(trusted.at("headers").at("true-client-ip").as_string(), "203.0.113.7");
}

TEST(RequestContext, AppFunctionCallCarriesParametersAndEvent) {
  auto r = make(beast_http::verb::post, "/api/x",
                R"({"serverlessFunction": "card", "parameters": {"n": 1}, "event": {"type": "SERVERLESS_ACTION_HOOK"}})",
                "application/json");
  ContextInputs inputs;
  inputs.account_id = 42;
  auto call = build_app_function_context(r, inputs);
  ASSERT_TRUE(call.has_value());
  EXPECT_EQ(call->function_name, "card");
  const auto& c = call->context;
  EXPECT_EQ(c.at("parameters").at("n").as_int64(), 1);
  EXPECT_EQ(c.at("event").at("type").as_string(), "SERVERLESS_ACTION_HOOK");
  EXPECT_EQ(c.at("portalId").as_int64(), 42);
  EXPECT_EQ(json::serialize(c.at("propertiesToSend")), "{}");

  auto missing = make(beast_http::verb::post, "/api/x", R"({"parameters": {}})", "application/json");
  EXPECT_FALSE(build_app_function_context(missing, inputs).has_value());
}
