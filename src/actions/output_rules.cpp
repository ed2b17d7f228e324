#include "actions/output_rules.h"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <regex>

#include "util/text_length.h"

namespace sprocket::actions {
namespace json = boost::json;
using config::OutputField;
using config::OutputType;

namespace {

constexpr std::int64_t kDayMs = 86'400'000;

std::string describe(const json::value& v) {
  std::string text = json::serialize(v);
  return text.size() > 40 ? text.substr(0, 37) + "..." : text;
}

}  // namespace

OutputCheck check_outputs(const config::ActionSpec& action, const json::object& outputs) {
  OutputCheck check;
  static const std::regex kPhone(R"(^\+?[0-9 ().\-]{5,32}$)");
  auto invalid = [&](std::string problem) {
    if (!check.failure) check.failure = "INVALID_OUTPUT";
    check.problems.push_back(std::move(problem));
  };
  for (const auto& member : outputs) {
    std::string name(member.key());
    const json::value& v = member.value();
    if (name == "hs_execution_state") {
      check.fail_continue = v.is_string() && v.get_string() == "FAIL_CONTINUE";
      continue;
    }
    // Characters as HubSpot counts them (UTF-16 code units, docs/actions.md), not UTF-8 bytes.
    if (v.is_string()) {
      const std::size_t characters = util::utf16_length(v.get_string());
      if (characters > kMaxStringOutputChars) {
        check.failure = "OUTPUT_VALUES_TOO_LARGE";
        check.problems.push_back(
            fmt::format("{} holds {} characters; string outputs hold at most {}", name, characters, kMaxStringOutputChars));
        continue;
      }
    }
    auto declared = action.output_fields.find(name);
    if (declared == action.output_fields.end()) {
      check.warnings.push_back(fmt::format("output \"{}\" is not declared in actions.json; later actions cannot use it", name));
      continue;
    }
    const OutputField& field = declared->second;
    switch (field.type) {
      case OutputType::Number:
        if (!v.is_number()) invalid(fmt::format("{} must be a number, not {}", name, describe(v)));
        break;
      case OutputType::String:
        if (!v.is_string()) invalid(fmt::format("{} must be a string, not {}", name, describe(v)));
        break;
      case OutputType::Boolean:
        if (!v.is_bool()) invalid(fmt::format("{} must be true or false, not {}", name, describe(v)));
        break;
      case OutputType::Datetime:
        if (!v.is_int64() && !v.is_uint64()) invalid(fmt::format("{} must be UNIX milliseconds (a whole number), not {}", name, describe(v)));
        break;
      case OutputType::Date:
        if (!v.is_int64() || v.get_int64() % kDayMs != 0) {
          invalid(fmt::format("{} must be UNIX milliseconds at midnight UTC, not {}", name, describe(v)));
        }
        break;
      case OutputType::Enumeration:
        if (!v.is_string() || std::find(field.options.begin(), field.options.end(), v.get_string()) == field.options.end()) {
          invalid(fmt::format("{} must be one of {}, not {}", name, fmt::join(field.options, ", "), describe(v)));
        }
        break;
      case OutputType::PhoneNumber:
        if (!v.is_string() || !std::regex_match(std::string(v.get_string()), kPhone)) {
          invalid(fmt::format("{} must be a phone number such as \"+1 617 555 0100\", not {}", name, describe(v)));
        }
        break;
    }
  }
  return check;
}

std::optional<std::string> secret_budget_problem(const config::ActionSpec& action, const std::map<std::string, std::string>& values) {
  std::size_t total = 0;
  for (const auto& name : action.secrets) {
    if (auto it = values.find(name); it != values.end()) total += util::utf16_length(it->second);
  }
  if (total <= kMaxSecretValueChars) return std::nullopt;
  return fmt::format("the secrets of action {} hold {} characters together; HubSpot allows {}", action.name, total, kMaxSecretValueChars);
}

}  // namespace sprocket::actions
