#include "admin/admin_token.h"

#include <sodium.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <stdexcept>

#include "util/private_files.h"

namespace sprocket::admin {

AdminToken load_or_create_token(const std::filesystem::path& file) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
  // Two rounds at most: a file another process created meanwhile is whole, so the second read finds it.
  for (int round = 0; round < 2; ++round) {
    {
      std::ifstream in(file);
      std::string existing;
      if (in && std::getline(in, existing) && !existing.empty()) return {existing, false};
    }
    std::error_code ec;
    if (std::filesystem::file_size(file, ec) == 0 && !ec) {
      // Empty: an older sprocket was stopped (kill -9, a power cut) between creating the file and
      // writing it. Nothing can have used a token that was never written: make it again.
      std::filesystem::remove(file, ec);
    }
    std::string token = new_token();
    if (util::create_whole_private_file(file, token + "\n")) return {token, true};
    if (errno != EEXIST) throw std::runtime_error(fmt::format("cannot create {}: {}", file.string(), std::strerror(errno)));
  }
  throw std::runtime_error(fmt::format("{} holds no token; remove it and start again to make a new one", file.string()));
}

std::string new_token() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char hex[sizeof raw * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  return std::string("spk_") + hex;
}

std::string token_hash(std::string_view token) {
  unsigned char hash[32];
  crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(token.data()), token.size(), nullptr, 0);
  char hex[sizeof hash * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
  return hex;
}

std::string token_id(std::string_view token_hash) {
  unsigned char hash[crypto_generichash_BYTES_MIN];
  crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(token_hash.data()), token_hash.size(), nullptr, 0);
  char hex[sizeof hash * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
  return "tok_" + std::string(hex, 12);
}

bool token_matches(std::string_view expected, std::string_view presented) {
  // Compare equal lengths in constant time; a length mismatch still costs one full comparison.
  if (presented.size() != expected.size()) {
    [[maybe_unused]] int ignored = sodium_memcmp(expected.data(), expected.data(), expected.size());
    return false;
  }
  return !expected.empty() && sodium_memcmp(expected.data(), presented.data(), expected.size()) == 0;
}

}  // namespace sprocket::admin
