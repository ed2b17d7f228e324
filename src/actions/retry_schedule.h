#pragma once
// HubSpot's retry rule for actions that fail on a rate limit or a 429/5XX: "for up to three
// days, starting one minute after failure. Subsequent failures will be retried at increasing
// intervals, with a maximum gap of eight hours between tries."
#include <chrono>
#include <optional>

namespace sprocket::actions {

inline constexpr std::chrono::milliseconds kFirstRetryDelay = std::chrono::minutes(1);
inline constexpr std::chrono::milliseconds kLongestRetryGap = std::chrono::hours(8);
inline constexpr std::chrono::milliseconds kRetryWindow = std::chrono::hours(72);

// The delay before retry number `retry` (1: the first): 1 min, 2, 4, 8, … doubling up to 8 h.
std::chrono::milliseconds retry_delay(int retry);

// When to try again after `retries_so_far` retries, `since_first_failure` after the first
// retryable failure; nullopt when that attempt would start past the 3-day window: give up.
std::optional<std::chrono::milliseconds> next_retry_delay(int retries_so_far, std::chrono::milliseconds since_first_failure);

// The retry clock. Real deployments run it at 1; tests compress days into seconds by running
// it faster (`--action-clock-scale`): delays shrink, and elapsed time counts that much more.
class RetryClock {
 public:
  explicit RetryClock(double scale = 1.0) : scale_(scale > 0 ? scale : 1.0) {}
  std::chrono::milliseconds to_real(std::chrono::milliseconds schedule) const {
    return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(schedule.count()) / scale_));
  }
  std::chrono::milliseconds to_schedule(std::chrono::milliseconds real) const {
    return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(real.count()) * scale_));
  }

 private:
  double scale_;
};

}  // namespace sprocket::actions
