#include "config/config_error.h"

#include <fmt/format.h>

namespace sprocket::config {

std::string ConfigError::to_string() const {
  std::string out;
  if (!file.empty()) {
    out += file.string();
    if (line > 0) out += fmt::format(":{}:{}", line, column);
    out += ": ";
  }
  out += "error: ";
  if (!field.empty()) out += field + ": ";
  out += message;
  if (!fix.empty()) out += "\n  fix: " + fix;
  return out;
}

std::string format_errors(const ConfigErrors& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += '\n';
    out += e.to_string();
  }
  return out;
}

}  // namespace sprocket::config
