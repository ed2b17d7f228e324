#include "util/request_id.h"

#include <chrono>

namespace sprocket::util {

RequestIdGenerator::RequestIdGenerator() {
  std::random_device device;
  std::seed_seq seed{device(), device(), device(), device()};
  random_.seed(seed);
}

std::string RequestIdGenerator::next() {
  static constexpr char kHex[] = "0123456789abcdef";
  auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  // RFC 9562's counter method: within a millisecond the 12 bits after the version count up
  // (from a random start in the lower half, leaving room); past 4,096 in one millisecond, or
  // when the clock steps back, the time borrows from the next millisecond so ids stay in order.
  if (ms > last_ms_) {
    last_ms_ = ms;
    counter_ = random_() & 0x7FFULL;
  } else if (++counter_ > 0xFFFULL) {
    ++last_ms_;
    counter_ = random_() & 0x7FFULL;
  }
  std::uint64_t high = (last_ms_ << 16) | 0x7000ULL | counter_;  // 48-bit time, version 7, counter
  std::uint64_t low = (random_() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 1
  std::string id(36, '-');
  int pos = 0;
  auto put = [&](std::uint64_t value, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
      id[pos++] = kHex[(value >> (i * 4)) & 0xF];
    }
  };
  put(high, 16);
  put(low, 16);
  return id;
}

}  // namespace sprocket::util
