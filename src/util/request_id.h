#pragma once
// Request ids: random UUIDv4 text, cheap enough for every request.
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
