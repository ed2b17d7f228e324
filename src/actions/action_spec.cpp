#include "actions/action_spec.h"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <fstream>
#include <regex>
#include <sstream>

#include "config/json_with_positions.h"

namespace sprocket::actions {
namespace fs = std::filesystem;
namespace json = boost::json;
using config::ConfigError;
using config::ConfigErrors;
using config::json_pointer_append;

namespace {

constexpr std::int64_t kDayMs = 86'400'000;

const std::map<std::string, OutputType, std::less<>> kTypes = {
    {"number", OutputType::Number},     {"string", OutputType::String}, {"boolean", OutputType::Boolean},
    {"datetime", OutputType::Datetime}, {"date", OutputType::Date},     {"enumeration", OutputType::Enumeration},
    {"phone_number", OutputType::PhoneNumber}};

class Reader {
 public:
  Reader(fs::path folder, const config::JsonDocument& doc) : folder_(std::move(folder)), file_(folder_ / "actions.json"), doc_(doc) {}

  Expected<std::vector<ActionSpec>, ConfigErrors> run() {
    std::vector<ActionSpec> actions;
    const json::value* list = doc_.root.is_object() ? doc_.root.get_object().if_contains("actions") : nullptr;
    if (!list || !list->is_object() || list->get_object().empty()) {
      error("", "declares no action", "write {\"actions\": {\"NAME\": {\"language\": \"node\", \"file\": \"NAME.js\"}}}");
      return Unexpected{errors_};
    }
    for (const auto& member : list->get_object()) {
      std::string pointer = json_pointer_append("/actions", member.key());
      if (auto action = read_action(std::string(member.key()), member.value(), pointer)) actions.push_back(std::move(*action));
    }
    if (!errors_.empty()) return Unexpected{errors_};
    return actions;
  }

 private:
  void error(const std::string& pointer, std::string message, std::string fix) {
    errors_.push_back(config::located_error(doc_, file_, pointer, std::move(message), std::move(fix)));
  }


  std::vector<std::string> strings(const json::object& o, const std::string& pointer, std::string_view key) {
    std::vector<std::string> out;
    const json::value* v = o.if_contains(key);
    if (!v) return out;
    std::string at = json_pointer_append(pointer, key);
    if (!v->is_array()) {
      error(at, "must be an array of names", fmt::format("write \"{}\": [\"name\"]", key));
      return out;
    }
    for (const auto& item : v->get_array()) {
      if (!item.is_string() || item.get_string().empty()) {
        error(at, "every entry must be a non-empty string", fmt::format("write \"{}\": [\"name\"]", key));
        continue;
      }
      out.emplace_back(item.get_string());
    }
    return out;
  }

  std::optional<ActionSpec> read_action(std::string name, const json::value& value, const std::string& pointer) {
    if (!value.is_object()) {
      error(pointer, "an action must be an object", "write {\"language\": \"node\", \"file\": \"action.js\"}");
      return std::nullopt;
    }
    const auto& o = value.get_object();
    ActionSpec action;
    action.name = std::move(name);
    action.folder = folder_;
    std::size_t before = errors_.size();
    const json::value* language = o.if_contains("language");
    if (!language || !language->is_string() || (language->get_string() != "node" && language->get_string() != "python")) {
      error(language ? json_pointer_append(pointer, "language") : pointer, "the language must be \"node\" or \"python\"",
            "write \"language\": \"node\" (Node.js) or \"python\"");
    } else {
      action.language = language->get_string() == "node" ? Language::Node : Language::Python;
    }
    const json::value* file = o.if_contains("file");
    if (!file || !file->is_string() || file->get_string().empty()) {
      error(file ? json_pointer_append(pointer, "file") : pointer, "names no code file",
            action.language == Language::Python ? "write \"file\": \"action.py\"" : "write \"file\": \"action.js\"");
    } else {
      std::error_code ec;
      fs::path resolved = fs::weakly_canonical(folder_ / std::string(file->get_string()), ec);
      std::string base = fs::weakly_canonical(folder_, ec).string() + "/";
      if (resolved.string().rfind(base, 0) != 0 || !fs::is_regular_file(resolved, ec)) {
        error(json_pointer_append(pointer, "file"), fmt::format("file \"{}\" not found in {}", std::string_view(file->get_string()), folder_.string()),
              "create the file or correct its name (names are case-sensitive)");
      }
      action.file = resolved;
    }
    action.secrets = strings(o, pointer, "secrets");
    action.input_fields = strings(o, pointer, "inputFields");
    if (action.input_fields.size() > kMaxInputFields) {
      error(json_pointer_append(pointer, "inputFields"),
            fmt::format("{} input fields; HubSpot allows at most {}", action.input_fields.size(), kMaxInputFields),
            "pass fewer properties to the action");
    }
    if (const json::value* outputs = o.if_contains("outputFields")) {
      std::string at = json_pointer_append(pointer, "outputFields");
      if (!outputs->is_object()) {
        error(at, "must map output names to {\"type\": …}", "write \"outputFields\": {\"score\": {\"type\": \"number\"}}");
      } else {
        for (const auto& field : outputs->get_object()) {
          std::string field_at = json_pointer_append(at, field.key());
          const json::value* type = field.value().is_object() ? field.value().get_object().if_contains("type") : nullptr;
          auto known = type && type->is_string() ? kTypes.find(std::string_view(type->get_string())) : kTypes.end();
          if (known == kTypes.end()) {
            error(field_at, "needs a \"type\": number, string, boolean, datetime, date, enumeration or phone_number",
                  "write {\"type\": \"string\"}");
            continue;
          }
          OutputField out{known->second, {}};
          if (out.type == OutputType::Enumeration) {
            out.options = strings(field.value().get_object(), field_at, "options");
            if (out.options.empty()) error(field_at, "an enumeration lists its options", "write \"options\": [\"gold\", \"silver\"]");
          }
          action.output_fields.emplace(std::string(field.key()), std::move(out));
        }
      }
    }
    if (errors_.size() != before) return std::nullopt;
    return action;
  }

  fs::path folder_;
  fs::path file_;
  const config::JsonDocument& doc_;
  ConfigErrors errors_;
};

std::string describe(const json::value& v) {
  std::string text = json::serialize(v);
  return text.size() > 40 ? text.substr(0, 37) + "..." : text;
}

}  // namespace

Expected<std::vector<ActionSpec>, ConfigErrors> load_actions_folder(const fs::path& folder) {
  fs::path file = folder / "actions.json";
  std::ifstream in(file, std::ios::binary);
  if (!in) return Unexpected{ConfigErrors{ConfigError{file, 0, 0, "", "cannot read actions.json", "create it: see docs/actions.md"}}};
  std::stringstream text;
  text << in.rdbuf();
  auto doc = config::parse_json_with_positions(text.str());
  if (!doc) {
    return Unexpected{ConfigErrors{ConfigError{file, doc.error().position.line, doc.error().position.column, "",
                                               "invalid JSON: " + doc.error().message, "correct the JSON syntax at that position"}}};
  }
  return Reader(folder, *doc).run();
}

OutputCheck check_outputs(const ActionSpec& action, const json::object& outputs) {
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
    if (v.is_string() && v.get_string().size() > kMaxStringOutputChars) {
      check.failure = "OUTPUT_VALUES_TOO_LARGE";
      check.problems.push_back(fmt::format("{} holds {} characters; string outputs hold at most {}", name, v.get_string().size(),
                                           kMaxStringOutputChars));
      continue;
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

std::optional<std::string> secret_budget_problem(const ActionSpec& action, const std::map<std::string, std::string>& values) {
  std::size_t total = 0;
  for (const auto& name : action.secrets) {
    if (auto it = values.find(name); it != values.end()) total += it->second.size();
  }
  if (total <= kMaxSecretValueChars) return std::nullopt;
  return fmt::format("the secrets of action {} hold {} characters together; HubSpot allows {}", action.name, total, kMaxSecretValueChars);
}

}  // namespace sprocket::actions
