#include "accounts/server_config.h"

#include <gtest/gtest.h>

using namespace sprocket::accounts;
using sprocket::config::format_errors;

TEST(ServerConfig, DefaultsAreHubSpots) {
  auto config = parse_server_config("/etc/sprocket.json", "{}");
  ASSERT_TRUE(config.has_value());
  const auto& l = config->default_limits;
  EXPECT_EQ(l.memory_mb, 128);
  EXPECT_EQ(l.design_manager_time_limit.count(), 10000);
  EXPECT_EQ(l.project_time_limit.count(), 15000);
  EXPECT_EQ(l.execution_seconds_per_minute, 600);
  EXPECT_FALSE(l.executions_per_minute.has_value());
  EXPECT_EQ(l.max_endpoints, 100);
  EXPECT_EQ(l.max_secrets, 50);
  EXPECT_EQ(l.log_bytes_per_execution, 4096u);
}

TEST(ServerConfig, AccountsInheritAndOverrideLimits) {
  auto config = parse_server_config("/etc/sprocket/sprocket.json", R"({
    "limits": {"memoryMb": 256, "queueTimeoutMs": 500},
    "accounts": [{"id": 42, "domains": ["Shop.Example.com"], "paths": ["fn", "/abs"], "limits": {"executionsPerMinute": 10}}]
  })");
  ASSERT_TRUE(config.has_value()) << format_errors(config.error());
  ASSERT_EQ(config->accounts.size(), 1u);
  const auto& a = config->accounts[0];
  EXPECT_EQ(a.id, 42);
  EXPECT_EQ(a.domains[0], "shop.example.com");
  EXPECT_EQ(a.paths[0], "/etc/sprocket/fn");
  EXPECT_EQ(a.paths[1], "/abs");
  EXPECT_EQ(a.limits.memory_mb, 256);
  EXPECT_EQ(a.limits.queue_timeout.count(), 500);
  EXPECT_EQ(*a.limits.executions_per_minute, 10);
}

TEST(ServerConfig, ErrorsNameTheSettingAndPosition) {
  auto config = parse_server_config("/c.json", "{\n  \"limits\": {\"memoryMb\": 8, \"timeout\": 1},\n  \"accounts\": [{\"domains\": []}]\n}");
  ASSERT_FALSE(config.has_value());
  std::string text = format_errors(config.error());
  EXPECT_NE(text.find("/c.json:2:26: error: limits.memoryMb: 8 is out of range"), std::string::npos) << text;
  EXPECT_NE(text.find("limits.timeout: unknown setting"), std::string::npos) << text;
  EXPECT_NE(text.find("the account has no \"id\""), std::string::npos) << text;
}
