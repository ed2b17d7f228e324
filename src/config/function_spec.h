#pragma once
// What sprocket knows about one function after its serverless.json has been validated.
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sprocket::config {

enum class FunctionFormat {
  DesignManager,  // "endpoints", served under /_hcms/api/NAME
  Project,        // "appFunctions", served under /hs/serverless/PATH or as app functions
};

struct FunctionSpec {
  std::string name;  // endpoint key (design manager) or appFunctions key (project)
  FunctionFormat format = FunctionFormat::DesignManager;
  std::filesystem::path folder;           // the *.functions folder
  std::filesystem::path file;             // absolute path of the code file
  std::filesystem::path serverless_json;  // where it was declared
  int declared_line = 0;                  // position of its key in serverless.json
  int declared_column = 0;
  std::string project_name;               // projects only: hsproject.json "name"
  std::size_t account_index = 0;          // which served account owns it (accounts::Deployment)
  std::int64_t deployed_version = 0;      // the deployment it came from; 0: served from a folder
  std::vector<std::string> methods;       // upper case; empty for app functions without endpoint
  std::optional<std::string> route;       // "/_hcms/api/NAME", "/hs/serverless/PATH"; none for app functions
  std::string endpoint;                   // context.endpoint: NAME or PATH
  std::map<std::string, std::string> environment;  // top-level merged with endpoint-level
  std::vector<std::string> secrets;                // names, top-level merged with endpoint-level
  // The code names axios or lodash: a spare that has them loaded serves it best. Read once,
  // when the catalog is loaded, never on the event loop.
  bool uses_preloaded_packages = false;

  bool is_app_function() const { return !route.has_value(); }
  std::string key() const { return serverless_json.string() + "#" + name; }
};

}  // namespace sprocket::config
