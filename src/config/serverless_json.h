#pragma once
// Parsing and strict validation of serverless.json in both HubSpot formats.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.h"
#include "config/function_spec.h"
#include "util/expected.h"

namespace sprocket::config {

struct FunctionsFolder {
  std::filesystem::path folder;  // the *.functions folder
  FunctionFormat format = FunctionFormat::DesignManager;
  std::vector<FunctionSpec> functions;
  std::vector<std::string> warnings;  // things HubSpot ignores that the user probably did not mean
};

// Validates `text` (the contents of FOLDER/serverless.json). Code files are checked to exist
// inside FOLDER. `project_name` is set for folders found inside a developer project.
Expected<FunctionsFolder, ConfigErrors> parse_serverless_json(const std::filesystem::path& folder,
                                                              std::string_view text,
                                                              const std::string& project_name = "");

// Reads FOLDER/serverless.json and parses it.
Expected<FunctionsFolder, ConfigErrors> load_functions_folder(const std::filesystem::path& folder,
                                                              const std::string& project_name = "");

inline constexpr const char* kAllowedMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

}  // namespace sprocket::config
