#pragma once
// How this process starts workers: the sandbox (or why not), the memory cgroups, the guest
// runtimes. Shared by `serve`/`dev` and `invoke`, so a one-shot run starts its worker exactly
// as a node would.
#include <optional>
#include <string>

#include "runtime/dispatcher.h"
#include "util/expected.h"

namespace sprocket::cli {

struct WorkerChoices {
  std::string sandbox = "on";  // on | off | auto (docs/security.md)
  std::string memory_enforcement = "cgroup";  // cgroup | rss
  std::string node = "/usr/bin/node";
};

struct WorkerSetup {
  runtime::RuntimeSettings settings;
  std::optional<std::string> unsandboxed;  // why workers run without a sandbox, when they do
};

// The error is a message for a user (what is wrong, and what to pass instead).
Expected<WorkerSetup, std::string> make_worker_setup(const WorkerChoices& choices);

}  // namespace sprocket::cli
