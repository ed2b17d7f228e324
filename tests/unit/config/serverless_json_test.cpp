#include "config/serverless_json.h"

#include <gtest/gtest.h>

#include "test_dir.h"

#include <filesystem>
#include <fstream>

using namespace sprocket;
using namespace sprocket::config;
namespace fs = std::filesystem;

namespace {

class ServerlessJsonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(folder_ / "endpoints");
    for (const char* f : {"a.js", "b.js", "endpoints/c.js"}) std::ofstream(folder_ / f) << "exports.main = () => {};";
  }

  Expected<FunctionsFolder, ConfigErrors> parse(const std::string& text) { return parse_serverless_json(folder_, text); }

  static std::string all(const ConfigErrors& errors) { return format_errors(errors); }

  sprocket::testing::TestDir dir_{"config-test"};
  fs::path folder_ = dir_.path() / "site.functions";
};

}  // namespace

TEST_F(ServerlessJsonTest, DesignManagerFormatWithDefaultsAndMerging) {
  auto folder = parse(R"({
  "runtime": "nodejs18.x",
  "version": "1.0",
  "environment": {"GLOBAL": "g", "SHARED": "top"},
  "secrets": ["TOP_SECRET"],
  "endpoints": {
    "hello": {"file": "a.js"},
    "events/update": {"method": ["POST", "PUT"], "file": "endpoints/c.js",
                      "environment": {"SHARED": "endpoint", "N": 3}, "secrets": ["OTHER"]}
  }
})");
  ASSERT_TRUE(folder.has_value()) << all(folder.error());
  ASSERT_EQ(folder->functions.size(), 2u);
  const auto& update = folder->functions[0].name == "events/update" ? folder->functions[0] : folder->functions[1];
  const auto& hello = folder->functions[0].name == "hello" ? folder->functions[0] : folder->functions[1];
  EXPECT_EQ(hello.methods, std::vector<std::string>{"GET"});
  EXPECT_EQ(*hello.route, "/_hcms/api/hello");
  EXPECT_EQ(*update.route, "/_hcms/api/events/update");
  EXPECT_EQ(update.endpoint, "events/update");
  EXPECT_EQ(update.methods, (std::vector<std::string>{"POST", "PUT"}));
  EXPECT_EQ(update.environment.at("SHARED"), "endpoint");
  EXPECT_EQ(update.environment.at("GLOBAL"), "g");
  EXPECT_EQ(update.environment.at("N"), "3");
  EXPECT_EQ(update.secrets, (std::vector<std::string>{"TOP_SECRET", "OTHER"}));
  EXPECT_TRUE(update.file.is_absolute());
  EXPECT_EQ(update.declared_line, 8);
}

TEST_F(ServerlessJsonTest, ProjectFormatWithEndpointAndAppFunction) {
  auto folder = parse(R"({"appFunctions": {
    "quote": {"file": "a.js", "secrets": ["KEY"], "endpoint": {"path": "fetch-quote", "method": ["GET"]}},
    "card": {"file": "b.js"}
  }})");
  ASSERT_TRUE(folder.has_value()) << all(folder.error());
  EXPECT_EQ(folder->format, FunctionFormat::Project);
  for (const auto& f : folder->functions) {
    if (f.name == "quote") {
      EXPECT_EQ(*f.route, "/hs/serverless/fetch-quote");
      EXPECT_EQ(f.secrets, std::vector<std::string>{"KEY"});
    } else {
      EXPECT_TRUE(f.is_app_function());
    }
  }
}

TEST_F(ServerlessJsonTest, UnknownMethodNamesLineColumnFieldAndFix) {
  auto folder = parse("{\n  \"endpoints\": {\n    \"a\": {\"method\": \"get\", \"file\": \"a.js\"}\n  }\n}");
  ASSERT_FALSE(folder.has_value());
  std::string text = all(folder.error());
  EXPECT_NE(text.find("serverless.json:3:21"), std::string::npos) << text;
  EXPECT_NE(text.find("endpoints.a.method"), std::string::npos) << text;
  EXPECT_NE(text.find("write \"GET\""), std::string::npos) << text;
}

TEST_F(ServerlessJsonTest, MissingAndAbsentFilesAreErrors) {
  auto missing = parse(R"({"endpoints": {"a": {"method": "GET"}}})");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(all(missing.error()).find("endpoints.a.file: is missing"), std::string::npos) << all(missing.error());

  auto absent = parse(R"({"endpoints": {"a": {"file": "nope.js"}}})");
  ASSERT_FALSE(absent.has_value());
  EXPECT_NE(all(absent.error()).find("file \"nope.js\" not found"), std::string::npos);

  auto outside = parse(R"({"endpoints": {"a": {"file": "../x.js"}}})");
  ASSERT_FALSE(outside.has_value());
  EXPECT_NE(all(outside.error()).find("outside the functions folder"), std::string::npos);
}

TEST_F(ServerlessJsonTest, SecretNamedLikeEnvironmentVariableIsRejected) {
  auto folder = parse(R"({"environment": {"API_KEY": "x"}, "endpoints": {"a": {"file": "a.js", "secrets": ["API_KEY"]}}})");
  ASSERT_FALSE(folder.has_value());
  EXPECT_NE(all(folder.error()).find("same name as an environment variable"), std::string::npos);
}

TEST_F(ServerlessJsonTest, InvalidJsonPointsAtTheProblem) {
  auto folder = parse("{\n  \"endpoints\": {\n    \"a\": {\"file\": \"a.js\",}\n  }\n}");
  ASSERT_FALSE(folder.has_value());
  EXPECT_EQ(folder.error().front().line, 3);
  EXPECT_NE(all(folder.error()).find("invalid JSON"), std::string::npos);
}

TEST_F(ServerlessJsonTest, ReportsEveryErrorAtOnce) {
  auto folder = parse(R"({"endpoints": {"a": {"method": "FETCH", "file": "a.js"}, "b": {"file": 3}}})");
  ASSERT_FALSE(folder.has_value());
  EXPECT_EQ(folder.error().size(), 2u);
}

TEST_F(ServerlessJsonTest, NeitherFormatIsExplained) {
  auto folder = parse(R"({"runtime": "nodejs18.x"})");
  ASSERT_FALSE(folder.has_value());
  EXPECT_NE(all(folder.error()).find("neither \"endpoints\" nor \"appFunctions\""), std::string::npos);
}

TEST_F(ServerlessJsonTest, UnknownFieldsWarnButLoad) {
  auto folder = parse(R"({"endpoints": {"a": {"file": "a.js", "methods": "POST"}}})");
  ASSERT_TRUE(folder.has_value());
  ASSERT_EQ(folder->warnings.size(), 1u);
  EXPECT_NE(folder->warnings[0].find("endpoints.a.methods"), std::string::npos);
}

TEST_F(ServerlessJsonTest, EndpointNamesMustBeUsableInUrls) {
  auto folder = parse(R"({"endpoints": {"/a": {"file": "a.js"}}})");
  ASSERT_FALSE(folder.has_value());
  EXPECT_NE(all(folder.error()).find("write \"a\""), std::string::npos);
}
