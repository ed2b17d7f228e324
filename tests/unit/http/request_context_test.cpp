#include "http/request_context.h"

#include <pthread.h>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <functional>
#include <gtest/gtest.h>
#include <string>

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
  json::parse_options deep_enough;
  deep_enough.max_depth = kMaxJsonBodyDepth + 1;  // the body nests inside the context
  return json::parse(*text, {}, deep_enough).as_object();
}

// "f0=v0&f1=v1&…": `count` fields, each named differently.
std::string distinct_fields(std::size_t count, std::string_view prefix = "f") {
  std::string text;
  for (std::size_t i = 0; i < count; ++i) {
    if (i) text += '&';
    text += fmt::format("{}{}=v{}", prefix, i, i);
  }
  return text;
}

// `depth` arrays, one inside the other: [[[…]]].
std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// Runs `work` on a thread with a stack of `bytes`: a stack overflow there crashes the test.
void run_on_stack_of(std::size_t bytes, std::function<void()> work) {
  pthread_attr_t attributes;
  ASSERT_EQ(pthread_attr_init(&attributes), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attributes, bytes), 0);
  pthread_t thread;
  auto run = [](void* argument) -> void* {
    (*static_cast<std::function<void()>*>(argument))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attributes, run, &work), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attributes);
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

// The parse keeps an index by name (request_context.cpp) so that a field costs the same however
// many came before; what a test can see is that order and grouping survive many names.
TEST(RequestContext, ManyDistinctFieldsKeepArrivalOrderAndRepeatsJoinTheirName) {
  ParamMap params;
  parse_urlencoded_into(params, distinct_fields(5000) + "&f0=again&f4999=last");
  ASSERT_EQ(params.size(), 5000u);
  for (std::size_t i = 0; i < params.size(); ++i) ASSERT_EQ(params[i].first, fmt::format("f{}", i));
  EXPECT_EQ(params.front().second, (std::vector<std::string>{"v0", "again"}));
  EXPECT_EQ(params.back().second, (std::vector<std::string>{"v4999", "last"}));
  // a second text (a form after the query string) joins the names already there
  parse_urlencoded_into(params, "f1=form&new=1");
  EXPECT_EQ(params[1].second, (std::vector<std::string>{"v1", "form"}));
  EXPECT_EQ(params.back().first, "new");
}

TEST(RequestContext, AdminQueryStringsHaveNoFieldLimit) {
  ParamMap params;
  parse_urlencoded_into(params, distinct_fields(kMaxRequestParams + 500));
  EXPECT_EQ(params.size(), kMaxRequestParams + 500);
}

TEST(RequestContext, FieldsUpToTheLimitAreServed) {
  auto form = make(beast_http::verb::post, "/x", distinct_fields(kMaxRequestParams), "application/x-www-form-urlencoded");
  EXPECT_EQ(context_of(form).at("params").as_object().size(), kMaxRequestParams);
  // the query string and the form share the limit; empty pairs ("&&") are not fields
  auto shared = make(beast_http::verb::post, "/x?" + distinct_fields(400, "q") + "&&",
                     distinct_fields(kMaxRequestParams - 400), "application/x-www-form-urlencoded");
  EXPECT_EQ(context_of(shared).at("params").as_object().size(), kMaxRequestParams);
}

TEST(RequestContext, TooManyFieldsAre413NamingTheLimit) {
  ContextInputs inputs;
  inputs.remote_address = "127.0.0.1";
  auto expect_refused = [&](const Request& r) {
    auto result = build_endpoint_context(r, inputs);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().status, 413u);
    EXPECT_EQ(result.error().category, "TOO_MANY_PARAMETERS");
    EXPECT_NE(result.error().message.find("the limit is 1000 fields per request"), std::string::npos) << result.error().message;
  };
  expect_refused(make(beast_http::verb::post, "/x", distinct_fields(kMaxRequestParams + 1), "application/x-www-form-urlencoded"));
  expect_refused(make(beast_http::verb::get, "/x?" + distinct_fields(kMaxRequestParams + 1)));
  expect_refused(make(beast_http::verb::post, "/x?" + distinct_fields(600, "q"), distinct_fields(401),
                      "application/x-www-form-urlencoded"));
  // repeats of one name are fields too
  std::string repeated = "a=1";
  for (std::size_t i = 0; i < kMaxRequestParams; ++i) repeated += "&a=1";
  expect_refused(make(beast_http::verb::post, "/x", repeated, "application/x-www-form-urlencoded"));
}

TEST(RequestContext, JsonBodiesNestUpToTheDepthLimit) {
  auto deepest = make(beast_http::verb::post, "/x", nested_arrays(kMaxJsonBodyDepth), "application/json");
  auto context = context_of(deepest);
  const json::value* inner = &context.at("body");
  std::size_t depth = 0;
  while (inner->is_array() && !inner->get_array().empty()) {
    inner = &inner->get_array()[0];
    ++depth;
  }
  EXPECT_EQ(depth + 1, kMaxJsonBodyDepth);

  ContextInputs inputs;
  inputs.remote_address = "127.0.0.1";
  auto too_deep = build_endpoint_context(make(beast_http::verb::post, "/x", nested_arrays(kMaxJsonBodyDepth + 1), "application/json"), inputs);
  ASSERT_FALSE(too_deep.has_value());
  EXPECT_EQ(too_deep.error().status, 400u);
  EXPECT_EQ(too_deep.error().category, "INVALID_REQUEST");
  EXPECT_NE(too_deep.error().message.find("the limit is 1000 levels"), std::string::npos) << too_deep.error().message;
}

TEST(RequestContext, AppFunctionBodiesNestUpToTheDepthLimit) {
  ContextInputs inputs;
  inputs.account_id = 42;
  // the body object is the first level, "parameters" the second
  auto body = [](std::size_t depth) {
    return R"({"serverlessFunction": "card", "parameters": )" + nested_arrays(depth - 1) + "}";
  };
  auto deepest = build_app_function_context(make(beast_http::verb::post, "/api/x", body(kMaxJsonBodyDepth), "application/json"), inputs);
  ASSERT_TRUE(deepest.has_value()) << deepest.error().message;
  EXPECT_TRUE(deepest->context.at("parameters").is_array());

  auto too_deep = build_app_function_context(make(beast_http::verb::post, "/api/x", body(kMaxJsonBodyDepth + 1), "application/json"), inputs);
  ASSERT_FALSE(too_deep.has_value());
  EXPECT_EQ(too_deep.error().status, 400u);
  EXPECT_NE(too_deep.error().message.find("the limit is 1000 levels"), std::string::npos) << too_deep.error().message;
}

// Boost.JSON's parser, a value's copy and its destructor recurse once per level. The event loop
// runs on the main thread (8 MB of stack by default); at the limit they must fit in far less.
TEST(RequestContext, DeepestJsonBodiesFitInASmallStack) {
  bool endpoint_ok = false, app_ok = false;
  run_on_stack_of(1024 * 1024, [&] {
    ContextInputs inputs;
    inputs.remote_address = "127.0.0.1";
    endpoint_ok = build_endpoint_context(make(beast_http::verb::post, "/x", nested_arrays(kMaxJsonBodyDepth), "application/json"),
                                         inputs)
                      .has_value();
    std::string app_body = R"({"serverlessFunction": "card", "event": )" + nested_arrays(kMaxJsonBodyDepth - 1) + "}";
    auto call = build_app_function_context(make(beast_http::verb::post, "/api/x", app_body, "application/json"), inputs);
    app_ok = call.has_value() && !json::serialize(call->context).empty();
  });
  EXPECT_TRUE(endpoint_ok);
  EXPECT_TRUE(app_ok);
}

// Past a dozen headers the context is built with an index by name (request_context.cpp); what a
// test can see is that order and joining survive the switch.
TEST(RequestContext, ManyHeadersKeepArrivalOrderAndRepeatsAreJoined) {
  auto r = make(beast_http::verb::get, "/x");
  r.insert("X-First", "1");
  for (int i = 0; i < 3000; ++i) r.insert(fmt::format("X-H{}", i), std::to_string(i));
  r.insert("x-first", "2");
  r.insert("Cookie", "a=1");
  r.insert("Cookie", "b=2");
  auto headers = context_of(r).at("headers").as_object();
  EXPECT_EQ(headers.at("x-first").as_string(), "1, 2");
  EXPECT_EQ(headers.at("cookie").as_string(), "a=1; b=2");
  EXPECT_EQ(headers.at("x-h2999").as_string(), "2999");
  std::vector<std::string> names;
  for (const auto& h : headers) names.emplace_back(h.key());
  ASSERT_EQ(names.size(), 1u + 3000u + 1u + 2u);  // + cookie, true-client-ip, x-forwarded-for
  EXPECT_EQ(names[0], "x-first");
  EXPECT_EQ(names[1], "x-h0");
  EXPECT_EQ(names[3000], "x-h2999");
  EXPECT_EQ(names.back(), "x-forwarded-for");
}
