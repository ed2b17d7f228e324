#pragma once
// Workflow custom-code actions: their definitions (`*.actions/actions.json`, docs/actions.md)
// and HubSpot's rules for what they return.
#include <boost/json/object.hpp>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config_error.h"
#include "util/expected.h"

namespace sprocket::actions {

enum class Language { Node, Python };
enum class OutputType { Number, String, Boolean, Datetime, Date, Enumeration, PhoneNumber };

struct OutputField {
  OutputType type = OutputType::String;
  std::vector<std::string> options;  // enumeration only
};

struct ActionSpec {
  std::string name;
  Language language = Language::Node;
  std::filesystem::path file;  // absolute
  std::filesystem::path folder;
  std::vector<std::string> secrets;
  std::vector<std::string> input_fields;
  std::map<std::string, OutputField> output_fields;
};

inline constexpr std::size_t kMaxInputFields = 50;           // HubSpot's limit
inline constexpr std::size_t kMaxSecretValueChars = 1000;    // all of an action's secret values together
inline constexpr std::size_t kMaxStringOutputChars = 65000;  // longer: OUTPUT_VALUES_TOO_LARGE

// Reads FOLDER/actions.json; every problem is reported with its position and a fix.
Expected<std::vector<ActionSpec>, config::ConfigErrors> load_actions_folder(const std::filesystem::path& folder);

struct OutputCheck {
  std::optional<std::string> failure;  // "OUTPUT_VALUES_TOO_LARGE" or "INVALID_OUTPUT": the execution fails
  std::vector<std::string> problems;   // why, field by field
  std::vector<std::string> warnings;   // outputs the definition does not declare
  bool fail_continue = false;          // hs_execution_state: "FAIL_CONTINUE"
};

OutputCheck check_outputs(const ActionSpec& action, const boost::json::object& output_fields);

// Deploy-time rule: the action's secret values together hold at most 1000 characters.
std::optional<std::string> secret_budget_problem(const ActionSpec& action, const std::map<std::string, std::string>& values);

}  // namespace sprocket::actions
