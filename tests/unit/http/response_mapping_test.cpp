#include "http/response_mapping.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

using namespace sprocket::http;
namespace json = boost::json;
namespace beast_http = boost::beast::http;

namespace {

Response mapped(const std::string& answer_json) {
  auto result = map_function_response(json::parse(answer_json).as_object());
  EXPECT_TRUE(result.has_value()) << (result.has_value() ? "" : result.error());
  return result.has_value() ? std::move(result->response) : Response{};
}

}  // namespace

TEST(ResponseMapping, JsonBodyGetsJsonContentTypeAndDefaultStatus) {
  auto r = mapped(R"({"body": "{\"a\":1}", "bodyType": "json"})");
  EXPECT_EQ(r.result_int(), 200u);
  EXPECT_EQ(r[beast_http::field::content_type], "application/json; charset=utf-8");
  EXPECT_EQ(r.body(), "{\"a\":1}");
}

TEST(ResponseMapping, StringBodyIsHtmlUnlessTypeGiven) {
  auto html = mapped(R"({"statusCode": 201, "body": "<p>hi</p>", "bodyType": "text"})");
  EXPECT_EQ(html.result_int(), 201u);
  EXPECT_EQ(html[beast_http::field::content_type], "text/html; charset=utf-8");
  auto plain = mapped(R"({"body": "hi", "bodyType": "text", "headers": {"content-type": "text/plain"}})");
  EXPECT_EQ(plain[beast_http::field::content_type], "text/plain");
}

TEST(ResponseMapping, HeadersArraysMultiValueHeadersAndSetCookie) {
  auto r = mapped(R"({"statusCode": "302", "bodyType": "none",
      "headers": {"Location": "/next", "X-List": ["a", "b"], "X-Num": 5},
      "multiValueHeaders": {"Set-Cookie": ["c1=1", "c2=2"]},
      "setCookie": "c3=3"})");
  EXPECT_EQ(r.result_int(), 302u);
  EXPECT_EQ(r[beast_http::field::location], "/next");
  EXPECT_EQ(r["X-Num"], "5");
  std::vector<std::string> cookies, list;
  for (const auto& f : r) {
    if (boost::beast::iequals(f.name_string(), "set-cookie")) cookies.emplace_back(f.value());
    if (boost::beast::iequals(f.name_string(), "x-list")) list.emplace_back(f.value());
  }
  EXPECT_EQ(cookies, (std::vector<std::string>{"c1=1", "c2=2", "c3=3"}));
  EXPECT_EQ(list, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r.body().empty());
}

TEST(ResponseMapping, Base64BodiesAreDecoded) {
  auto r = mapped(R"({"body": "aGVsbG8=", "bodyType": "base64"})");
  EXPECT_EQ(r.body(), "hello");
  EXPECT_EQ(r[beast_http::field::content_type], "application/octet-stream");
  EXPECT_FALSE(map_function_response(json::parse(R"({"body": "!!", "bodyType": "base64"})").as_object()).has_value());
}

TEST(ResponseMapping, InvalidStatusCodesAreRejected) {
  for (const char* bad : {R"({"statusCode": 99})", R"({"statusCode": 600})", R"({"statusCode": "abc"})", R"({"statusCode": 200.5})"}) {
    EXPECT_FALSE(map_function_response(json::parse(bad).as_object()).has_value()) << bad;
  }
}

TEST(ResponseMapping, HeaderInjectionAndFramingHeadersAreDropped) {
  auto result = map_function_response(json::parse(R"({"bodyType": "none", "headers": {
      "X-Bad": "a\r\nSet-Cookie: evil=1", "Bad Name": "x", "Content-Length": "999", "X-Ok": "fine"}})").as_object());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->response["X-Ok"], "fine");
  EXPECT_EQ(result->response.count("X-Bad"), 0u);
  EXPECT_EQ(result->response.count(beast_http::field::content_length), 0u);
  EXPECT_EQ(result->warnings.size(), 3u);
}

TEST(ResponseMapping, NoContentStatusesHaveNoBody) {
  auto r = mapped(R"({"statusCode": 204, "body": "x", "bodyType": "text"})");
  EXPECT_TRUE(r.body().empty());
}

// A 1xx is not a final response: sent as one, a client would wait for another or switch
// protocols. It is as invalid as 99 or 600.
TEST(ResponseMapping, InformationalStatusCodesAreRejected) {
  for (const char* informational : {R"({"statusCode": 100})", R"({"statusCode": 101})", R"({"statusCode": "101"})",
                                    R"({"statusCode": 199})"}) {
    auto result = map_function_response(json::parse(informational).as_object());
    ASSERT_FALSE(result.has_value()) << informational;
    EXPECT_NE(result.error().find("informational (1xx)"), std::string::npos) << result.error();
  }
  EXPECT_EQ(mapped(R"({"statusCode": 200})").result_int(), 200u);
}

TEST(ResponseMapping, HugeStatusCodesAreRejectedWithoutOverflow) {
  for (const char* huge : {R"({"statusCode": 1e300})", R"({"statusCode": -1e300})", R"({"statusCode": "1e400"})",
                           R"({"statusCode": 18446744073709551616})"}) {
    EXPECT_FALSE(map_function_response(json::parse(huge).as_object()).has_value()) << huge;
  }
}

// As JavaScript's String(n) writes them (what Node's res.setHeader would send); no integer cast,
// which for 1e300 is undefined behaviour.
TEST(ResponseMapping, NumericHeaderValuesAreWrittenAsJavaScriptWritesThem) {
  auto r = mapped(R"({"bodyType": "none", "headers": {
      "X-Huge": 1e300, "X-Whole": 1e20, "X-Negative": -1e20, "X-Limit": 1e21, "X-Digits": 1.5e20,
      "X-Tiny": 1.5e-7, "X-Micro": 0.000001, "X-Fraction": 0.1, "X-Point": 2.50, "X-Double-Zero": -0.0, "X-Int": 42}})");
  EXPECT_EQ(r["X-Huge"], "1e+300");
  EXPECT_EQ(r["X-Whole"], "100000000000000000000");
  EXPECT_EQ(r["X-Negative"], "-100000000000000000000");
  EXPECT_EQ(r["X-Limit"], "1e+21");
  EXPECT_EQ(r["X-Digits"], "150000000000000000000");
  EXPECT_EQ(r["X-Tiny"], "1.5e-7");
  EXPECT_EQ(r["X-Micro"], "0.000001");
  EXPECT_EQ(r["X-Fraction"], "0.1");
  EXPECT_EQ(r["X-Point"], "2.5");
  EXPECT_EQ(r["X-Double-Zero"], "0");
  EXPECT_EQ(r["X-Int"], "42");
}
