#include "actions/output_rules.h"
#include "config/action_spec.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "test_dir.h"

#include <filesystem>
#include <fstream>

using namespace sprocket::actions;
using namespace sprocket::config;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

class ActionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(folder_);
    std::ofstream(folder_ / "enrich.js") << "exports.main = async (event, callback) => callback({outputFields: {}});";
  }
  void write(const std::string& text) { std::ofstream(folder_ / "actions.json") << text; }
  sprocket::testing::TestDir dir_{"actions"};
  fs::path folder_ = dir_.path() / "crm.actions";
};

}  // namespace

TEST_F(ActionsTest, ReadsAnActionWithTypedOutputs) {
  write(R"({"actions": {"enrich": {"language": "node", "file": "enrich.js", "secrets": ["TOKEN"], "inputFields": ["email"],
            "outputFields": {"score": {"type": "number"}, "tier": {"type": "enumeration", "options": ["gold", "silver"]}}}}})");
  auto actions = load_actions_folder(folder_);
  ASSERT_TRUE(actions.has_value()) << sprocket::config::format_errors(actions.error());
  ASSERT_EQ(actions->size(), 1u);
  const auto& a = actions->front();
  EXPECT_EQ(a.name, "enrich");
  EXPECT_EQ(a.language, ActionLanguage::Node);
  EXPECT_EQ(a.secrets, std::vector<std::string>{"TOKEN"});
  EXPECT_EQ(a.output_fields.at("tier").options.size(), 2u);
}

TEST_F(ActionsTest, ErrorsNamePositionAndFix) {
  write("{\"actions\": {\n  \"a\": {\"language\": \"ruby\", \"file\": \"nope.js\", \"outputFields\": {\"x\": {\"type\": \"float\"}}}}}");
  auto actions = load_actions_folder(folder_);
  ASSERT_FALSE(actions.has_value());
  std::string text = sprocket::config::format_errors(actions.error());
  EXPECT_NE(text.find("actions.json:2:"), std::string::npos) << text;
  EXPECT_NE(text.find("\"node\" or \"python\""), std::string::npos) << text;
  EXPECT_NE(text.find("file \"nope.js\" not found"), std::string::npos) << text;
  EXPECT_NE(text.find("actions.a.outputFields.x"), std::string::npos) << text;
}

TEST_F(ActionsTest, AtMostFiftyInputFields) {
  json::array fields;
  for (int i = 0; i < 51; ++i) fields.emplace_back("p" + std::to_string(i));
  write(json::serialize(json::object{{"actions", {{"a", {{"language", "node"}, {"file", "enrich.js"}, {"inputFields", fields}}}}}}));
  auto actions = load_actions_folder(folder_);
  ASSERT_FALSE(actions.has_value());
  EXPECT_NE(sprocket::config::format_errors(actions.error()).find("51 input fields"), std::string::npos);
}

TEST(ActionOutputs, TypesAreChecked) {
  ActionSpec a;
  a.output_fields = {{"n", {OutputType::Number, {}}},      {"s", {OutputType::String, {}}},
                     {"b", {OutputType::Boolean, {}}},     {"dt", {OutputType::Datetime, {}}},
                     {"d", {OutputType::Date, {}}},        {"e", {OutputType::Enumeration, {"gold", "silver"}}},
                     {"p", {OutputType::PhoneNumber, {}}}};
  auto good = check_outputs(a, json::parse(R"({"n": 1.5, "s": "x", "b": true, "dt": 1700000000123, "d": 1699920000000,
                                               "e": "gold", "p": "+1 (617) 555-0100"})").as_object());
  EXPECT_FALSE(good.failure) << (good.problems.empty() ? "" : good.problems.front());
  auto bad = check_outputs(a, json::parse(R"({"n": "1", "b": "true", "d": 1700000000123, "e": "bronze", "p": "call me"})").as_object());
  ASSERT_TRUE(bad.failure);
  EXPECT_EQ(*bad.failure, "INVALID_OUTPUT");
  EXPECT_EQ(bad.problems.size(), 5u);
}

TEST(ActionOutputs, LongStringsUndeclaredOutputsAndFailContinue) {
  ActionSpec a;
  a.output_fields = {{"s", {OutputType::String, {}}}};
  json::object outputs{{"s", std::string(65001, 'x')}, {"extra", 1}, {"hs_execution_state", "FAIL_CONTINUE"}};
  auto check = check_outputs(a, outputs);
  ASSERT_TRUE(check.failure);
  EXPECT_EQ(*check.failure, "OUTPUT_VALUES_TOO_LARGE");
  ASSERT_EQ(check.warnings.size(), 1u);
  EXPECT_NE(check.warnings[0].find("extra"), std::string::npos);
  EXPECT_TRUE(check.fail_continue);
}

TEST(ActionOutputs, SecretValuesAreLimitedTogether) {
  ActionSpec a;
  a.name = "enrich";
  a.secrets = {"A", "B"};
  EXPECT_FALSE(secret_budget_problem(a, {{"A", std::string(600, 'a')}, {"B", std::string(400, 'b')}}));
  EXPECT_TRUE(secret_budget_problem(a, {{"A", std::string(600, 'a')}, {"B", std::string(401, 'b')}}));
}

namespace {
std::string repeat(std::string_view piece, std::size_t times) {
  std::string out;
  out.reserve(piece.size() * times);
  for (std::size_t i = 0; i < times; ++i) out += piece;
  return out;
}
}  // namespace

// HubSpot counts characters as JavaScript does (UTF-16 code units): "é" is one, an emoji two.
TEST(ActionOutputs, LimitsCountCharactersAsHubSpotDoesNotBytes) {
  ActionSpec a;
  a.name = "enrich";
  a.output_fields = {{"s", {OutputType::String, {}}}};
  EXPECT_FALSE(check_outputs(a, json::object{{"s", repeat("é", 65000)}}).failure);
  EXPECT_FALSE(check_outputs(a, json::object{{"s", repeat("中", 65000)}}).failure);
  auto over = check_outputs(a, json::object{{"s", repeat("é", 65001)}});
  ASSERT_TRUE(over.failure);
  EXPECT_EQ(*over.failure, "OUTPUT_VALUES_TOO_LARGE");
  ASSERT_EQ(over.problems.size(), 1u);
  EXPECT_EQ(over.problems[0], "s holds 65001 characters; string outputs hold at most 65000");
  EXPECT_FALSE(check_outputs(a, json::object{{"s", repeat("😀", 32500)}}).failure);
  EXPECT_TRUE(check_outputs(a, json::object{{"s", repeat("😀", 32501)}}).failure);

  a.secrets = {"A", "B"};
  EXPECT_FALSE(secret_budget_problem(a, {{"A", repeat("é", 400)}, {"B", repeat("ü", 600)}}));
  auto problem = secret_budget_problem(a, {{"A", repeat("é", 400)}, {"B", repeat("ü", 601)}});
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("hold 1001 characters together"), std::string::npos) << *problem;
}
