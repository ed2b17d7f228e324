#include "cli/worker_settings.h"

#include <filesystem>
#include <fmt/format.h>

#include "runtime/sandbox_launcher.h"
#include "runtime/worker_launcher.h"

namespace sprocket::cli {
namespace fs = std::filesystem;

Expected<WorkerSetup, std::string> make_worker_setup(const WorkerChoices& choices) {
  WorkerSetup setup;
  runtime::GuestInstall guest;
  guest.node = choices.node;
  guest.guest_dir = runtime::default_guest_dir();
  if (choices.sandbox == "off") {
    setup.unsandboxed = "--sandbox off";
  } else {
    runtime::SandboxSettings sandbox;
    sandbox.enter = runtime::default_enter_binary();
    if (auto why = runtime::sandbox_unavailable(sandbox)) {
      if (choices.sandbox == "on") {
        return Unexpected{fmt::format("workers cannot be sandboxed on this machine: {}.\n"
                                      "Fix that (docs/security.md), or pass --sandbox off to run them as plain processes that can read "
                                      "everything sprocket can, including its data directory.",
                                      *why)};
      }
      setup.unsandboxed = *why;
    } else {
      try {
        setup.settings.launcher = runtime::make_sandbox_launcher(guest, sandbox);
      } catch (const std::exception& e) {
        return Unexpected{fmt::format("cannot set up the sandbox: {}", e.what())};
      }
    }
  }
  if (setup.unsandboxed) setup.settings.launcher = runtime::make_direct_launcher(guest);
  if (choices.memory_enforcement == "cgroup") {
    setup.settings.cgroups = runtime::MemoryCgroups::create(setup.settings.no_cgroups_reason);
  } else {
    setup.settings.no_cgroups_reason = "--memory-enforcement rss";
  }
  if (!fs::is_regular_file(guest.node)) {
    return Unexpected{fmt::format("Node.js not found at {}; install it (scripts/setup) or pass --node PATH", choices.node)};
  }
  return setup;
}

}  // namespace sprocket::cli
