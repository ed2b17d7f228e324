// `.env` files (sprocket dev's local secrets), read as the dotenv package reads them. Nothing
// may crash, and every key is a name dotenv itself reads ([\w.-]+), which any environment carries.
#include "config/dotenv.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto values = sprocket::config::parse_dotenv(sprocket::fuzz::as_text(data, size));
  for (const auto& [key, value] : values) {
    bool word = !key.empty() && key.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == std::string::npos;
    if (!word) {
      sprocket::fuzz::fail("a key no environment can carry: " + key);
    }
  }
  return 0;
}
