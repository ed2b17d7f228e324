#pragma once
// Lengths of text as the people who set HubSpot's limits count them.
#include <cstddef>
#include <string_view>

namespace sprocket::util {

// The length of UTF-8 text in UTF-16 code units: what JavaScript's String.length and Java's
// String.length() return, and so what HubSpot's UI and its limits count ("é" and "中" are one,
// an emoji outside the Basic Multilingual Plane is two). A byte that does not start a valid
// sequence counts as one unit, so broken input is never counted as shorter than it looks.
inline std::size_t utf16_length(std::string_view text) {
  std::size_t units = 0;
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto continuation = [&](std::size_t at) { return at < n && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80; };
  while (i < n) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 1;
    std::size_t width = 1;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      width = 2;  // a surrogate pair
    }
    bool whole = true;
    for (std::size_t k = 1; k < length; ++k) whole = whole && continuation(i + k);
    if (!whole) {
      length = 1;
      width = 1;
    }
    units += width;
    i += length;
  }
  return units;
}

}  // namespace sprocket::util
