#include "secrets/secret_box.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "util/private_files.h"
#include "util/unique_fd.h"

namespace sprocket::secrets {

static_assert(crypto_secretbox_KEYBYTES == 32);

SecretBox SecretBox::open_or_create(const std::filesystem::path& key_file) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
  SecretBox box;
  // Two rounds at most: a key another process created meanwhile is whole, so the second read finds it.
  for (int round = 0; round < 2; ++round) {
    util::UniqueFd fd(::open(key_file.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.valid()) {
      struct stat st {};
      if (::fstat(fd.get(), &st) == 0 && (st.st_mode & 077) != 0) {
        throw std::runtime_error(fmt::format("{} is readable by other users; run chmod 600 on it", key_file.string()));
      }
      if (st.st_size != 0) {
        if (::read(fd.get(), box.key_.data(), box.key_.size()) != static_cast<ssize_t>(box.key_.size())) {
          throw std::runtime_error(fmt::format("{} is not a sprocket secret key (it must hold 32 bytes)", key_file.string()));
        }
        return box;
      }
      // Empty: an older sprocket was stopped (kill -9, a power cut) between creating the file and
      // writing the key. The key was never written, so nothing was sealed with it: make it again.
      ::unlink(key_file.c_str());
    }
    randombytes_buf(box.key_.data(), box.key_.size());
    if (util::create_whole_private_file(key_file, std::string_view(reinterpret_cast<const char*>(box.key_.data()), box.key_.size()))) {
      return box;
    }
    if (errno != EEXIST) {
      throw std::runtime_error(fmt::format("cannot create the secret key file {}: {}", key_file.string(), std::strerror(errno)));
    }
  }
  throw std::runtime_error(fmt::format("{} holds no key; remove it and start again", key_file.string()));
}

SecretBox::Sealed SecretBox::seal(std::string_view plaintext) const {
  Sealed sealed;
  sealed.nonce.resize(crypto_secretbox_NONCEBYTES);
  randombytes_buf(sealed.nonce.data(), sealed.nonce.size());
  sealed.ciphertext.resize(plaintext.size() + crypto_secretbox_MACBYTES);
  crypto_secretbox_easy(reinterpret_cast<unsigned char*>(sealed.ciphertext.data()),
                        reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                        reinterpret_cast<const unsigned char*>(sealed.nonce.data()), key_.data());
  return sealed;
}

std::optional<std::string> SecretBox::unseal(const Sealed& sealed) const {
  if (sealed.nonce.size() != crypto_secretbox_NONCEBYTES || sealed.ciphertext.size() < crypto_secretbox_MACBYTES) {
    return std::nullopt;
  }
  std::string plain(sealed.ciphertext.size() - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()),
                                 reinterpret_cast<const unsigned char*>(sealed.ciphertext.data()), sealed.ciphertext.size(),
                                 reinterpret_cast<const unsigned char*>(sealed.nonce.data()), key_.data()) != 0) {
    return std::nullopt;
  }
  return plain;
}

}  // namespace sprocket::secrets
