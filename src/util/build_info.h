#pragma once
// What this binary was built from: `sprocket --version` and the sprocket_build_info metric.
// The definitions are generated at build time (cmake/build_info.cmake).
#include <string>
#include <string_view>

namespace sprocket::util {

std::string_view build_version();  // CMake project() VERSION: "0.1.0"
std::string_view build_commit();   // short git commit, "-dirty" with uncommitted changes; "unknown" outside git
std::string_view build_date();     // UTC, YYYY-MM-DD

// "sprocket 0.1.0 (git 1a2b3c4d5e6f, built 2026-12-04)"
inline std::string version_line() {
  return "sprocket " + std::string(build_version()) + " (git " + std::string(build_commit()) + ", built " +
         std::string(build_date()) + ")";
}

}  // namespace sprocket::util
