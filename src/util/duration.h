#pragma once
// Durations as people type them: "90d", "12h", "30m", "45s", "500ms".
#include <chrono>
#include <optional>
#include <string_view>

namespace sprocket::util {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace sprocket::util
