#include "util/byte_size.h"

#include <gtest/gtest.h>

namespace sprocket::util {
namespace {

TEST(ByteSizeTest, ReadsUnitsAsPowersOf1024AndRefusesTheRest) {
  EXPECT_EQ(parse_byte_size("4096"), 4096u);
  EXPECT_EQ(parse_byte_size("512KB"), 512u << 10);
  EXPECT_EQ(parse_byte_size("64MB"), 64u << 20);
  EXPECT_EQ(parse_byte_size("64mb"), 64u << 20);
  EXPECT_EQ(parse_byte_size("1G"), 1ull << 30);
  EXPECT_FALSE(parse_byte_size(""));
  EXPECT_FALSE(parse_byte_size("MB"));
  EXPECT_FALSE(parse_byte_size("12 MB"));
  EXPECT_FALSE(parse_byte_size("-1MB"));
  EXPECT_FALSE(parse_byte_size("5TB"));
  EXPECT_FALSE(parse_byte_size("99999999999999999999GB"));
}

}  // namespace
}  // namespace sprocket::util
