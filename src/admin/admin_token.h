#pragma once
// The admin API's bearer token: generated at first start, kept 0600 in the data directory.
#include <filesystem>
#include <string>
#include <string_view>

namespace sprocket::admin {

struct AdminToken {
  std::string value;
  bool created = false;  // true when this start generated it (print it once)
};

AdminToken load_or_create_token(const std::filesystem::path& file);  // throws std::runtime_error
bool token_matches(std::string_view expected, std::string_view presented);  // constant time

std::string new_token();                            // "spk_" + 64 hex digits
std::string token_hash(std::string_view token);     // what the store keeps of a scoped token
// "tok_" + 12 hex digits: names a scoped token in `tokens list` and `tokens revoke`. Derived from
// the hash by hashing again, so that listing tokens shows neither a token nor its hash.
std::string token_id(std::string_view token_hash);

}  // namespace sprocket::admin
