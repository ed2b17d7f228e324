#include "admin/admin_token.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <stdexcept>

#include "util/private_files.h"
#include "util/unique_fd.h"

namespace sprocket::admin {

AdminToken load_or_create_token(const std::filesystem::path& file) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
  std::ifstream in(file);
  std::string existing;
  if (in && std::getline(in, existing) && !existing.empty()) return {existing, false};
  std::string token = new_token();
  util::UniqueFd fd = util::open_private_file(file, O_WRONLY | O_EXCL);
  if (!fd.valid()) {
    if (errno == EEXIST) return load_or_create_token(file);
    throw std::runtime_error(fmt::format("cannot create {}: {}", file.string(), std::strerror(errno)));
  }
  std::string line = token + "\n";
  if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    throw std::runtime_error(fmt::format("cannot write {}", file.string()));
  }
  return {token, true};
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

bool token_matches(std::string_view expected, std::string_view presented) {
  // Compare equal lengths in constant time; a length mismatch still costs one full comparison.
  if (presented.size() != expected.size()) {
    [[maybe_unused]] int ignored = sodium_memcmp(expected.data(), expected.data(), expected.size());
    return false;
  }
  return !expected.empty() && sodium_memcmp(expected.data(), presented.data(), expected.size()) == 0;
}

}  // namespace sprocket::admin
