#include "runtime/worker_launcher.h"

#include <fmt/format.h>

namespace sprocket::runtime {
namespace fs = std::filesystem;

fs::path default_guest_dir() {
  if (const char* overridden = std::getenv("SPROCKET_GUEST_DIR")) return fs::path(overridden);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& candidate : {exe.parent_path().parent_path() / "guest", exe.parent_path() / "guest",
                                    fs::path(SPROCKET_SOURCE_DIR) / "guest"}) {
    if (fs::is_regular_file(candidate / "node" / "bootstrap.js", ec)) return candidate;
  }
  return fs::path(SPROCKET_SOURCE_DIR) / "guest";
}

RuntimeCommand runtime_command(const WorkerImage& image, const std::string& program, const fs::path& guest_dir) {
  RuntimeCommand command;
  if (image.runtime == WorkerRuntime::Python) {
    command.argv = {program, (guest_dir / "python" / "bootstrap.py").string()};
    command.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"};
  } else {
    // V8 sizes its heap from the machine, not from the 128 MB the function may use: cap the
    // heap at three quarters of the limit so that most overruns end in Node's own readable error.
    int heap_mb = std::max(16, image.memory_limit_mb * 3 / 4);
    // The young generation grows to two 16 MB semi-spaces by default and stays committed after
    // its garbage is collected: a quarter of a 128 MB instance, held by whatever ran before.
    // A thirty-second of the limit per semi-space (4 MB at 128 MB) keeps that small.
    int semi_space_mb = std::max(1, image.memory_limit_mb / 32);
    command.argv = {program, fmt::format("--max-old-space-size={}", heap_mb), fmt::format("--max-semi-space-size={}", semi_space_mb)};
    // Actions collect their garbage between executions (docs/actions.md); a Buffer's memory
    // is freed by a background sweeper that a busy machine may not run for a while, so the
    // next execution would start with it still counted. Swept during the collection instead.
    if (image.packages == PreloadedPackages::Actions) command.argv.push_back("--no-concurrent-array-buffer-sweeping");
    command.argv.push_back((guest_dir / "node" / "bootstrap.js").string());
    // The preloaded packages resolve after the function's own node_modules, as on HubSpot.
    const char* packages = image.packages == PreloadedPackages::Functions ? "node" : "node-actions";
    command.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "NODE_PATH=" + (guest_dir / packages / "node_modules").string()};
  }
  // glibc raises its mmap threshold (to 32 MB) each time a large block is freed, after which
  // blocks below it come from the heap and stay resident once freed: one execution's 10 MB
  // would count against the next. A fixed threshold (glibc's initial 128 KB) turns that off.
  // The bootstraps remove the variable before user code runs.
  command.env.push_back("GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072");
  command.env.insert(command.env.end(), image.extra_env.begin(), image.extra_env.end());
  return command;
}

namespace {

class DirectLauncher final : public WorkerLauncher {
 public:
  explicit DirectLauncher(GuestInstall guest) : guest_(std::move(guest)) {}

  ChildProcess start(const WorkerImage& image, const std::string& cgroup_procs_file) override {
    ProcessSpec spec;
    spec.cwd = image.code_folder.empty() ? fs::path("/") : image.code_folder;
    spec.cgroup_procs_file = cgroup_procs_file;
    auto command = runtime_command(image, (image.runtime == WorkerRuntime::Python ? guest_.python : guest_.node).string(),
                                   guest_.guest_dir);
    spec.argv = std::move(command.argv);
    spec.env = std::move(command.env);
    return ChildProcess::start(spec);
  }

  fs::path worker_path(const fs::path&, const fs::path& host_path) const override { return host_path; }
  Expected<void*, std::string> expose(const ChildProcess&, const fs::path&) override { return nullptr; }
  const GuestInstall& guest() const override { return guest_; }
  std::string describe() const override { return "workers run unsandboxed, with the gateway's view of the machine (--sandbox off)"; }

 private:
  GuestInstall guest_;
};

}  // namespace

std::shared_ptr<WorkerLauncher> make_direct_launcher(GuestInstall guest) { return std::make_shared<DirectLauncher>(std::move(guest)); }

}  // namespace sprocket::runtime
