#include "logs/log_format.h"

#include <gtest/gtest.h>

using namespace sprocket::logs;

TEST(LogFormat, ExecutionLineMatchesHubSpot) {
  // 2021-04-28T19:19:21.666Z
  EXPECT_EQ(execution_line(1619637561666, "SUCCESS", "GET", "/_hcms/api/hello", 279),
            "2021-04-28T19:19:21.666Z - SUCCESS - GET /_hcms/api/hello - Execution Time: 279ms");
}

TEST(LogFormat, ConsoleLinesAlignLevels) {
  EXPECT_EQ(console_line(1619637313200, "INFO", "Log some debug info"),
            "2021-04-28T19:15:13.200Z    INFO   Log some debug info");
  EXPECT_EQ(console_line(1619637313200, "ERROR", "x"), "2021-04-28T19:15:13.200Z    ERROR  x");
  EXPECT_EQ(console_line(5, "WARN", "x"), "1970-01-01T00:00:00.005Z    WARN   x");
}
