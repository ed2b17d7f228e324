#include "util/byte_size.h"

#include <cctype>
#include <charconv>
#include <string>

namespace sprocket::util {

std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
  std::uint64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  std::string unit;
  for (const char* p = end; p != text.data() + text.size(); ++p) unit += static_cast<char>(std::toupper(static_cast<unsigned char>(*p)));
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "KB" || unit == "K") scale = 1ull << 10;
  else if (unit == "MB" || unit == "M") scale = 1ull << 20;
  else if (unit == "GB" || unit == "G") scale = 1ull << 30;
  else return std::nullopt;
  if (number > UINT64_MAX / scale) return std::nullopt;
  return number * scale;
}

}  // namespace sprocket::util
