#include "runtime/dependencies.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <fstream>
#include <mutex>
#include <sstream>

#include "util/unique_fd.h"

namespace sprocket::runtime {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

bool declares_dependencies(const fs::path& package_json) {
  std::ifstream in(package_json);
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(text.str(), ec);
  if (ec || !v.is_object()) return true;  // let npm report what is wrong with it
  const json::value* deps = v.get_object().if_contains("dependencies");
  return deps && deps->is_object() && !deps->get_object().empty();
}

bool up_to_date(const fs::path& folder) {
  std::error_code ec;
  // npm writes node_modules/.package-lock.json on every install: its age is the install's age.
  auto installed = fs::last_write_time(folder / "node_modules" / ".package-lock.json", ec);
  if (ec) return false;
  for (const char* manifest : {"package.json", "package-lock.json"}) {
    auto changed = fs::last_write_time(folder / manifest, ec);
    if (!ec && changed > installed) return false;
  }
  return true;
}

std::mutex installs_mutex;
pid_t running_install = 0;  // its process group
bool installs_stopped = false;

}  // namespace

void stop_dependency_installs() {
  std::lock_guard lock(installs_mutex);
  installs_stopped = true;
  if (running_install > 0) ::kill(-running_install, SIGKILL);
}

Expected<InstallOutcome, std::string> install_dependencies(const fs::path& folder, const fs::path& npm) {
  fs::path manifest = folder / "package.json";
  std::error_code ec;
  if (!fs::is_regular_file(manifest, ec) || !declares_dependencies(manifest) || up_to_date(folder)) return InstallOutcome{};

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Unexpected{std::string("cannot create a pipe for npm")};
  util::UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  std::string npm_path = npm.string();
  std::string dir = folder.string();
  std::vector<std::string> args = {npm_path, "install", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::unique_lock lock(installs_mutex);
  if (installs_stopped) return Unexpected{std::string("the server is stopping: npm install was not run")};
  pid_t pid = ::fork();
  if (pid < 0) return Unexpected{std::string("cannot start npm")};
  if (pid == 0) {
    ::setsid();  // its own group: a stop ends npm and its install scripts together
    ::dup2(write_end.get(), 1);
    ::dup2(write_end.get(), 2);
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  running_install = pid;
  lock.unlock();
  write_end.reset();
  std::string output;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(read_end.get(), buffer, sizeof buffer)) > 0) output.append(buffer, static_cast<std::size_t>(n));
  int status = 0;
  ::waitpid(pid, &status, 0);
  {
    std::lock_guard done(installs_mutex);
    running_install = 0;
    if (installs_stopped) return Unexpected{std::string("the server is stopping: npm install was stopped")};
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Unexpected{fmt::format("{}: npm install failed ({}):\n{}", manifest.string(),
                                  WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "npm not found at " + npm_path : "see npm's output",
                                  output)};
  }
  return InstallOutcome{true};
}

}  // namespace sprocket::runtime
