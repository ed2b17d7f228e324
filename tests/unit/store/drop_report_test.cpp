#include "store/drop_report.h"

#include <gtest/gtest.h>

namespace sprocket::store {
namespace {
using namespace std::chrono_literals;

TEST(DropReportTest, SaysWhenDroppingStartsThenAtMostOncePerIntervalThenWhenItEnds) {
  DropReport report(60s);
  const auto t0 = DropReport::Clock::time_point{} + 1000s;
  auto first = report.dropped(10, "disk full", t0);
  ASSERT_TRUE(first);
  EXPECT_NE(first->find("dropping execution records: 10 could not be stored (disk full)"), std::string::npos) << *first;
  EXPECT_TRUE(report.dropping());
  // A full disk drops a batch every few milliseconds: none of these is said.
  for (int i = 1; i < 100; ++i) EXPECT_FALSE(report.dropped(5, "disk full", t0 + std::chrono::milliseconds(i * 500)));
  auto later = report.dropped(1, "disk full", t0 + 61s);
  ASSERT_TRUE(later);
  EXPECT_NE(later->find("still dropping execution records (disk full): 496 in the last 61 s, 506 since it started"), std::string::npos)
      << *later;
  EXPECT_FALSE(report.dropped(1, "disk full", t0 + 62s));
  auto ended = report.stored(t0 + 70s);
  ASSERT_TRUE(ended);
  EXPECT_NE(ended->find("stored again; 507 were dropped in 70.0 s"), std::string::npos) << *ended;
  EXPECT_FALSE(report.dropping());
}

TEST(DropReportTest, StoringWithoutDropsSaysNothingAndANewOutageIsSaidAgain) {
  DropReport report(60s);
  const auto t0 = DropReport::Clock::time_point{} + 1000s;
  EXPECT_FALSE(report.stored(t0));
  EXPECT_FALSE(report.dropped(0, "nothing", t0));
  ASSERT_TRUE(report.dropped(3, "locked", t0));
  ASSERT_TRUE(report.stored(t0 + 1s));
  auto again = report.dropped(4, "disk full", t0 + 2s);  // a new outage, within the interval of the last line
  ASSERT_TRUE(again);
  EXPECT_NE(again->find("4 could not be stored (disk full)"), std::string::npos) << *again;
  auto ended = report.stored(t0 + 3s);
  ASSERT_TRUE(ended);
  EXPECT_NE(ended->find("4 were dropped"), std::string::npos) << *ended;  // this outage's count, not the total
}

}  // namespace
}  // namespace sprocket::store
