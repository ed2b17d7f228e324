#pragma once
// Request ids: UUIDv7 text (a millisecond timestamp, then random bits), cheap enough for every
// request. Being time-ordered, they are appended to the store's index instead of scattered in it.
#include <random>
#include <string>

namespace sprocket::util {

class RequestIdGenerator {
 public:
  RequestIdGenerator();
  std::string next();

 private:
  std::mt19937_64 random_;
};

}  // namespace sprocket::util
