#pragma once
// Everything `sprocket serve PATH…` serves: the functions found under the given paths,
// validated together (routes must be unique across all of them).
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/action_spec.h"
#include "config/config_error.h"
#include "config/function_spec.h"
#include "util/expected.h"

namespace sprocket::config {

struct DiscoveredFolder {
  std::filesystem::path folder;        // a folder holding serverless.json (or actions.json)
  std::filesystem::path project_root;  // the folder with hsproject.json; empty outside projects
  std::string project_name;
  bool actions = false;                // holds workflow actions (actions.json), not functions
  std::string project_warning;         // about its hsproject.json, on the project's first functions folder only
};

struct Catalog {
  std::vector<FunctionSpec> functions;
  std::vector<ActionSpec> actions;  // workflow custom-code actions, unique by name per account
  std::vector<std::string> warnings;
  // Secret values from each functions folder's `.env` (local development), by folder.
  std::map<std::filesystem::path, std::map<std::string, std::string>> dotenv_by_folder;
};

// PATH may be a functions folder, an actions folder, a developer project, or a folder holding
// several of those.
Expected<std::vector<DiscoveredFolder>, ConfigErrors> discover_functions_folders(
    const std::vector<std::filesystem::path>& paths);

// Every folder whose code runs in Node.js (functions, Node.js actions): where a package.json
// gets its dependencies installed.
std::set<std::filesystem::path> node_code_folders(const Catalog& catalog);

Expected<Catalog, ConfigErrors> load_catalog(const std::vector<std::filesystem::path>& paths);
// Whether the code names axios or lodash (FunctionSpec::uses_preloaded_packages).
bool names_preloaded_packages(const std::filesystem::path& file);

}  // namespace sprocket::config
