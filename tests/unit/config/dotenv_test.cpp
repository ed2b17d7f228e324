#include "config/dotenv.h"

#include <gtest/gtest.h>

using sprocket::config::parse_dotenv;

TEST(Dotenv, ParsesTheUsualForms) {
  auto values = parse_dotenv(
      "# comment\nA=1\nexport B = two words \nC=\"quoted # not a comment\\nline\"\nD='single'\nE=x # trailing\n\nbad line\n");
  EXPECT_EQ(values.at("A"), "1");
  EXPECT_EQ(values.at("B"), "two words");
  EXPECT_EQ(values.at("C"), "quoted # not a comment\nline");
  EXPECT_EQ(values.at("D"), "single");
  EXPECT_EQ(values.at("E"), "x");
  EXPECT_EQ(values.count("bad line"), 0u);
}
