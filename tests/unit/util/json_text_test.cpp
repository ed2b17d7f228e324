#include "util/json_text.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

using sprocket::util::append_json_string;

namespace {

std::string as_json(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

}  // namespace

TEST(JsonText, EscapesQuotesAndControlCharacters) {
  EXPECT_EQ(as_json("a\"b\\c\n\x01"), R"("a\"b\\c\n\u0001")");
}

TEST(JsonText, KeepsWellFormedUtf8) {
  EXPECT_EQ(as_json("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"), "\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\"");
}

TEST(JsonText, ReplacesEveryByteThatIsNotPartOfACharacter) {
  EXPECT_EQ(as_json("/a\xFF" "b"), R"("/a\ufffdb")");
  EXPECT_EQ(as_json("\xC3"), R"("\ufffd")");                  // cut short at the end
  EXPECT_EQ(as_json("\xC3(x"), R"("\ufffd(x")");              // not followed by a continuation
  EXPECT_EQ(as_json("\xC0\xAF"), R"("\ufffd\ufffd")");        // overlong '/'
  EXPECT_EQ(as_json("\xED\xA0\x80"), R"("\ufffd\ufffd\ufffd")");  // a UTF-16 surrogate
  EXPECT_EQ(as_json("\xF4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // above U+10FFFF
  EXPECT_EQ(as_json("\x80"), R"("\ufffd")");                  // a lone continuation byte
}

TEST(JsonText, AnyBytesMakeValidJson) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  std::string text = as_json(all + all);
  boost::system::error_code ec;
  auto parsed = boost::json::parse(text, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parsed.is_string());
}

TEST(ValidUtf8Text, KeepsCharactersAndReplacesWhatADatabaseTextColumnRefuses) {
  using sprocket::util::valid_utf8_text;
  EXPECT_EQ(valid_utf8_text("plain \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80"), "plain \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80");
  EXPECT_EQ(valid_utf8_text(std::string("a\0b", 3)), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(valid_utf8_text("\xFF"), "\xEF\xBF\xBD");
  EXPECT_EQ(valid_utf8_text("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong: each byte replaced
  EXPECT_EQ(valid_utf8_text("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // cut short
}
