#include "runtime/sandbox_launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sys/resource.h>

#include <fmt/format.h>
#include <fstream>
#include <mutex>
#include <system_error>
#include <vector>

#include "util/unique_fd.h"

namespace sprocket::runtime {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kGuestInside = "/opt/sprocket/guest";
constexpr std::string_view kEnterInside = "/opt/sprocket/enter";
constexpr std::string_view kRuntimesInside = "/opt/sprocket/bin";

// What of the host's /etc a runtime needs: TLS roots, name resolution, the time zone.
constexpr const char* kEtcFiles[] = {"/etc/ssl", "/etc/ca-certificates", "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf",
                                     "/etc/host.conf", "/etc/gai.conf", "/etc/localtime", "/etc/mime.types"};

// Each worker gets a host uid of its own, from a range of 4,096 per node (by its pid), far above
// the uids of real users: not root, not the gateway's, not another live worker's. A uid goes
// back to the pool when its worker has been reaped.
constexpr unsigned kUidsPerNode = 4096;
unsigned first_worker_uid() { return (1u << 30) + static_cast<unsigned>(::getpid() % 65536) * kUidsPerNode; }

class UidPool : public std::enable_shared_from_this<UidPool> {
 public:
  explicit UidPool(unsigned first) : first_(first), in_use_(kUidsPerNode, false) {}
  // A free uid, held by the returned lease; throws when all are in use.
  std::pair<unsigned, std::shared_ptr<void>> take() {
    std::lock_guard lock(mutex_);
    for (unsigned i = 0; i < kUidsPerNode; ++i) {
      unsigned slot = (next_ + i) % kUidsPerNode;
      if (in_use_[slot]) continue;
      in_use_[slot] = true;
      next_ = slot + 1;
      auto self = shared_from_this();
      return {first_ + slot, std::shared_ptr<void>(nullptr, [self, slot](void*) { self->give_back(slot); })};
    }
    throw std::system_error(EAGAIN, std::generic_category(), fmt::format("all {} sandbox uids are in use", kUidsPerNode));
  }

 private:
  void give_back(unsigned slot) {
    std::lock_guard lock(mutex_);
    in_use_[slot] = false;
  }
  unsigned first_;
  std::mutex mutex_;
  std::vector<bool> in_use_;
  unsigned next_ = 0;
};

// The sandboxed process tree's first process: bwrap's child in the new namespaces.
std::optional<pid_t> first_child(pid_t pid) {
  std::ifstream children(fmt::format("/proc/{}/task/{}/children", pid, pid));
  pid_t child = 0;
  if (children >> child) return child;
  return std::nullopt;
}

struct MountInto {
  int namespace_fd;
  int tree_fd;
  int empty_file_fd;  // -1: the folder has no .env to cover
  int error = 0;
};

// A folder's .env holds the secrets of every function in it, each of which may read only its
// own (they reach it in its load frame): inside, the file is empty.
constexpr std::string_view kDotenvInside = "/var/task/.env";
bool has_dotenv(const fs::path& folder) {
  std::error_code ec;
  return fs::is_regular_file(folder / ".env", ec);
}

// Runs in a child that shares the gateway's memory but not its file-system context (no
// CLONE_FS), which setns into a mount namespace requires: system calls only.
int enter_and_mount(void* arg) {
  auto& job = *static_cast<MountInto*>(arg);
  if (::setns(job.namespace_fd, CLONE_NEWNS) != 0 ||
      ::syscall(SYS_move_mount, job.tree_fd, "", AT_FDCWD, kSandboxTaskDir.data(), MOVE_MOUNT_F_EMPTY_PATH) != 0 ||
      (job.empty_file_fd >= 0 &&
       ::syscall(SYS_move_mount, job.empty_file_fd, "", AT_FDCWD, kDotenvInside.data(), MOVE_MOUNT_F_EMPTY_PATH) != 0)) {
    job.error = errno;
    ::_exit(1);
  }
  ::_exit(0);
}

class SandboxLauncher final : public WorkerLauncher {
 public:
  SandboxLauncher(GuestInstall guest, SandboxSettings settings)
      : guest_(std::move(guest)), settings_(std::move(settings)), uids_(std::make_shared<UidPool>(first_worker_uid())) {
    // A worker may not be given more open files than the gateway itself may have (sprocket-enter
    // could only fail then, and every worker with it).
    struct rlimit files {};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_max != RLIM_INFINITY && files.rlim_max < settings_.open_files) {
      settings_.open_files = static_cast<unsigned>(files.rlim_max);
    }
    // What covers a folder's .env inside (a device node would not open on the nodev mount), in
    // a folder of its own that nobody else can have prepared.
    std::string dir = (fs::temp_directory_path() / "sprocket-cover-XXXXXX").string();
    if (!::mkdtemp(dir.data())) throw std::system_error(errno, std::generic_category(), "cannot create a private temporary folder");
    empty_file_ = fs::path(dir) / "empty";
    util::UniqueFd created(::open(empty_file_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444));
    if (!created.valid()) throw std::system_error(errno, std::generic_category(), "cannot create " + empty_file_.string());
  }
  ~SandboxLauncher() override {
    std::error_code ec;
    fs::remove_all(empty_file_.parent_path(), ec);
  }

  ChildProcess start(const WorkerImage& image, const std::vector<std::string>& cgroup_procs_files) override {
    ProcessSpec spec;
    spec.cgroup_procs_files = cgroup_procs_files;
    spec.cwd = "/";
    auto& a = spec.argv;
    a = {settings_.bwrap.string(), "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent"};
    if (!image.network) a.push_back("--unshare-net");
    // Folders bubblewrap creates on its own are private (0700): these must be open to the worker.
    for (const char* dir : {"/etc", "/opt", "/opt/sprocket", "/opt/sprocket/bin", "/var"}) a.insert(a.end(), {"--perms", "0755", "--dir", dir});
    // The system, read-only: /usr and the links into it, what /etc holds for TLS and DNS.
    a.insert(a.end(), {"--ro-bind", "/usr", "/usr"});
    for (const char* top : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
      std::error_code ec;
      if (fs::is_symlink(top, ec)) a.insert(a.end(), {"--symlink", fs::read_symlink(top, ec).string(), top});
      else if (fs::is_directory(top, ec)) a.insert(a.end(), {"--ro-bind", top, top});
    }
    for (const char* file : kEtcFiles) {
      std::error_code ec;
      if (fs::exists(file, ec)) a.insert(a.end(), {"--ro-bind", file, file});
    }
    a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev"});
    a.insert(a.end(), {"--size", std::to_string(settings_.tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp"});
    // POSIX shared memory and semaphores (Python's multiprocessing locks) live in /dev/shm.
    a.insert(a.end(), {"--size", std::to_string(settings_.tmp_bytes), "--perms", "1777", "--tmpfs", "/dev/shm"});
    // The guest side of the protocol with the preloaded packages, and the runtimes when they
    // live outside /usr.
    a.insert(a.end(), {"--ro-bind", guest_.guest_dir.string(), std::string(kGuestInside)});
    a.insert(a.end(), {"--ro-bind", settings_.enter.string(), std::string(kEnterInside)});
    std::string runtime = inside_runtime(image.runtime == WorkerRuntime::Python ? guest_.python : guest_.node, a);
    // The function's own folder (with its node_modules), read-only; a spare gets it at load.
    a.insert(a.end(), {"--perms", "0755", "--dir", std::string(kSandboxTaskDir)});
    if (!image.code_folder.empty()) {
      a.insert(a.end(), {"--ro-bind", image.code_folder.string(), std::string(kSandboxTaskDir)});
      if (has_dotenv(image.code_folder)) a.insert(a.end(), {"--ro-bind", empty_file_.string(), std::string(kDotenvInside)});
    }
    a.insert(a.end(), {"--chdir", image.code_folder.empty() ? "/" : std::string(kSandboxTaskDir)});
    // Only what sprocket-enter needs to take the worker's own uid; it gives them up at once.
    a.insert(a.end(), {"--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"});
    auto [uid, uid_lease] = uids_->take();
    a.insert(a.end(), {std::string(kEnterInside), "--uid", std::to_string(uid), "--nproc", std::to_string(settings_.processes), "--nofile",
                       std::to_string(settings_.open_files), "--fsize", std::to_string(settings_.file_bytes), "--"});
    auto command = runtime_command(image, runtime, fs::path(kGuestInside));
    a.insert(a.end(), command.argv.begin(), command.argv.end());
    spec.env = std::move(command.env);
    spec.env.push_back("HOME=/tmp");
    auto child = ChildProcess::start(spec);
    child.hold(std::move(uid_lease));
    return child;
  }

  fs::path worker_path(const fs::path& folder, const fs::path& host_path) const override {
    auto relative = host_path.lexically_relative(folder);
    if (relative.empty() || *relative.begin() == "..") return host_path;
    return relative == "." ? fs::path(kSandboxTaskDir) : fs::path(kSandboxTaskDir) / relative;
  }

  Expected<void*, std::string> expose(const ChildProcess& worker, const fs::path& folder) override {
    // A detached, read-only copy of the folder's mount tree, moved onto the spare's /var/task
    // from inside its mount namespace.
    auto child = first_child(worker.pid());
    if (!child) return Unexpected{std::string("its sandbox has no process")};
    util::UniqueFd ns(::open(fmt::format("/proc/{}/ns/mnt", *child).c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.valid()) return Unexpected{fmt::format("cannot open its mount namespace: {}", std::strerror(errno))};
    util::UniqueFd tree(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, folder.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE)));
    if (!tree.valid()) return Unexpected{fmt::format("cannot take a copy of the folder's mount: {}", std::strerror(errno))};
    mount_attr read_only{};
    read_only.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &read_only, sizeof read_only) != 0) {
      return Unexpected{fmt::format("cannot make the folder read-only: {}", std::strerror(errno))};
    }
    util::UniqueFd empty;
    if (has_dotenv(folder)) {
      empty.reset(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, empty_file_.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
      if (!empty.valid() || ::syscall(SYS_mount_setattr, empty.get(), "", AT_EMPTY_PATH, &read_only, sizeof read_only) != 0) {
        return Unexpected{fmt::format("cannot cover the folder's .env: {}", std::strerror(errno))};
      }
    }
    MountInto job{ns.get(), tree.get(), empty.valid() ? empty.get() : -1};
    pid_t pid = clone_borrowing_memory(enter_and_mount, &job);
    if (pid < 0) return Unexpected{fmt::format("cannot start the mount helper: {}", std::strerror(errno))};
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Unexpected{fmt::format("cannot mount the folder: {}", std::strerror(job.error))};
    return nullptr;
  }

  const GuestInstall& guest() const override { return guest_; }

  std::string describe() const override {
    return fmt::format("workers run sandboxed (bubblewrap: own namespaces, uid, /tmp of {} MB, seccomp; docs/security.md)",
                       settings_.tmp_bytes >> 20);
  }

 private:
  // The runtime's path inside: as on the host under /usr, else bound into /opt/sprocket/bin.
  std::string inside_runtime(const fs::path& host, std::vector<std::string>& argv) const {
    std::error_code ec;
    fs::path real = fs::canonical(host, ec);
    if (ec) real = host;
    if (real.string().rfind("/usr/", 0) == 0) return host.string();
    std::string inside = std::string(kRuntimesInside) + "/" + host.filename().string();
    argv.insert(argv.end(), {"--ro-bind", real.string(), inside});
    return inside;
  }

  GuestInstall guest_;
  SandboxSettings settings_;
  std::shared_ptr<UidPool> uids_;
  fs::path empty_file_;
};

}  // namespace

fs::path default_enter_binary() {
  std::error_code ec;
  return fs::read_symlink("/proc/self/exe", ec).parent_path() / "sprocket-enter";
}

std::optional<std::string> sandbox_unavailable(const SandboxSettings& settings) {
  std::error_code ec;
  if (!fs::is_regular_file(settings.bwrap, ec)) return fmt::format("bubblewrap is not installed ({} is missing)", settings.bwrap.string());
  if (!fs::is_regular_file(settings.enter, ec)) return fmt::format("{} is missing (it is built beside sprocket)", settings.enter.string());
  // A Python worker whose interpreter is /bin/true: it exits 0 once it runs inside the sandbox.
  GuestInstall guest;
  guest.python = "/bin/true";
  guest.guest_dir = settings.enter.parent_path();
  WorkerImage image;
  image.runtime = WorkerRuntime::Python;
  try {
    SandboxLauncher launcher(guest, settings);
    auto child = launcher.start(image, {});
    // Its pidfd turns readable when it exits.
    pollfd exited{child.exit_fd().get(), POLLIN, 0};
    int status = 0;
    if (::poll(&exited, 1, 10'000) <= 0 || !child.reap(status)) {
      return std::string("a sandboxed test process did not finish within 10 s");
    }
    std::string output;
    char buffer[512];
    ssize_t n;
    while ((n = ::read(child.stderr_pipe().get(), buffer, sizeof buffer)) > 0) output.append(buffer, static_cast<std::size_t>(n));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      while (!output.empty() && output.back() == '\n') output.pop_back();
      return fmt::format("a sandboxed test process failed ({}): {}", describe_wait_status(status), output.empty() ? "no output" : output);
    }
  } catch (const std::exception& e) {
    return fmt::format("a sandboxed test process could not start: {}", e.what());
  }
  return std::nullopt;
}

std::shared_ptr<WorkerLauncher> make_sandbox_launcher(GuestInstall guest, SandboxSettings settings) {
  return std::make_shared<SandboxLauncher>(std::move(guest), std::move(settings));
}

}  // namespace sprocket::runtime
