#include "cli/profile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

#include "util/private_files.h"

namespace sprocket::cli {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string chosen_profile;  // set once by the command line, before any command runs

Expected<json::object, std::string> read_file(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return json::object{};
  if ((st.st_mode & 077) != 0) {
    return Unexpected{fmt::format("{} may be read by other users (mode {}); it holds admin tokens: `chmod 600 {}`, or "
                                  "`sprocket logout` and log in again",
                                  file.string(), util::mode_text(st.st_mode & 0777), file.string())};
  }
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  auto doc = json::parse(text.str(), ec);
  if (ec || !doc.is_object()) return Unexpected{fmt::format("{} is not a JSON object; remove it and `sprocket login` again", file.string())};
  return std::move(doc.get_object());
}

Expected<void*, std::string> write_file(const fs::path& file, const json::object& doc) {
  std::error_code ec;
  util::create_private_directories(file.parent_path(), ec);
  if (ec) return Unexpected{fmt::format("cannot create {}: {}", file.parent_path().string(), ec.message())};
  // A folder made by someone else (or an older tool) with a looser mode is narrowed: it holds tokens.
  util::tighten_permissions(file.parent_path(), util::kPrivateDirMode, ec);
  fs::path partial = file;
  partial += fmt::format(".partial-{}", ::getpid());
  util::UniqueFd fd = util::open_private_file(partial, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (!fd.valid()) return Unexpected{fmt::format("cannot write {}: {}", partial.string(), std::strerror(errno))};
  std::string text = json::serialize(doc) + "\n";
  bool written = ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd.get()) == 0;
  fd.reset();
  if (!written || ::rename(partial.c_str(), file.c_str()) != 0) {
    int error = errno;
    ::unlink(partial.c_str());
    return Unexpected{fmt::format("cannot write {}: {}", file.string(), std::strerror(error))};
  }
  return nullptr;
}

}  // namespace

fs::path profiles_file() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg && *xdg == '/') return fs::path(xdg) / "sprocket" / "profiles.json";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : ".") / ".config" / "sprocket" / "profiles.json";
}

void select_profile(std::string name) { chosen_profile = std::move(name); }

std::string selected_profile() {
  if (!chosen_profile.empty()) return chosen_profile;
  const char* env = std::getenv("SPROCKET_PROFILE");
  return env && *env ? env : kDefaultProfile;
}

bool profile_selected_explicitly() {
  const char* env = std::getenv("SPROCKET_PROFILE");
  return !chosen_profile.empty() || (env && *env);
}

Expected<std::optional<Profile>, std::string> load_profile(const std::string& name) {
  auto doc = read_file(profiles_file());
  if (!doc) return Unexpected{doc.error()};
  const auto* profiles = doc->if_contains("profiles");
  if (!profiles || !profiles->is_object()) return std::optional<Profile>{};
  const auto* entry = profiles->get_object().if_contains(name);
  if (!entry || !entry->is_object()) return std::optional<Profile>{};
  const auto& o = entry->get_object();
  Profile p;
  p.name = name;
  if (const auto* v = o.if_contains("server"); v && v->is_string()) p.server = std::string(v->get_string());
  if (const auto* v = o.if_contains("token"); v && v->is_string()) p.token = std::string(v->get_string());
  if (const auto* v = o.if_contains("account"); v && v->is_int64()) p.account = v->get_int64();
  if (p.server.empty() || p.token.empty()) {
    return Unexpected{fmt::format("profile {} in {} has no server or token; `sprocket login --profile {} --server URL` again", name,
                                  profiles_file().string(), name)};
  }
  return std::optional<Profile>{std::move(p)};
}

Expected<fs::path, std::string> save_profile(const Profile& profile) {
  fs::path file = profiles_file();
  auto doc = read_file(file);
  if (!doc) return Unexpected{doc.error()};
  if (!(*doc)["profiles"].is_object()) (*doc)["profiles"] = json::object{};
  json::object entry{{"server", profile.server}, {"token", profile.token}};
  if (profile.account) entry["account"] = *profile.account;
  (*doc)["profiles"].as_object()[profile.name] = std::move(entry);
  if (auto written = write_file(file, *doc); !written) return Unexpected{written.error()};
  return file;
}

Expected<bool, std::string> remove_profile(const std::string& name) {
  fs::path file = profiles_file();
  auto doc = read_file(file);
  if (!doc) return Unexpected{doc.error()};
  auto* profiles = doc->if_contains("profiles");
  if (!profiles || !profiles->is_object() || !profiles->as_object().erase(name)) return false;
  if (auto written = write_file(file, *doc); !written) return Unexpected{written.error()};
  return true;
}

Expected<void*, std::string> apply_profile(bool server_given, bool local_given, std::string& server, bool account_given,
                                           std::int64_t& account) {
  if (local_given && !server_given) return nullptr;
  if (!server_given && !profile_selected_explicitly() && !std::filesystem::exists(profiles_file())) return nullptr;
  std::string name = selected_profile();
  auto profile = load_profile(name);
  if (!profile) return Unexpected{profile.error()};
  if (!*profile) {
    if (!profile_selected_explicitly()) return nullptr;
    return Unexpected{fmt::format("there is no profile {} in {}: `sprocket login --profile {} --server URL` makes it", name,
                                  profiles_file().string(), name)};
  }
  if (server_given && normalized_server(server) != normalized_server((*profile)->server)) return nullptr;
  server = (*profile)->server;
  if (!account_given && (*profile)->account) account = *(*profile)->account;
  return nullptr;
}

std::string normalized_server(const std::string& url) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  rest = rest.substr(0, rest.find('/'));
  if (rest.find(':') == std::string::npos) rest += ":80";
  return "http://" + rest;
}

}  // namespace sprocket::cli
