#include "runtime/memory_cgroup.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>
#include <fstream>
#include <sstream>

namespace sprocket::runtime {
namespace fs = std::filesystem;

namespace {

bool write_file(const fs::path& file, const std::string& value) {
  std::ofstream out(file);
  out << value;
  out.flush();
  return static_cast<bool>(out);
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// "key value" lines (memory.oom_control, memory.events).
std::size_t keyed_value(const std::string& text, std::string_view key) {
  std::istringstream lines(text);
  std::string k;
  std::size_t v;
  while (lines >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

// The cgroup this process is in, for a v1 controller or v2 ("" for v2).
std::optional<std::string> own_cgroup(std::string_view controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string_view controllers(line.data() + first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (controller.empty() ? controllers.empty() : controllers == controller) return path;
  }
  return std::nullopt;
}

void kill_members(const fs::path& dir, bool v2);

// Parents named sprocket-PID whose gateway is gone (killed with -9). Its workers died with it
// (PR_SET_PDEATHSIG), but not what they started in sessions of their own, nor a sandbox whose
// launcher died before it could ask for the signal: whatever is still in them is killed now.
// A cgroup the kernel has not emptied yet is kept for `later`.
void remove_abandoned_parents(const fs::path& base, bool v2, std::vector<fs::path>& later) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("sprocket-", 0) != 0) continue;
    pid_t pid = 0;
    try {
      pid = static_cast<pid_t>(std::stol(name.substr(9)));
    } catch (...) {
      continue;
    }
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    for (const auto& child : fs::directory_iterator(entry.path(), ec)) {
      if (!child.is_directory(ec)) continue;
      if (::rmdir(child.path().c_str()) == 0 || errno != EBUSY) continue;
      kill_members(child.path(), v2);
      if (::rmdir(child.path().c_str()) != 0 && errno == EBUSY) later.push_back(child.path());
    }
    if (::rmdir(entry.path().c_str()) != 0 && errno == EBUSY) later.push_back(entry.path());
  }
}

// SIGKILL to every process in a cgroup (v2's cgroup.kill does it in one write where it exists).
void kill_members(const fs::path& dir, bool v2) {
  if (v2 && write_file(dir / "cgroup.kill", "1")) return;
  std::ifstream procs(dir / "cgroup.procs");
  pid_t pid;
  while (procs >> pid) ::kill(pid, SIGKILL);
}

bool try_parent(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  return !ec && fs::is_directory(dir);
}

}  // namespace

WorkerCgroup::~WorkerCgroup() {
  // The worker is reaped by now; anything the function started in a session of its own may
  // still be in the cgroups. Kill it; a cgroup goes once the kernel has reaped it, which this
  // must not wait for on the event loop: the parent retries later.
  for (const fs::path* dir : {&pids_dir_, &dir_}) {
    if (dir->empty()) continue;
    if (::rmdir(dir->c_str()) == 0 || errno != EBUSY) continue;
    kill_members(*dir, v2_);
    if (::rmdir(dir->c_str()) == 0 || errno != EBUSY) continue;
    parent_->remove_later(*dir);
  }
}

std::vector<std::string> WorkerCgroup::procs_files() const {
  std::vector<std::string> files{(dir_ / "cgroup.procs").string()};
  if (!pids_dir_.empty()) files.push_back((pids_dir_ / "cgroup.procs").string());
  return files;
}

bool WorkerCgroup::oom_killed() const {
  if (v2_) return keyed_value(read_file(dir_ / "memory.events"), "oom_kill") > 0;
  return keyed_value(read_file(dir_ / "memory.oom_control"), "oom_kill") > 0;
}

namespace {
std::size_t number_in(const fs::path& file) {
  std::string text = read_file(file);
  try {
    return text.empty() ? 0 : std::stoull(text);
  } catch (...) {
    return 0;
  }
}

// The limit and the no-swap limit together. cgroup v1 wants memsw >= limit at every moment,
// so which is written first depends on the direction of the move.
bool write_limits(const fs::path& dir, bool v2, std::size_t limit_bytes) {
  std::string limit = std::to_string(limit_bytes);
  if (v2) {
    bool ok = write_file(dir / "memory.max", limit);
    write_file(dir / "memory.swap.max", "0");
    return ok;
  }
  if (!fs::exists(dir / "memory.memsw.limit_in_bytes")) return write_file(dir / "memory.limit_in_bytes", limit);
  if (write_file(dir / "memory.limit_in_bytes", limit)) return write_file(dir / "memory.memsw.limit_in_bytes", limit);
  return write_file(dir / "memory.memsw.limit_in_bytes", limit) && write_file(dir / "memory.limit_in_bytes", limit);
}
}  // namespace

std::size_t WorkerCgroup::peak_bytes() const { return number_in(dir_ / (v2_ ? "memory.peak" : "memory.max_usage_in_bytes")); }

std::size_t WorkerCgroup::usage_bytes() const { return number_in(dir_ / (v2_ ? "memory.current" : "memory.usage_in_bytes")); }

std::size_t WorkerCgroup::mapped_file_bytes() const {
  return keyed_value(read_file(dir_ / "memory.stat"), v2_ ? "file_mapped" : "mapped_file");
}

bool WorkerCgroup::set_limit_bytes(std::size_t limit_bytes) { return write_limits(dir_, v2_, limit_bytes); }

std::shared_ptr<MemoryCgroups> MemoryCgroups::create(std::string& why) {
  std::string name = fmt::format("sprocket-{}", ::getpid());
  // cgroup v2 with the memory controller enabled for children of our cgroup.
  if (auto path = own_cgroup(""); path && fs::exists("/sys/fs/cgroup/cgroup.controllers")) {
    fs::path base = fs::path("/sys/fs/cgroup") / fs::path(*path).relative_path();
    std::string controllers = read_file(base / "cgroup.subtree_control");
    std::vector<fs::path> later;
    remove_abandoned_parents(base, true, later);
    if (controllers.find("memory") != std::string::npos && try_parent(base / name)) {
      write_file(base / name / "cgroup.subtree_control", "+memory");
      if (read_file(base / name / "cgroup.subtree_control").find("memory") != std::string::npos) {
        auto made = std::shared_ptr<MemoryCgroups>(new MemoryCgroups(base / name, true));
        for (auto& dir : later) made->remove_later(std::move(dir));
        made->set_up_pids();
        return made;
      }
      ::rmdir((base / name).c_str());
    }
  }
  // cgroup v1's memory hierarchy.
  if (auto path = own_cgroup("memory"); path && fs::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")) {
    fs::path base = fs::path("/sys/fs/cgroup/memory") / fs::path(*path).relative_path();
    std::vector<fs::path> later;
    remove_abandoned_parents(base, false, later);
    if (try_parent(base / name) && fs::exists(base / name / "memory.limit_in_bytes")) {
      auto made = std::shared_ptr<MemoryCgroups>(new MemoryCgroups(base / name, false));
      for (auto& dir : later) made->remove_later(std::move(dir));
      made->set_up_pids();
      return made;
    }
    why = fmt::format("cannot create a memory cgroup under {}", base.string());
    return nullptr;
  }
  why = "no writable memory cgroup controller is mounted";
  return nullptr;
}

void MemoryCgroups::set_up_pids() {
  std::string name = dir_.filename().string();
  if (v2_) {
    // The workers' cgroups are the memory ones: the controller only has to be enabled for them.
    fs::path base = dir_.parent_path();
    if (read_file(base / "cgroup.subtree_control").find("pids") == std::string::npos) return;
    write_file(dir_ / "cgroup.subtree_control", "+pids");
    pids_v2_ = read_file(dir_ / "cgroup.subtree_control").find("pids") != std::string::npos;
    return;
  }
  auto path = own_cgroup("pids");
  if (!path || !fs::exists("/sys/fs/cgroup/pids")) return;
  fs::path base = fs::path("/sys/fs/cgroup/pids") / fs::path(*path).relative_path();
  std::vector<fs::path> later;
  remove_abandoned_parents(base, false, later);
  for (auto& dir : later) remove_later(std::move(dir));
  if (try_parent(base / name) && fs::exists(base / name / "pids.max")) pids_dir_ = base / name;
}

MemoryCgroups::~MemoryCgroups() {
  std::error_code ec;
  for (const fs::path* parent : {&dir_, &pids_dir_}) {
    if (parent->empty()) continue;
    for (const auto& entry : fs::directory_iterator(*parent, ec)) {
      if (entry.is_directory(ec)) ::rmdir(entry.path().c_str());
    }
    ::rmdir(parent->c_str());
  }
}

void MemoryCgroups::remove_later(fs::path dir) {
  std::lock_guard lock(leftovers_mutex_);
  leftovers_.push_back(std::move(dir));
}

void MemoryCgroups::remove_leftovers() {
  std::lock_guard lock(leftovers_mutex_);
  std::erase_if(leftovers_, [](const fs::path& dir) { return ::rmdir(dir.c_str()) == 0 || errno != EBUSY; });
}

std::unique_ptr<WorkerCgroup> MemoryCgroups::make_worker_cgroup(const std::string& name, std::size_t limit_bytes, int max_processes) {
  remove_leftovers();  // cgroups whose last process the kernel has reaped since
  fs::path dir = dir_ / name;
  std::error_code ec;
  fs::create_directory(dir, ec);
  if (ec) return nullptr;
  // v2: one cgroup holds both controllers; v1: the pids hierarchy has a cgroup of its own.
  fs::path pids_max;
  fs::path pids_dir;
  if (v2_ && pids_v2_) {
    pids_max = dir / "pids.max";
  } else if (!pids_dir_.empty()) {
    pids_dir = pids_dir_ / name;
    fs::create_directory(pids_dir, ec);
    if (ec) pids_dir.clear();
    else pids_max = pids_dir / "pids.max";
  }
  auto cgroup = std::make_unique<WorkerCgroup>(dir, pids_dir, v2_, shared_from_this());
  if (!pids_max.empty() && !write_file(pids_max, std::to_string(max_processes))) return nullptr;
  return write_limits(dir, v2_, limit_bytes) ? std::move(cgroup) : nullptr;
}

std::string MemoryCgroups::describe() const {
  std::string pids = v2_ ? (pids_v2_ ? ", pids controller on" : "") : (pids_dir_.empty() ? "" : ", pids cgroup " + pids_dir_.string());
  if (!limits_processes()) pids = "; no pids controller: processes per instance are bounded only by the sandbox's per-uid limit";
  return fmt::format("memory cgroup {} ({}){}", dir_.string(), v2_ ? "v2" : "v1", pids);
}

}  // namespace sprocket::runtime
