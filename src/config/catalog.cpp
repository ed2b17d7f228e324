#include "config/catalog.h"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <fstream>
#include <set>
#include <sstream>

#include "config/dotenv.h"
#include "config/json_with_positions.h"
#include "config/serverless_json.h"

namespace sprocket::config {
namespace fs = std::filesystem;

namespace {

constexpr int kMaxSearchDepth = 6;

bool skipped_directory(const fs::path& dir) {
  std::string name = dir.filename().string();
  return name == "node_modules" || (!name.empty() && name.front() == '.');
}

struct ProjectInfo {
  std::string name;
  fs::path source_dir;
  std::string warning;
};

// HubSpot's words: "serverless functions are not supported in version 2025.2 of the developer
// platform. Instead, you'll need to use version 2025.1 to build and deploy serverless functions."
constexpr std::string_view kNoFunctionsPlatformVersion = "2025.2";

Expected<ProjectInfo, ConfigError> read_project(const fs::path& root) {
  fs::path file = root / "hsproject.json";
  std::ifstream in(file, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto doc = parse_json_with_positions(buffer.str());
  if (!doc) {
    return Unexpected{ConfigError{file, doc.error().position.line, doc.error().position.column, "",
                                  "invalid JSON: " + doc.error().message, "correct the JSON syntax at that position"}};
  }
  ProjectInfo info{root.filename().string(), root / "src", ""};
  if (!doc->root.is_object()) {
    return Unexpected{ConfigError{file, 1, 1, "", "hsproject.json must be a JSON object",
                                  "write {\"name\": \"my-project\", \"srcDir\": \"src\", \"platformVersion\": \"2025.1\"}"}};
  }
  const auto& root_object = doc->root.get_object();
  if (const auto* name = root_object.if_contains("name"); name && name->is_string()) info.name = std::string(name->get_string());
  if (const auto* src = root_object.if_contains("srcDir")) {
    if (!src->is_string()) {
      auto p = doc->position_of("/srcDir");
      return Unexpected{ConfigError{file, p.line, p.column, "srcDir", "must be a string", "write \"srcDir\": \"src\""}};
    }
    info.source_dir = root / std::string(src->get_string());
  }
  if (const auto* version = root_object.if_contains("platformVersion"); version && version->is_string() &&
                                                                       version->get_string() == kNoFunctionsPlatformVersion) {
    auto p = doc->position_of("/platformVersion");
    info.warning = fmt::format("{}:{}:{}: warning: platformVersion: HubSpot does not support serverless functions in version {} of "
                               "the developer platform and would not build this project; set \"platformVersion\": \"2025.1\" "
                               "(sprocket serves it either way)",
                               file.string(), p.line, p.column, kNoFunctionsPlatformVersion);
  }
  return info;
}

void find_functions_folders(const fs::path& dir, const fs::path& project_root, const std::string& project_name, int depth,
                            std::vector<DiscoveredFolder>& out, ConfigErrors& errors) {
  std::error_code ec;
  if (depth > kMaxSearchDepth) return;
  if (fs::is_regular_file(dir / "serverless.json", ec)) {
    out.push_back({dir, project_root, project_name, false, ""});
    return;
  }
  if (fs::is_regular_file(dir / "actions.json", ec)) {
    out.push_back({dir, project_root, project_name, true, ""});
    return;
  }
  if (project_root.empty() && fs::is_regular_file(dir / "hsproject.json", ec)) {
    auto project = read_project(dir);
    if (!project) {
      errors.push_back(project.error());
      return;
    }
    std::size_t before = out.size();
    if (fs::is_directory(project->source_dir, ec)) {
      find_functions_folders(project->source_dir, dir, project->name, 0, out, errors);
    }
    for (std::size_t i = before; i < out.size() && !project->warning.empty(); ++i) {
      if (!out[i].actions) {
        out[i].project_warning = project->warning;
        break;
      }
    }
    if (out.size() == before) {
      errors.push_back(ConfigError{dir / "hsproject.json", 0, 0, "", 
                                   fmt::format("the project has no *.functions folder with a serverless.json (nor *.actions folder with an actions.json) under {}",
                                               project->source_dir.string()),
                                   "put functions in src/app/NAME.functions/ with a serverless.json, or set \"srcDir\""});
    }
    return;
  }
  std::vector<fs::path> children;
  for (const auto& entry : fs::directory_iterator(dir, fs::directory_options::skip_permission_denied, ec)) {
    if (entry.is_directory(ec) && !skipped_directory(entry.path())) children.push_back(entry.path());
  }
  std::sort(children.begin(), children.end());  // deterministic order, whatever the file system does
  for (const auto& child : children) find_functions_folders(child, project_root, project_name, depth + 1, out, errors);
}

}  // namespace

Expected<std::vector<DiscoveredFolder>, ConfigErrors> discover_functions_folders(const std::vector<fs::path>& paths) {
  std::vector<DiscoveredFolder> folders;
  ConfigErrors errors;
  for (const auto& given : paths) {
    std::error_code ec;
    if (!fs::exists(given, ec)) {
      errors.push_back(ConfigError{given, 0, 0, "", "the path does not exist", "pass a *.functions folder, a project folder (with hsproject.json) or a folder containing them"});
      continue;
    }
    if (!fs::is_directory(given, ec)) {
      errors.push_back(ConfigError{given, 0, 0, "", "is a file, not a folder", "pass the folder that holds serverless.json"});
      continue;
    }
    fs::path absolute = fs::weakly_canonical(fs::absolute(given), ec);
    std::size_t before = folders.size();
    std::size_t errors_before = errors.size();
    find_functions_folders(absolute, {}, "", 0, folders, errors);
    if (folders.size() == before && errors.size() == errors_before) {
      errors.push_back(ConfigError{given, 0, 0, "", "no serverless functions (serverless.json) or workflow actions (actions.json) found here",
                                   "pass a *.functions folder holding serverless.json, a developer project (hsproject.json) or a folder containing them"});
    }
  }
  if (!errors.empty()) return Unexpected{errors};
  // The same folder named twice (directly and through a parent) is served once.
  std::set<fs::path> seen;
  std::vector<DiscoveredFolder> unique;
  for (auto& f : folders) {
    if (seen.insert(f.folder).second) unique.push_back(std::move(f));
  }
  return unique;
}

bool names_preloaded_packages(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  const std::string source = text.str();
  return source.find("axios") != std::string::npos || source.find("lodash") != std::string::npos;
}

std::set<fs::path> node_code_folders(const Catalog& catalog) {
  std::set<fs::path> folders;
  for (const auto& f : catalog.functions) folders.insert(f.folder);
  for (const auto& a : catalog.actions) {
    if (a.language == ActionLanguage::Node) folders.insert(a.folder);
  }
  return folders;
}

Expected<Catalog, ConfigErrors> load_catalog(const std::vector<fs::path>& paths) {
  auto folders = discover_functions_folders(paths);
  if (!folders) return Unexpected{folders.error()};
  Catalog catalog;
  ConfigErrors errors;
  for (const auto& discovered : *folders) {
    if (discovered.actions) {
      auto actions = load_actions_folder(discovered.folder);
      if (!actions) {
        errors.insert(errors.end(), actions.error().begin(), actions.error().end());
        continue;
      }
      for (auto& a : *actions) catalog.actions.push_back(std::move(a));
      if (auto dotenv = read_dotenv_file(discovered.folder / ".env"); !dotenv.empty()) catalog.dotenv_by_folder[discovered.folder] = std::move(dotenv);
      continue;
    }
    auto folder = load_functions_folder(discovered.folder, discovered.project_name);
    if (!folder) {
      errors.insert(errors.end(), folder.error().begin(), folder.error().end());
      continue;
    }
    if (!discovered.project_warning.empty()) catalog.warnings.push_back(discovered.project_warning);
    catalog.warnings.insert(catalog.warnings.end(), folder->warnings.begin(), folder->warnings.end());
    for (auto& spec : folder->functions) {
      spec.uses_preloaded_packages = names_preloaded_packages(spec.file);
      catalog.functions.push_back(std::move(spec));
    }
    auto dotenv = read_dotenv_file(discovered.folder / ".env");
    if (dotenv.empty() && !discovered.project_root.empty()) dotenv = read_dotenv_file(discovered.project_root / ".env");
    if (!dotenv.empty()) catalog.dotenv_by_folder[discovered.folder] = std::move(dotenv);
  }
  // Routes, and app-function names, must each lead to exactly one function.
  std::map<std::string, const FunctionSpec*> by_route;
  std::map<std::string, const FunctionSpec*> by_app_function;
  for (const auto& spec : catalog.functions) {
    auto& table = spec.route ? by_route : by_app_function;
    const std::string& key = spec.route ? *spec.route : spec.name;
    auto [it, inserted] = table.emplace(key, &spec);
    if (inserted) continue;
    const FunctionSpec& first = *it->second;
    errors.push_back(ConfigError{
        spec.serverless_json, spec.declared_line, spec.declared_column, spec.name,
        spec.route ? fmt::format("path {} is already served by \"{}\" ({}:{}:{})", key, first.name, first.serverless_json.string(),
                                 first.declared_line, first.declared_column)
                   : fmt::format("app function \"{}\" is also declared in {}:{}:{}, so a call by name would be ambiguous", key,
                                 first.serverless_json.string(), first.declared_line, first.declared_column),
        spec.route ? "give one of the two functions another path" : "rename one of the two app functions"});
  }
  // An action is enqueued by name: two of one name would make that ambiguous.
  std::map<std::string, const ActionSpec*> by_action;
  for (const auto& action : catalog.actions) {
    auto [it, inserted] = by_action.emplace(action.name, &action);
    if (inserted) continue;
    errors.push_back(ConfigError{action.folder / "actions.json", action.declared_line, action.declared_column, action.name,
                                 fmt::format("action \"{}\" is also declared in {}:{}:{}", action.name,
                                             (it->second->folder / "actions.json").string(), it->second->declared_line,
                                             it->second->declared_column),
                                 "rename one of the two actions"});
  }
  if (!errors.empty()) return Unexpected{errors};
  return catalog;
}

}  // namespace sprocket::config
