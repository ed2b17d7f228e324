#include "actions/retry_schedule.h"

#include <algorithm>

namespace sprocket::actions {

std::chrono::milliseconds retry_delay(int retry) {
  auto delay = kFirstRetryDelay;
  for (int i = 1; i < retry && delay < kLongestRetryGap; ++i) delay *= 2;
  return std::min(delay, kLongestRetryGap);
}

std::optional<std::chrono::milliseconds> next_retry_delay(int retries_so_far, std::chrono::milliseconds since_first_failure) {
  auto delay = retry_delay(retries_so_far + 1);
  if (since_first_failure + delay > kRetryWindow) return std::nullopt;
  return delay;
}

}  // namespace sprocket::actions
