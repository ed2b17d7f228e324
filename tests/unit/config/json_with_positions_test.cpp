#include "config/json_with_positions.h"

#include <gtest/gtest.h>

using namespace sprocket::config;

TEST(JsonWithPositions, RecordsWhereValuesAndKeysStart) {
  auto doc = parse_json_with_positions("{\n  \"a\": {\n    \"b/c\": [1, \"x\"]\n  }\n}");
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(doc->position_of("/a").line, 2);
  EXPECT_EQ(doc->position_of("/a").column, 8);
  EXPECT_EQ(doc->key_position_of("/a/b~1c").line, 3);
  EXPECT_EQ(doc->key_position_of("/a/b~1c").column, 5);
  EXPECT_EQ(doc->position_of("/a/b~1c/1").column, 16);
  EXPECT_EQ(doc->root.at("a").at("b/c").at(1).as_string(), "x");
}

TEST(JsonWithPositions, ReportsTrailingCommaWithPosition) {
  auto doc = parse_json_with_positions("{\n  \"a\": 1,\n}");
  ASSERT_FALSE(doc.has_value());
  EXPECT_EQ(doc.error().position.line, 3);
  EXPECT_EQ(doc.error().position.column, 1);
  EXPECT_NE(doc.error().message.find("trailing comma"), std::string::npos);
}

TEST(JsonWithPositions, RejectsDuplicateMembersAtTheSecondKey) {
  auto doc = parse_json_with_positions("{\"a\": 1, \"a\": 2}");
  ASSERT_FALSE(doc.has_value());
  EXPECT_EQ(doc.error().position.column, 10);
  EXPECT_NE(doc.error().message.find("duplicate"), std::string::npos);
}

TEST(JsonWithPositions, ExplainsCommentsAndSingleQuotes) {
  auto comment = parse_json_with_positions("{ // no\n}");
  ASSERT_FALSE(comment.has_value());
  EXPECT_NE(comment.error().message.find("comment"), std::string::npos);
  auto quote = parse_json_with_positions("{'a': 1}");
  ASSERT_FALSE(quote.has_value());
  EXPECT_NE(quote.error().message.find("single quote"), std::string::npos);
}

TEST(JsonWithPositions, DecodesEscapesAndNumbers) {
  auto doc = parse_json_with_positions(R"({"s": "a\u00e9\ud83d\ude00\n", "i": -12, "d": 1.5e2})");
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(doc->root.at("s").as_string(), "a\xC3\xA9\xF0\x9F\x98\x80\n");
  EXPECT_EQ(doc->root.at("i").as_int64(), -12);
  EXPECT_DOUBLE_EQ(doc->root.at("d").as_double(), 150.0);
}

TEST(JsonWithPositions, RejectsUnterminatedInput) {
  EXPECT_FALSE(parse_json_with_positions("{\"a\": [1, 2").has_value());
  EXPECT_FALSE(parse_json_with_positions("").has_value());
  EXPECT_FALSE(parse_json_with_positions("{\"a\": 01}").has_value());
}
