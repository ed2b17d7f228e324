#include "cli/syntax_check.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "util/unique_fd.h"

namespace sprocket::cli {
namespace fs = std::filesystem;

std::optional<std::string> javascript_syntax_error(const fs::path& node, const fs::path& file) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;  // no check is better than a false alarm
  util::UniqueFd read_end(fds[0]), write_end(fds[1]);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  ::posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
  std::string node_path = node.string(), check = "--check", path = file.string();
  char* argv[] = {node_path.data(), check.data(), path.data(), nullptr};
  // Nothing of this process's environment (an operator's exported tokens): node needs none to parse.
  std::string lang = "LANG=C.UTF-8";
  char* envp[] = {lang.data(), nullptr};
  pid_t pid = 0;
  int spawned = ::posix_spawn(&pid, node_path.c_str(), &actions, nullptr, argv, envp);
  ::posix_spawn_file_actions_destroy(&actions);
  write_end.reset();
  if (spawned != 0) return std::nullopt;
  std::string output;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(read_end.get(), buffer, sizeof buffer)) > 0) output.append(buffer, static_cast<std::size_t>(n));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return output.empty() ? fmt::format("{}: node --check failed", path) : output;
}

std::vector<std::string> syntax_errors_in(const fs::path& node, const std::set<fs::path>& changed) {
  std::vector<std::string> errors;
  for (const auto& file : changed) {
    auto ext = file.extension();
    if (ext != ".js" && ext != ".cjs" && ext != ".mjs") continue;
    if (file.string().find("/node_modules/") != std::string::npos) continue;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) continue;
    if (auto error = javascript_syntax_error(node, file)) errors.push_back(std::move(*error));
  }
  return errors;
}

}  // namespace sprocket::cli
