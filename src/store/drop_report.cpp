#include "store/drop_report.h"

#include <fmt/format.h>

namespace sprocket::store {
namespace {
double seconds_between(DropReport::Clock::time_point from, DropReport::Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}
}  // namespace

std::optional<std::string> DropReport::dropped(std::uint64_t count, const std::string& why, Clock::time_point now) {
  if (count == 0) return std::nullopt;
  since_start_ += count;
  since_line_ += count;
  why_ = why;
  if (!dropping_) {
    dropping_ = true;
    started_ = last_line_ = now;
    since_line_ = 0;
    return fmt::format("sprocket: dropping execution records: {} could not be stored ({}); counted in "
                       "sprocket_execution_records_dropped_total, and said here at most every {} s until the store takes "
                       "them again",
                       count, why, interval_.count());
  }
  if (now - last_line_ < interval_) return std::nullopt;
  auto line = fmt::format("sprocket: still dropping execution records ({}): {} in the last {:.0f} s, {} since it started {:.0f} s ago",
                          why, since_line_, seconds_between(last_line_, now), since_start_, seconds_between(started_, now));
  last_line_ = now;
  since_line_ = 0;
  return line;
}

std::optional<std::string> DropReport::stored(Clock::time_point now) {
  if (!dropping_) return std::nullopt;
  auto line = fmt::format("sprocket: execution records are stored again; {} were dropped in {:.1f} s (the last reason: {})",
                          since_start_, seconds_between(started_, now), why_);
  *this = DropReport(interval_);
  return line;
}

}  // namespace sprocket::store
