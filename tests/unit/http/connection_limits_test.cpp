#include "http/connection_limits.h"

#include <gtest/gtest.h>

using namespace sprocket::http;

TEST(ConnectionLimits, TheGatewayGetsWhatTheReserveAndAdminLeave) {
  auto caps = divide_open_files(20000);
  EXPECT_EQ(caps.reserve, 1024u);
  EXPECT_EQ(caps.admin, 128u);
  EXPECT_EQ(caps.gateway, 20000u - 1024u - 128u);
  EXPECT_FALSE(caps.warning);
}

TEST(ConnectionLimits, ASmallLimitKeepsAQuarterInReserve) {
  auto caps = divide_open_files(1024);
  EXPECT_EQ(caps.reserve, 256u);
  EXPECT_EQ(caps.admin, 64u);
  EXPECT_EQ(caps.gateway, 704u);
}

TEST(ConnectionLimits, AHugeLimitStillCapsTheGateway) { EXPECT_EQ(divide_open_files(1u << 20).gateway, 65536u); }

TEST(ConnectionLimits, ARequestedCapIsUsedWhenItFits) {
  auto caps = divide_open_files(20000, 200);
  EXPECT_EQ(caps.gateway, 200u);
  EXPECT_FALSE(caps.warning);
}

TEST(ConnectionLimits, ARequestedCapThatDoesNotFitIsCutAndSaysSo) {
  auto caps = divide_open_files(1024, 5000);
  EXPECT_EQ(caps.gateway, 704u);
  ASSERT_TRUE(caps.warning);
  EXPECT_NE(caps.warning->find("704"), std::string::npos) << *caps.warning;
}

TEST(ConnectionLimits, NeverZero) {
  auto caps = divide_open_files(3);
  EXPECT_GE(caps.gateway, 1u);
  EXPECT_GE(caps.admin, 1u);
}
