#include "accounts/execution_budget.h"

#include <gtest/gtest.h>

using namespace sprocket::accounts;
using namespace std::chrono_literals;

namespace {
ExecutionBudget::Clock::time_point at(std::chrono::milliseconds t) { return ExecutionBudget::Clock::time_point(1000s + t); }
}  // namespace

TEST(ExecutionBudget, SpendsTimeAndRefusesWithRetryAfter) {
  ExecutionBudget budget(1.0, std::nullopt);  // one execution-second per minute
  EXPECT_EQ(budget.time_remaining_ms(at(0ms)), 1000);
  ASSERT_TRUE(budget.admit(at(0ms)).admitted);
  budget.charge(at(600ms), 600ms);
  EXPECT_EQ(budget.time_remaining_ms(at(700ms)), 400);
  ASSERT_TRUE(budget.admit(at(5s)).admitted);
  budget.charge(at(5s), 500ms);
  auto refused = budget.admit(at(10s));
  EXPECT_FALSE(refused.admitted);
  EXPECT_STREQ(refused.reason, "EXECUTION_TIME");
  // the first charge leaves the window at 60 s: 50 s after the refusal
  EXPECT_EQ(refused.retry_after, 50s);
  EXPECT_TRUE(budget.admit(at(61s)).admitted);
}

TEST(ExecutionBudget, CountsExecutionsWhenLimited) {
  ExecutionBudget budget(600.0, 2);
  EXPECT_EQ(budget.executions_remaining(at(0ms), 10s), 2);
  EXPECT_TRUE(budget.admit(at(0ms)).admitted);
  EXPECT_TRUE(budget.admit(at(1s)).admitted);
  EXPECT_EQ(budget.executions_remaining(at(1s), 10s), 0);
  auto refused = budget.admit(at(2s));
  EXPECT_FALSE(refused.admitted);
  EXPECT_STREQ(refused.reason, "EXECUTIONS");
  EXPECT_EQ(refused.retry_after, 58s);
}

TEST(ExecutionBudget, WithoutCountLimitExecutionsRemainingIsWorstCaseExecutions) {
  ExecutionBudget budget(600.0, std::nullopt);
  EXPECT_EQ(budget.executions_remaining(at(0ms), 10s), 60);
  budget.charge(at(0ms), 100s);
  EXPECT_EQ(budget.executions_remaining(at(0ms), 10s), 50);
  EXPECT_EQ(budget.time_remaining_ms(at(0ms)), 500000);
}

// The gateway checks before it parses a request and counts only a valid one.
TEST(ExecutionBudget, CheckCountsNothingAndCountExecutionDoes) {
  ExecutionBudget budget(600.0, 1);
  EXPECT_TRUE(budget.check(at(0ms)).admitted);
  EXPECT_TRUE(budget.check(at(0ms)).admitted);
  EXPECT_EQ(budget.executions_remaining(at(0ms), 10s), 1);
  budget.count_execution(at(0ms));
  auto refused = budget.check(at(1s));
  EXPECT_FALSE(refused.admitted);
  EXPECT_STREQ(refused.reason, "EXECUTIONS");
  EXPECT_EQ(refused.retry_after, 59s);
}
