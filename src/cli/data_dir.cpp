#include "cli/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <thread>

#include "util/private_files.h"

namespace sprocket::cli {
namespace fs = std::filesystem;

namespace {

// What sprocket keeps in the data directory itself; SQLite's -wal and -shm files take the
// database's mode when SQLite creates them, but an existing pair keeps its own.
constexpr const char* kPrivateFiles[] = {"sprocket.db", "sprocket.db-wal", "sprocket.db-shm", "sprocket.db-journal",
                                         "secret.key",  "admin.token",     "serve.lock"};

void narrow(const fs::path& path, mode_t mode, std::vector<std::string>& notes) {
  std::error_code ec;
  if (auto was = util::tighten_permissions(path, mode, ec)) {
    notes.push_back(fmt::format("{} was mode {} (others could read it); it is {} now", path.string(), util::mode_text(*was),
                                util::mode_text(mode)));
  } else if (ec) {
    notes.push_back(fmt::format("{} may be readable by other users and could not be narrowed: {}", path.string(), ec.message()));
  }
}

std::string command_line_of(long pid) {
  std::ifstream in(fmt::format("/proc/{}/cmdline", pid), std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && text.back() == '\0') text.pop_back();
  for (char& c : text) {
    if (c == '\0') c = ' ';
  }
  if (text.size() > 120) text = text.substr(0, 117) + "...";
  return text;
}

std::string describe_pid(long pid) {
  std::string command = command_line_of(pid);
  return command.empty() ? fmt::format("pid {}", pid) : fmt::format("pid {} ({})", pid, command);
}

}  // namespace

Expected<std::vector<std::string>, std::string> prepare_data_dir(const fs::path& dir) {
  std::error_code ec;
  util::create_private_directories(dir, ec);
  if (ec) return Unexpected{fmt::format("cannot create the data directory {}: {}", dir.string(), ec.message())};
  std::vector<std::string> notes;
  narrow(dir, util::kPrivateDirMode, notes);
  for (const char* name : kPrivateFiles) narrow(dir / name, util::kPrivateFileMode, notes);
  for (const auto& name : util::remove_abandoned_partial_files(dir)) {
    notes.push_back(fmt::format("removed {}, left by a process killed while it was writing it", (dir / name).string()));
  }
  // The deployments' own folders stay readable inside (sandboxed workers run as uids of their
  // own and reach their folder through a bind mount); the folders above them are what keep
  // other users of the machine out.
  fs::path deployments = dir / "deployments";
  if (fs::is_directory(deployments, ec)) {
    narrow(deployments, util::kPrivateDirMode, notes);
    for (const auto& entry : fs::directory_iterator(deployments, ec)) {
      if (entry.is_directory(ec)) narrow(entry.path(), util::kPrivateDirMode, notes);
    }
  }
  return notes;
}

Expected<DataDirLock, std::string> DataDirLock::acquire(const fs::path& dir, std::chrono::milliseconds patience,
                                                        const std::function<void(const std::string&)>& waiting) {
  const fs::path file = dir / "serve.lock";
  util::UniqueFd fd = util::open_private_file(file, O_RDWR);
  if (!fd.valid()) return Unexpected{fmt::format("cannot open {}: {}", file.string(), std::strerror(errno))};
  const auto deadline = std::chrono::steady_clock::now() + patience;
  bool said = false;
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return Unexpected{fmt::format("cannot lock {}: {}", file.string(), std::strerror(errno))};
    }
    auto holder = lock_holder(file);
    if (std::chrono::steady_clock::now() >= deadline) {
      return Unexpected{fmt::format("another sprocket server ({}) is using the data directory {}; stop it or pass another --data-dir",
                                    holder.value_or("its pid is not known"), dir.string())};
    }
    if (!said && waiting) {
      said = true;
      waiting(fmt::format("the data directory {} is locked by {}; waiting up to {} s for it (a server that was just stopped may "
                          "still hold it)",
                          dir.string(), holder.value_or("another process"),
                          std::chrono::duration_cast<std::chrono::seconds>(patience).count()));
    }
    // Polling: flock has no timed wait, and a blocking one could not be given up at the deadline.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Our pid, for the next server's refusal where /proc/locks cannot be read.
  std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd.get(), 0) == 0) {
    [[maybe_unused]] auto written = ::pwrite(fd.get(), pid.data(), pid.size(), 0);
  }
  return DataDirLock(std::move(fd));
}

std::optional<std::string> lock_holder(const fs::path& lock_file) {
  struct stat st {};
  if (::stat(lock_file.c_str(), &st) == 0) {
    // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters' lines have "->" and are skipped.
    std::ifstream locks("/proc/locks");
    const std::string file_id = fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev), st.st_ino);
    for (std::string line; std::getline(locks, line);) {
      std::istringstream fields(line);
      std::string number, type, advisory, access, id;
      long pid = 0;
      if (!(fields >> number >> type) || type != "FLOCK") continue;
      if (!(fields >> advisory >> access >> pid >> id)) continue;
      if (id == file_id && pid > 0) return describe_pid(pid);
    }
  }
  std::ifstream in(lock_file);
  long pid = 0;
  if (in >> pid && pid > 0 && ::kill(static_cast<pid_t>(pid), 0) == 0) return describe_pid(pid);
  return std::nullopt;
}

}  // namespace sprocket::cli
