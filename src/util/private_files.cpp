#include "util/private_files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

namespace sprocket::util {
namespace fs = std::filesystem;

void create_private_directories(const fs::path& dir, std::error_code& ec) {
  ec.clear();
  // The components that do not exist yet, outermost first: only those are ours to set.
  std::vector<fs::path> missing;
  for (fs::path p = fs::absolute(dir, ec); !ec && !p.empty(); p = p.parent_path()) {
    if (fs::exists(p, ec) || ec) break;
    missing.push_back(p);
    if (p == p.root_path()) break;
  }
  if (ec) return;
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    // mkdir's mode passes through the umask; chmod afterwards does not.
    if (::mkdir(it->c_str(), kPrivateDirMode) != 0 && errno != EEXIST) {
      ec = std::error_code(errno, std::generic_category());
      return;
    }
    if (::chmod(it->c_str(), kPrivateDirMode) != 0) {
      ec = std::error_code(errno, std::generic_category());
      return;
    }
  }
  if (!fs::is_directory(dir, ec) && !ec) ec = std::make_error_code(std::errc::not_a_directory);
}

UniqueFd open_private_file(const fs::path& file, int flags) {
  UniqueFd fd(::open(file.c_str(), flags | O_CREAT | O_EXCL | O_CLOEXEC, kPrivateFileMode));
  if (fd.valid()) {
    ::fchmod(fd.get(), kPrivateFileMode);  // created by us: the umask may have taken bits off
    return fd;
  }
  if (errno != EEXIST || (flags & O_EXCL)) return fd;
  return UniqueFd(::open(file.c_str(), (flags & ~O_EXCL) | O_CLOEXEC));
}

namespace {

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// So that the new name survives a power cut too, not only the file's contents.
void sync_directory(const fs::path& dir) {
  UniqueFd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.valid()) ::fsync(fd.get());
}

}  // namespace

constexpr std::string_view kPartialInfix = ".partial-";

bool create_whole_private_file(const fs::path& file, std::string_view contents) {
  // Named by pid: two processes creating the same file at once (serve and `secrets add` on a new
  // data directory) each write their own, and the first link wins.
  fs::path temporary = file.string() + std::string(kPartialInfix) + std::to_string(::getpid());
  ::unlink(temporary.c_str());  // what a crash of an earlier process with this pid left
  bool written = false;
  {
    UniqueFd fd = open_private_file(temporary, O_WRONLY | O_EXCL);
    if (!fd.valid()) return false;
    written = write_all(fd.get(), contents) && ::fsync(fd.get()) == 0;
  }
  int error = 0;
  if (!written || ::link(temporary.c_str(), file.c_str()) != 0) error = errno;
  ::unlink(temporary.c_str());
  if (error != 0) {
    errno = error;
    return false;
  }
  sync_directory(file.parent_path());
  return true;
}

std::vector<std::string> remove_abandoned_partial_files(const fs::path& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    std::size_t infix = name.rfind(kPartialInfix);
    if (infix == std::string::npos || infix == 0) continue;
    std::string digits = name.substr(infix + kPartialInfix.size());
    if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    auto pid = static_cast<pid_t>(std::stol(digits));
    // A live process with that pid may be writing it now (serve and `secrets add` at once).
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    if (::unlink(entry.path().c_str()) == 0) removed.push_back(name);
  }
  return removed;
}

std::optional<mode_t> tighten_permissions(const fs::path& path, mode_t mode, std::error_code& ec) {
  ec.clear();
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) ec = std::error_code(errno, std::generic_category());
    return std::nullopt;
  }
  if (S_ISLNK(st.st_mode) || (st.st_mode & 077) == 0) return std::nullopt;
  if (::chmod(path.c_str(), mode) != 0) {
    ec = std::error_code(errno, std::generic_category());
    return std::nullopt;
  }
  return st.st_mode & 07777;
}

std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

}  // namespace sprocket::util
