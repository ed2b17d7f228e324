#include "actions/retry_schedule.h"

#include <gtest/gtest.h>

using namespace sprocket::actions;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;

TEST(RetrySchedule, StartsAtOneMinuteAndDoublesUpToEightHours) {
  EXPECT_EQ(retry_delay(1), minutes(1));
  EXPECT_EQ(retry_delay(2), minutes(2));
  EXPECT_EQ(retry_delay(3), minutes(4));
  EXPECT_EQ(retry_delay(9), minutes(256));
  EXPECT_EQ(retry_delay(10), hours(8));
  EXPECT_EQ(retry_delay(40), hours(8));
}

TEST(RetrySchedule, GivesUpWhenTheNextAttemptWouldStartAfterThreeDays) {
  // Walk the whole schedule as if every attempt took no time.
  milliseconds elapsed{0};
  int retries = 0;
  while (auto delay = next_retry_delay(retries, elapsed)) {
    EXPECT_LE(*delay, hours(8));
    elapsed += *delay;
    ++retries;
  }
  EXPECT_LE(elapsed, hours(72));
  EXPECT_GT(elapsed + retry_delay(retries + 1), hours(72));
  EXPECT_EQ(retries, 16);  // 1+2+…+256 min (~8.5 h), then seven 8-hour gaps within the 3 days
}

TEST(RetryClock, CompressesTheScheduleForTests) {
  RetryClock fast(60'000);  // a minute becomes a millisecond
  EXPECT_EQ(fast.to_real(minutes(1)), milliseconds(1));
  EXPECT_EQ(fast.to_schedule(milliseconds(2)), minutes(2));
  RetryClock real;
  EXPECT_EQ(real.to_real(hours(8)), hours(8));
}
