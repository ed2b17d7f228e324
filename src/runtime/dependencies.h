#pragma once
// A functions folder's own package.json dependencies, installed with npm before it is served.
#include <filesystem>
#include <functional>
#include <string>

#include "util/expected.h"

namespace sprocket::runtime {

struct InstallOutcome {
  bool installed = false;  // false: nothing to do (no dependencies, or node_modules is current)
};

// Runs `npm install` in FOLDER when its package.json declares dependencies and node_modules is
// missing or older than package.json / package-lock.json. The error carries npm's own output.
// `starting` is called just before npm starts (not when there is nothing to install).
Expected<InstallOutcome, std::string> install_dependencies(const std::filesystem::path& folder,
                                                           const std::filesystem::path& npm = "/usr/bin/npm",
                                                           const std::function<void()>& starting = {});

// The server is stopping: an npm running now (and all it started) is killed, and later installs
// fail at once, so that a stop never waits for one. Safe from any thread.
void stop_dependency_installs();

}  // namespace sprocket::runtime
