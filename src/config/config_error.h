#pragma once
// A configuration mistake, located and explained so the user can fix it without guessing.
#include <filesystem>
#include <string>
#include <vector>

namespace sprocket::config {

struct ConfigError {
  std::filesystem::path file;  // may be empty for errors about a whole directory
  int line = 0;                // 0 when no position applies
  int column = 0;
  std::string field;  // e.g. "endpoints.events.method"; empty when none applies
  std::string message;
  std::string fix;  // what to change

  // "FILE:LINE:COLUMN: error: FIELD: MESSAGE\n  fix: FIX"
  std::string to_string() const;
};

using ConfigErrors = std::vector<ConfigError>;

std::string format_errors(const ConfigErrors& errors);

}  // namespace sprocket::config
