#pragma once
// Secret values at rest: libsodium secretbox (XSalsa20-Poly1305) under a key kept in a 0600
// file in the data directory, outside every function's reach.
#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace sprocket::secrets {

class SecretBox {
 public:
  // Reads the key file, or creates it (0600) with a new random key. Throws std::runtime_error.
  static SecretBox open_or_create(const std::filesystem::path& key_file);

  struct Sealed {
    std::string nonce;
    std::string ciphertext;
  };
  Sealed seal(std::string_view plaintext) const;
  std::optional<std::string> unseal(const Sealed& sealed) const;  // nullopt: tampered or wrong key

 private:
  std::array<unsigned char, 32> key_{};
};

}  // namespace sprocket::secrets
