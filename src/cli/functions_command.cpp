#include "cli/functions_command.h"

#include <boost/json.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/served_accounts.h"
#include "config/catalog.h"

namespace sprocket::cli {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// ---- list -------------------------------------------------------------------------------------

std::string_view kind_of(const config::FunctionSpec& f) {
  return f.format == config::FunctionFormat::DesignManager ? "design-manager" : "project";
}

// A file under the current folder is named from there, as the user would type it.
std::string shown_path(const fs::path& file) {
  std::error_code ec;
  fs::path relative = fs::relative(file, fs::current_path(ec), ec);
  if (ec || relative.empty() || *relative.begin() == "..") return file.string();
  return relative.string();
}

json::object function_json(const config::FunctionSpec& f, std::int64_t account_id) {
  json::array methods(f.methods.begin(), f.methods.end());
  json::array secrets(f.secrets.begin(), f.secrets.end());
  json::object o{{"name", f.name},
                 {"kind", kind_of(f)},
                 {"account", account_id},
                 {"route", f.route ? json::value(*f.route) : json::value(nullptr)},
                 {"methods", std::move(methods)},
                 {"file", f.file.string()},
                 {"serverlessJson", f.serverless_json.string()},
                 {"secrets", std::move(secrets)}};
  if (!f.project_name.empty()) o["project"] = f.project_name;
  return o;
}

// A workflow action is served too (run by workflows, not at a URL): listed beside the functions.
std::string_view kind_of(const config::ActionSpec& a) {
  return a.language == config::ActionLanguage::Node ? "action (node)" : "action (python)";
}

json::object action_json(const config::ActionSpec& a, std::int64_t account_id) {
  json::array secrets(a.secrets.begin(), a.secrets.end());
  return json::object{{"name", a.name},
                      {"kind", a.language == config::ActionLanguage::Node ? "action-node" : "action-python"},
                      {"account", account_id},
                      {"route", nullptr},
                      {"methods", json::array{}},
                      {"file", a.file.string()},
                      {"actionsJson", (a.folder / "actions.json").string()},
                      {"secrets", std::move(secrets)}};
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += i + 1 == row.size() ? row[i] : fmt::format("{:<{}}  ", row[i], widths[i]);
    }
    fmt::print("{}\n", line);
  }
}

void print_functions(const config::Catalog& catalog, const accounts::Deployment& deployment) {
  bool several_accounts = deployment.accounts.size() > 1;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"NAME", "KIND", "ROUTE", "METHODS", "FILE", "SECRETS"};
  if (several_accounts) header.insert(header.begin(), "ACCOUNT");
  rows.push_back(header);
  for (const auto& f : catalog.functions) {
    std::vector<std::string> row = {f.name,
                                    std::string(kind_of(f)),
                                    f.route ? *f.route : "(app function)",
                                    f.methods.empty() ? "POST" : fmt::format("{}", fmt::join(f.methods, ",")),
                                    shown_path(f.file),
                                    f.secrets.empty() ? "-" : fmt::format("{}", fmt::join(f.secrets, ","))};
    if (several_accounts) row.insert(row.begin(), std::to_string(deployment.accounts[f.account_index].id));
    rows.push_back(std::move(row));
  }
  for (const auto& a : catalog.actions) {
    std::vector<std::string> row = {a.name, std::string(kind_of(a)), "(workflow action)", "-", shown_path(a.file),
                                    a.secrets.empty() ? "-" : fmt::format("{}", fmt::join(a.secrets, ","))};
    if (several_accounts) row.insert(row.begin(), std::to_string(deployment.accounts[a.account_index].id));
    rows.push_back(std::move(row));
  }
  print_table(rows);
}

// ---- create -----------------------------------------------------------------------------------

// A name that is at once a folder, a file, an endpoint and a URL path segment, in both formats.
bool usable_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || !std::isalnum(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

struct ScaffoldFile {
  fs::path relative;
  std::string content;
};

std::string handler_js(const std::string& name, const std::string& route) {
  return fmt::format(R"js(// {name}: answers {route}. `context` carries params, body, headers, secrets and more
// (docs/http-api.md); the returned object is the response.
exports.main = async (context) => {{
  return {{
    statusCode: 200,
    body: {{ message: 'Hello from {name}', params: context.params }},
  }};
}};
)js",
                     fmt::arg("name", name), fmt::arg("route", route));
}

std::vector<ScaffoldFile> design_manager_files(const std::string& name) {
  std::string serverless = fmt::format(R"json({{
  "runtime": "nodejs18.x",
  "version": "1.0",
  "environment": {{}},
  "secrets": [],
  "endpoints": {{
    "{name}": {{
      "method": "GET",
      "file": "{name}.js"
    }}
  }}
}}
)json",
                                       fmt::arg("name", name));
  return {{"serverless.json", serverless}, {name + ".js", handler_js(name, "GET /_hcms/api/" + name)}};
}

std::vector<ScaffoldFile> project_files(const std::string& name) {
  std::string hsproject = fmt::format(R"json({{
  "name": "{name}",
  "srcDir": "src",
  "platformVersion": "2025.1"
}}
)json",
                                      fmt::arg("name", name));
  std::string uid = name;
  std::replace(uid.begin(), uid.end(), '-', '_');
  std::string app = fmt::format(R"json({{
  "name": "{name}",
  "description": "A developer project with a serverless function",
  "uid": "{uid}_app",
  "scopes": [],
  "public": false,
  "extensions": {{}}
}}
)json",
                                fmt::arg("name", name), fmt::arg("uid", uid));
  std::string serverless = fmt::format(R"json({{
  "appFunctions": {{
    "{name}": {{
      "file": "{name}.js",
      "secrets": [],
      "endpoint": {{
        "path": "{name}",
        "method": ["GET"]
      }}
    }}
  }}
}}
)json",
                                       fmt::arg("name", name));
  std::string package = fmt::format(R"json({{
  "name": "{name}-functions",
  "version": "0.1.0",
  "private": true,
  "dependencies": {{}}
}}
)json",
                                    fmt::arg("name", name));
  return {{"hsproject.json", hsproject},
          {"src/app/app.json", app},
          {"src/app/app.functions/serverless.json", serverless},
          {"src/app/app.functions/package.json", package},
          {"src/app/app.functions/" + name + ".js", handler_js(name, "GET /hs/serverless/" + name)}};
}

// O_EXCL: a file that appeared meanwhile is never overwritten.
Expected<void*, std::string> write_new_file(const fs::path& file, const std::string& content) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  if (ec) return Unexpected{fmt::format("cannot create {}: {}", file.parent_path().string(), ec.message())};
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Unexpected{fmt::format("cannot create {}: {}", file.string(), std::strerror(errno))};
  std::size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return Unexpected{fmt::format("cannot write {}: {}", file.string(), why)};
    }
    written += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return nullptr;
}

}  // namespace

int run_functions_list(const FunctionsListOptions& o) {
  auto deployment = load_served_accounts({o.paths, o.config_file, o.account_id});
  if (!deployment) {
    fmt::print(stderr, "{}\nsprocket: these errors would keep `sprocket serve` from serving\n", deployment.error());
    return 2;
  }
  auto catalog = accounts::load_functions(*deployment, {});
  if (!catalog) {
    fmt::print(stderr, "{}\nsprocket: these errors would keep `sprocket serve` from serving\n", config::format_errors(catalog.error()));
    return 2;
  }
  for (const auto& warning : catalog->warnings) fmt::print(stderr, "{}\n", warning);
  if (o.json) {
    json::array out;
    for (const auto& f : catalog->functions) out.push_back(function_json(f, deployment->accounts[f.account_index].id));
    for (const auto& a : catalog->actions) out.push_back(action_json(a, deployment->accounts[a.account_index].id));
    fmt::print("{}\n", json::serialize(out));
    return 0;
  }
  if (catalog->functions.empty()) {
    fmt::print(stderr, "sprocket: no functions there (only workflow actions: `sprocket actions check` lists them)\n");
    return 0;
  }
  print_functions(*catalog, *deployment);
  return 0;
}

int run_functions_create(const FunctionsCreateOptions& o) {
  if (!usable_name(o.name)) {
    fmt::print(stderr, "sprocket: \"{}\" cannot name a function: use letters, digits, - and _ (starting with a letter or digit, "
                       "at most 64), e.g. fetch-quote\n", o.name);
    return 2;
  }
  fs::path top = fs::path(o.dir) / (o.project ? o.name : o.name + ".functions");
  std::error_code ec;
  if (fs::exists(top, ec)) {
    fmt::print(stderr, "sprocket: {} exists already; nothing was created. Pick another name, or --dir for another folder\n",
               top.string());
    return 1;
  }
  fs::create_directories(top.parent_path().empty() ? fs::path(".") : top.parent_path(), ec);
  // create_directory says false when the folder appeared since the check above: still refuse.
  if (ec || !fs::create_directory(top, ec)) {
    fmt::print(stderr, "sprocket: cannot create {}: {}; nothing was created\n", top.string(), ec ? ec.message() : "it exists already");
    return 1;
  }
  auto files = o.project ? project_files(o.name) : design_manager_files(o.name);
  for (const auto& file : files) {
    if (auto written = write_new_file(top / file.relative, file.content); !written) {
      // The folder is this command's own: no half-made function is left to be served.
      fs::remove_all(top, ec);
      fmt::print(stderr, "sprocket: {}; nothing was created\n", written.error());
      return 1;
    }
  }
  fmt::print("Created {} ({}):\n", top.string(), o.project ? "a developer project" : "a design-manager functions folder");
  for (const auto& file : files) fmt::print("  {}\n", (top / file.relative).string());
  std::string route = o.project ? "/hs/serverless/" + o.name : "/_hcms/api/" + o.name;
  fmt::print("Serve it with `sprocket dev {}`, then: curl http://127.0.0.1:8080{}\n", top.string(), route);
  return 0;
}

}  // namespace sprocket::cli
