// Frames from a worker are untrusted (user code can write to fd 3): every field is checked.
#include "runtime/worker_frames.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace sprocket::runtime {
namespace {
namespace json = boost::json;

json::object frame(std::string_view text) { return json::parse(text).as_object(); }

TEST(WorkerFrames, AcceptsWhatTheBootstrapsSend) {
  auto fields = read_result_fields(frame(
      R"({"type":"result","id":3,"logs":[[1733140000000,"INFO","hi"],[1733140000001,"DEBUG","x"]],"maxRssKb":51234,)"
      R"("droppedLogBytes":12,"response":{"statusCode":200}})"));
  ASSERT_TRUE(fields) << fields.error();
  EXPECT_EQ(fields->max_rss_kb, 51234);
  EXPECT_EQ(fields->dropped_log_bytes, 12);
  ASSERT_EQ(fields->logs.size(), 2u);
  EXPECT_EQ(fields->logs[1].level, "DEBUG");
  EXPECT_EQ(fields->id, 3);
  EXPECT_TRUE(read_result_fields(frame(R"({"type":"result","id":1,"valueJson":"{}"})")));
  EXPECT_TRUE(read_result_fields(frame(R"({"type":"result","id":1,"error":{"name":"Error","message":"m","stack":"s","retry":"HTTP 429"}})")));
}

TEST(WorkerFrames, RefusesCountsThatAreNotNonNegativeIntegers) {
  for (const char* bad : {R"("maxRssKb":1.5)", R"("maxRssKb":-1)", R"("maxRssKb":"12")", R"("maxRssKb":1e300)",
                          R"("maxRssKb":18446744073709551615)", R"("droppedLogBytes":-1)", R"("droppedLogBytes":0.5)",
                          R"("droppedLogBytes":null)"}) {
    auto text = std::string(R"({"type":"result","id":1,"valueJson":"1",)") + bad + "}";
    auto fields = read_result_fields(frame(text));
    EXPECT_FALSE(fields) << text;
    if (!fields) {
      EXPECT_NE(fields.error().find(std::string(bad).substr(1, 8)), std::string::npos) << fields.error();
    }
  }
}

TEST(WorkerFrames, RefusesMalformedLogLines) {
  for (const char* logs : {R"("x")", R"([["1","INFO","t"]])", R"([[1.5,"INFO","t"]])", R"([[1,"LOUD","t"]])", R"([[1,"INFO",5]])",
                           R"([[1,"INFO"]])", R"([1])", R"({"a":1})", R"([[-1e300,"INFO","t"]])"}) {
    auto text = std::string(R"({"type":"result","id":1,"valueJson":"1","logs":)") + logs + "}";
    EXPECT_FALSE(read_result_fields(frame(text))) << text;
    auto holder = frame(R"({"logs":)" + std::string(logs) + "}");
    EXPECT_FALSE(read_log_lines(&holder.at("logs"))) << logs;
  }
}

TEST(WorkerFrames, ResultCarriesExactlyOneAnswerOfTheRightType) {
  for (const char* bad : {R"({"type":"result","id":1})", R"({"type":"result","id":1,"response":{},"error":{}})",
                          R"({"type":"result","id":1,"response":"x"})", R"({"type":"result","id":1,"valueJson":{}})",
                          R"({"type":"result","id":1,"error":"boom"})", R"({"type":"result","id":1,"error":{"stack":7}})",
                          R"({"type":"result","valueJson":"1"})", R"({"type":"result","id":-1,"valueJson":"1"})",
                          R"({"type":"result","id":"1","valueJson":"1"})"}) {
    EXPECT_FALSE(read_result_fields(frame(bad))) << bad;
  }
}

}  // namespace
}  // namespace sprocket::runtime

namespace sprocket::runtime {
namespace {

std::string nested(std::size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); }

TEST(WorkerFrames, JsonFromWorkersMayNestAsDeepAsRequestsMay) {
  boost::system::error_code ec;
  // What a 1,000-level request body becomes a few levels down in a frame parses.
  auto deep = parse_worker_json(R"({"type":"result","response":{"headers":{"x":)" + nested(1000) + "}}}", ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(deep.is_object());
  parse_worker_json(nested(kMaxWorkerJsonDepth + 1), ec);
  EXPECT_EQ(ec, boost::json::error::too_deep);
}

}  // namespace
}  // namespace sprocket::runtime
