#pragma once
// Request ids: UUIDv7 text (a millisecond timestamp, a 12-bit counter within the millisecond,
// then random bits), cheap enough for every request. The first 64 bits of the ids of one
// generator are unique and increasing: the store keys executions by them, appending.
#include <cstdint>
#include <random>
#include <string>

namespace sprocket::util {

class RequestIdGenerator {
 public:
  RequestIdGenerator();
  std::string next();

 private:
  std::mt19937_64 random_;
  std::uint64_t last_ms_ = 0;
  std::uint64_t counter_ = 0;
};

}  // namespace sprocket::util
