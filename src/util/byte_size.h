#pragma once
// Sizes as an operator writes them: "64MB", "512KB", "1GB", "4096" (bytes); powers of 1024.
#include <cstdint>
#include <optional>
#include <string_view>

namespace sprocket::util {

std::optional<std::uint64_t> parse_byte_size(std::string_view text);

}  // namespace sprocket::util
