#include "runtime/dependencies.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
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

// Local dependencies (file:, link:, a path) must stay inside the folder: npm would otherwise
// link or copy whatever host path they name into node_modules, where the function reads it.
// Every section that names packages counts, and the package.json of each local package too.
std::optional<std::string> local_spec_path(const std::string& spec) {
  for (std::string_view prefix : {"file:", "link:"}) {
    if (spec.rfind(prefix, 0) == 0) return spec.substr(prefix.size());
  }
  for (std::string_view prefix : {"./", "../", "/", "~"}) {
    if (spec.rfind(prefix, 0) == 0) return spec;
  }
  return std::nullopt;
}

std::optional<std::string> dependency_outside(const fs::path& package_json, const fs::path& root, int depth = 0) {
  std::ifstream in(package_json);
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(text.str(), ec);
  if (ec || !v.is_object()) return std::nullopt;  // npm reports what is wrong with it
  fs::path here = package_json.parent_path();
  std::optional<std::string> problem;
  // Walks a section: {name: spec} at any depth (overrides nest).
  std::function<void(const json::value&, const std::string&)> check = [&](const json::value& section, const std::string& name) {
    if (problem) return;
    if (section.is_object()) {
      for (const auto& [key, value] : section.get_object()) check(value, std::string(key));
      return;
    }
    if (!section.is_string()) return;
    std::string spec(section.get_string());
    auto path = local_spec_path(spec);
    if (!path) return;
    fs::path target = fs::weakly_canonical(path->front() == '/' ? fs::path(*path) : here / *path);
    auto relative = target.lexically_relative(root);
    if (path->front() == '~' || relative.empty() || *relative.begin() == "..") {
      problem = fmt::format("{}: dependency \"{}\" is \"{}\", outside the folder; a local dependency must live inside it "
                            "(e.g. \"file:./lib/{}\")", package_json.string(), name, spec, name);
    } else if (depth < 8 && fs::is_regular_file(target / "package.json", ec)) {
      problem = dependency_outside(target / "package.json", root, depth + 1);
    }
  };
  for (const char* section : {"dependencies", "optionalDependencies", "peerDependencies", "devDependencies", "overrides",
                              "bundleDependencies", "bundledDependencies"}) {
    if (const json::value* s = v.get_object().if_contains(section)) check(*s, section);
  }
  return problem;
}

}  // namespace

void stop_dependency_installs() {
  std::lock_guard lock(installs_mutex);
  installs_stopped = true;
  if (running_install > 0) ::kill(-running_install, SIGKILL);
}

Expected<InstallOutcome, std::string> install_dependencies(const fs::path& folder, const fs::path& npm,
                                                           const std::function<void()>& starting) {
  fs::path manifest = folder / "package.json";
  std::error_code ec;
  if (!fs::is_regular_file(manifest, ec) || !declares_dependencies(manifest) || up_to_date(folder)) return InstallOutcome{};

  // npm's project settings could point git, node or scripts at the folder's own programs,
  // which would run here, outside the sandbox.
  if (fs::exists(folder / ".npmrc", ec)) {
    return Unexpected{fmt::format("{}: npm's settings files are not used (npm runs outside the sandbox); remove it. Registry "
                                  "and proxy settings come from the server's environment (npm_config_registry, HTTPS_PROXY)",
                                  (folder / ".npmrc").string())};
  }
  if (auto outside = dependency_outside(manifest, fs::weakly_canonical(folder))) return Unexpected{*outside};

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Unexpected{std::string("cannot create a pipe for npm")};
  util::UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  std::string npm_path = npm.string();
  std::string dir = folder.string();
  // --ignore-scripts: npm runs outside the sandbox, as sprocket's user; a package's install
  // scripts (or the folder's own) would run there with the node's data directory in reach.
  std::vector<std::string> args = {npm_path, "install", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Nothing of the gateway's environment (tokens an operator exported, proxies aside).
  // npm's own cache and config home, private to this install: not the operator's ~/.npm, not
  // the served folder, not a shared path another user could prepare.
  std::string home_template = (fs::temp_directory_path() / "sprocket-npm-XXXXXX").string();
  if (!::mkdtemp(home_template.data())) return Unexpected{std::string("cannot create a home folder for npm")};
  fs::path npm_home = home_template;
  struct RemoveHome {
    fs::path path;
    ~RemoveHome() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  } remove_home{npm_home};
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "HOME=" + npm_home.string(),
                                  "npm_config_update_notifier=false"};
  env.push_back("npm_config_userconfig=" + (npm_home / "npmrc").string());
  env.push_back("npm_config_globalconfig=" + (npm_home / "npmrc-global").string());
  for (const char* name : {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "npm_config_registry"}) {
    if (const char* value = std::getenv(name)) env.push_back(std::string(name) + "=" + value);
  }
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  if (starting) starting();
  std::unique_lock lock(installs_mutex);
  if (installs_stopped) return Unexpected{std::string("the server is stopping: npm install was not run")};
  pid_t pid = ::fork();
  if (pid < 0) return Unexpected{std::string("cannot start npm")};
  if (pid == 0) {
    ::setsid();  // its own group: a stop ends npm and its install scripts together
    ::dup2(write_end.get(), 1);
    ::dup2(write_end.get(), 2);
    ::close_range(3, ~0U, 0);  // none of the gateway's sockets, database or key file
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
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
