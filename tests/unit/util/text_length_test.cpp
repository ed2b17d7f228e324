#include "util/text_length.h"

#include <gtest/gtest.h>

using sprocket::util::utf16_length;

TEST(Utf16Length, CountsCodeUnitsAsJavaScriptDoes) {
  EXPECT_EQ(utf16_length(""), 0u);
  EXPECT_EQ(utf16_length("abc"), 3u);
  EXPECT_EQ(utf16_length("é"), 1u);        // 2 bytes
  EXPECT_EQ(utf16_length("中"), 1u);       // 3 bytes
  EXPECT_EQ(utf16_length("😀"), 2u);       // 4 bytes, a surrogate pair in JavaScript
  EXPECT_EQ(utf16_length("aé中😀"), 5u);
}

TEST(Utf16Length, BrokenBytesCountOneEach) {
  EXPECT_EQ(utf16_length("\xff"), 1u);
  EXPECT_EQ(utf16_length("\xc3"), 1u);          // a lead byte cut off
  EXPECT_EQ(utf16_length("\xe4\xb8"), 2u);      // a 3-byte sequence cut off: two stray bytes
  EXPECT_EQ(utf16_length("\x80\x80x"), 3u);     // stray continuation bytes
  EXPECT_EQ(utf16_length("\xf0\x9f\x98"), 3u);
}
