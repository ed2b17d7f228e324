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

// Found by fuzz/dotenv_fuzz.cpp: "export O\0= two" made a variable named "O\0".
TEST(Dotenv, ReadsOnlyTheNamesDotenvReads) {
  using namespace std::string_literals;
  auto values = parse_dotenv("O\0=nul\nMY KEY=space\n\"Q\"=quoted\nok.name-1_x=yes\n=empty\n"s);
  EXPECT_EQ(values.size(), 1u);
  EXPECT_EQ(values.at("ok.name-1_x"), "yes");
}
