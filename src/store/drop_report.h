#pragma once
// What the log says about execution records that are never stored: one line when dropping
// starts, at most one per interval while it goes on (a full disk must not flood the log), and
// one when the store takes records again, with how many were lost meanwhile. Pure logic with
// the time passed in, so that the rate limit is testable.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace sprocket::store {

class DropReport {
 public:
  using Clock = std::chrono::steady_clock;
  explicit DropReport(std::chrono::seconds interval = std::chrono::seconds(60)) : interval_(interval) {}

  // `count` records were dropped at `now` because of `why`: the line to log, if one is due.
  std::optional<std::string> dropped(std::uint64_t count, const std::string& why, Clock::time_point now);
  // Records were stored at `now`: the line that says dropping ended, if it had started.
  std::optional<std::string> stored(Clock::time_point now);
  bool dropping() const { return dropping_; }

 private:
  std::chrono::seconds interval_;
  bool dropping_ = false;
  Clock::time_point started_{};
  Clock::time_point last_line_{};
  std::uint64_t since_start_ = 0;
  std::uint64_t since_line_ = 0;
  std::string why_;
};

}  // namespace sprocket::store
