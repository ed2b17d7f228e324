#pragma once
// How worker processes are started: the one seam between "plain exec" (development, or where
// the kernel offers no sandbox) and the sandbox. Functions, spares and actions all start
// through it; nothing else builds an argv or knows where the guest code lives.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "runtime/process.h"
#include "util/expected.h"

namespace sprocket::runtime {

enum class WorkerRuntime { Node, Python };
// Which preloaded npm packages a Node worker may require without installing them.
enum class PreloadedPackages { Functions, Actions };

// What a worker is, in terms every launcher understands.
struct WorkerImage {
  WorkerRuntime runtime = WorkerRuntime::Node;
  PreloadedPackages packages = PreloadedPackages::Functions;
  int memory_limit_mb = 128;           // caps Node's heap below the cgroup limit
  std::filesystem::path code_folder;   // the folder it serves; empty for a generic spare
  std::vector<std::string> extra_env;  // "NAME=value" beyond the launcher's own (never secrets)
  bool network = true;                 // false: no network at all (where the launcher can)
};

// Where the runtimes and the guest side of the protocol are on this machine.
struct GuestInstall {
  std::filesystem::path node = "/usr/bin/node";
  std::filesystem::path python = "/usr/bin/python3";  // the real interpreter: 7 ms to start, not 77
  std::filesystem::path guest_dir;  // holds node/bootstrap.js, python/bootstrap.py and the packages
};

// guest/ beside the binary's build folder (build/sprocket -> guest), or where the sources were
// when it was built; SPROCKET_GUEST_DIR overrides both.
std::filesystem::path default_guest_dir();

// The runtime's command line and environment for `image`, as a launcher runs it: `program` is
// the interpreter and `guest_dir` holds the guest code, both as the worker sees them.
struct RuntimeCommand {
  std::vector<std::string> argv;
  std::vector<std::string> env;
};
RuntimeCommand runtime_command(const WorkerImage& image, const std::string& program, const std::filesystem::path& guest_dir);

class WorkerLauncher {
 public:
  virtual ~WorkerLauncher() = default;
  // Starts the process (it joins `cgroup_procs_files` first); throws
  // std::system_error when it cannot.
  virtual ChildProcess start(const WorkerImage& image, const std::vector<std::string>& cgroup_procs_files) = 0;
  // How a worker serving `folder` names `host_path` (a file in it, or the folder itself).
  virtual std::filesystem::path worker_path(const std::filesystem::path& folder, const std::filesystem::path& host_path) const = 0;
  // Lets a generic worker (a spare) see `folder`, before it loads a function from it.
  virtual Expected<void*, std::string> expose(const ChildProcess& worker, const std::filesystem::path& folder) = 0;
  virtual const GuestInstall& guest() const = 0;
  virtual std::string describe() const = 0;  // for the start-up banner
};

// Plain exec: the worker sees the host as the gateway does (`--sandbox off`).
std::shared_ptr<WorkerLauncher> make_direct_launcher(GuestInstall guest);

}  // namespace sprocket::runtime
