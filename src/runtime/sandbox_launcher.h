#pragma once
// Workers in a sandbox (docs/security.md): bubblewrap gives each one its own mount, PID, IPC
// and UTS namespaces (and network namespace when the function may not use the network) with
// only the runtime, the guest code and the function's own folder in view, read-only, and a
// private size-limited /tmp; sprocket-enter then drops it to a uid of its own in a user
// namespace of its own, with resource limits and a seccomp filter, and execs the runtime.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "runtime/worker_launcher.h"

namespace sprocket::runtime {

struct SandboxSettings {
  std::filesystem::path bwrap = "/usr/bin/bwrap";
  std::filesystem::path enter;            // the sprocket-enter binary
  std::size_t tmp_bytes = 64u << 20;      // each instance's private /tmp (tmpfs)
  unsigned processes = 256;               // RLIMIT_NPROC: processes and threads of one worker
  unsigned open_files = 1024;             // RLIMIT_NOFILE
  std::size_t file_bytes = 64u << 20;     // RLIMIT_FSIZE: the largest file it may write
};

// sprocket-enter beside the running binary.
std::filesystem::path default_enter_binary();

// Where a worker serving a folder finds it, as on Lambda.
inline constexpr std::string_view kSandboxTaskDir = "/var/task";

// Why no sandbox can be made on this machine (missing bwrap, no user namespaces…), or nullopt.
// Starts one sandboxed /bin/true to find out: call it once, at start-up.
std::optional<std::string> sandbox_unavailable(const SandboxSettings& settings);

std::shared_ptr<WorkerLauncher> make_sandbox_launcher(GuestInstall guest, SandboxSettings settings);

}  // namespace sprocket::runtime
