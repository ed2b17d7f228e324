#include "runtime/restart_backoff.h"

#include <gtest/gtest.h>

using sprocket::runtime::RestartBackoff;
using std::chrono::milliseconds;

TEST(RestartBackoff, WaitsOnlyAfterFailuresInARowAndDoublesUpToACap) {
  RestartBackoff backoff;
  auto t = RestartBackoff::Clock::time_point{} + std::chrono::hours(1);
  EXPECT_EQ(backoff.wait(), milliseconds(0));
  backoff.failed(t);
  backoff.failed(t);
  EXPECT_EQ(backoff.wait(), milliseconds(0));  // two failures are ordinary bad luck
  backoff.failed(t);
  EXPECT_EQ(backoff.wait(), milliseconds(100));
  EXPECT_EQ(backoff.next_start(), t + milliseconds(100));
  backoff.failed(t);
  EXPECT_EQ(backoff.wait(), milliseconds(200));
  for (int i = 0; i < 40; ++i) backoff.failed(t);
  EXPECT_EQ(backoff.wait(), milliseconds(5000));
}

TEST(RestartBackoff, FiveSuccessesInARowEndIt) {
  RestartBackoff backoff;
  auto t = RestartBackoff::Clock::now();
  for (int i = 0; i < 6; ++i) backoff.failed(t);
  EXPECT_GT(backoff.wait(), milliseconds(0));
  for (int i = 0; i < 4; ++i) backoff.succeeded();
  EXPECT_GT(backoff.wait(), milliseconds(0));
  backoff.succeeded();
  EXPECT_EQ(backoff.wait(), milliseconds(0));
  EXPECT_EQ(backoff.failures_in_a_row(), 0);
}

TEST(RestartBackoff, AFunctionThatFailsEveryOtherTimeStaysOnIt) {
  RestartBackoff backoff;
  auto t = RestartBackoff::Clock::now();
  for (int i = 0; i < 10; ++i) {
    backoff.failed(t);
    backoff.succeeded();
  }
  EXPECT_EQ(backoff.failures_in_a_row(), 10);
  EXPECT_GT(backoff.wait(), milliseconds(0));
}
