#pragma once
// Wall-clock time as log lines and records carry it.
#include <chrono>
#include <cstdint>

namespace sprocket::util {

inline std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace sprocket::util
