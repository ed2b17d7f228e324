#pragma once
// Workflow custom-code actions as their definitions (`*.actions/actions.json`, docs/actions.md)
// declare them.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.h"
#include "util/expected.h"

namespace sprocket::config {

enum class ActionLanguage { Node, Python };
enum class OutputType { Number, String, Boolean, Datetime, Date, Enumeration, PhoneNumber };

struct OutputField {
  OutputType type = OutputType::String;
  std::vector<std::string> options;  // enumeration only
};

struct ActionSpec {
  std::string name;
  ActionLanguage language = ActionLanguage::Node;
  std::filesystem::path file;  // absolute
  std::filesystem::path folder;
  std::vector<std::string> secrets;
  std::vector<std::string> input_fields;
  std::map<std::string, OutputField> output_fields;
  std::size_t account_index = 0;      // which served account owns it (accounts::Deployment)
  std::int64_t deployed_version = 0;  // the deployment it came from; 0: served from a folder
  int declared_line = 0;              // position of its key in actions.json
  int declared_column = 0;
};

inline constexpr std::size_t kMaxActionInputFields = 50;  // HubSpot's limit

// Reads FOLDER/actions.json; every problem is reported with its position and a fix.
Expected<std::vector<ActionSpec>, ConfigErrors> load_actions_folder(const std::filesystem::path& folder);
// Validates `text`, the contents of FOLDER/actions.json (FOLDER absolute).
Expected<std::vector<ActionSpec>, ConfigErrors> parse_actions_json(const std::filesystem::path& folder, std::string_view text);

}  // namespace sprocket::config
