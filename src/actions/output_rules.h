#pragma once
// HubSpot's rules for what a workflow action returns, and for its secrets.
#include <boost/json/object.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/action_spec.h"

namespace sprocket::actions {

inline constexpr std::size_t kMaxSecretValueChars = 1000;    // all of an action's secret values together
inline constexpr std::size_t kMaxStringOutputChars = 65000;  // longer: OUTPUT_VALUES_TOO_LARGE

struct OutputCheck {
  std::optional<std::string> failure;  // "OUTPUT_VALUES_TOO_LARGE" or "INVALID_OUTPUT": the execution fails
  std::vector<std::string> problems;   // why, field by field
  std::vector<std::string> warnings;   // outputs the definition does not declare
  bool fail_continue = false;          // hs_execution_state: "FAIL_CONTINUE"
};

OutputCheck check_outputs(const config::ActionSpec& action, const boost::json::object& output_fields);

// Deploy-time rule: the action's secret values together hold at most 1000 characters.
std::optional<std::string> secret_budget_problem(const config::ActionSpec& action, const std::map<std::string, std::string>& values);

}  // namespace sprocket::actions
