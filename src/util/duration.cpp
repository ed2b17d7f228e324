#include "util/duration.h"

#include <charconv>

namespace sprocket::util {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  double number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data() || number < 0) return std::nullopt;
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  double ms_per_unit = 0;
  if (unit == "ms") ms_per_unit = 1;
  else if (unit == "s" || unit.empty()) ms_per_unit = 1000;
  else if (unit == "m") ms_per_unit = 60'000;
  else if (unit == "h") ms_per_unit = 3'600'000;
  else if (unit == "d") ms_per_unit = 86'400'000;
  else return std::nullopt;
  return std::chrono::milliseconds(static_cast<long long>(number * ms_per_unit));
}

}  // namespace sprocket::util
