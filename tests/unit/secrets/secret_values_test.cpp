// Secret values never appear in what is shown: strings and names alike.
#include "secrets/secret_values.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace sprocket::secrets {
namespace {

TEST(RedactJsonStrings, RedactsValuesAndKeysAtEveryDepth) {
  std::vector<std::pair<std::string, std::string>> secrets{{"API_KEY", "supersecretvalue123"}};
  auto v = boost::json::parse(R"({"supersecretvalue123": "key-named", "list": ["a supersecretvalue123 b", {"x": "supersecretvalue123"}]})");
  redact_json_strings(v, secrets);
  std::string shown = boost::json::serialize(v);
  EXPECT_EQ(shown.find("supersecretvalue123"), std::string::npos) << shown;
  EXPECT_EQ(v.at("[REDACTED:API_KEY]"), "key-named");
  EXPECT_EQ(v.at("list").at(1).at("x"), "[REDACTED:API_KEY]");
}

}  // namespace
}  // namespace sprocket::secrets
