#include "config/action_spec.h"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

#include "config/json_with_positions.h"

namespace sprocket::config {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

const std::map<std::string, OutputType, std::less<>> kTypes = {
    {"number", OutputType::Number},     {"string", OutputType::String}, {"boolean", OutputType::Boolean},
    {"datetime", OutputType::Datetime}, {"date", OutputType::Date},     {"enumeration", OutputType::Enumeration},
    {"phone_number", OutputType::PhoneNumber}};

class Reader {
 public:
  Reader(fs::path folder, const JsonDocument& doc) : folder_(std::move(folder)), file_(folder_ / "actions.json"), doc_(doc) {}

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
    errors_.push_back(located_error(doc_, file_, pointer, std::move(message), std::move(fix)));
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
    auto position = doc_.position_of(pointer);
    action.declared_line = position.line;
    action.declared_column = position.column;
    std::size_t before = errors_.size();
    const json::value* language = o.if_contains("language");
    if (!language || !language->is_string() || (language->get_string() != "node" && language->get_string() != "python")) {
      error(language ? json_pointer_append(pointer, "language") : pointer, "the language must be \"node\" or \"python\"",
            "write \"language\": \"node\" (Node.js) or \"python\"");
    } else {
      action.language = language->get_string() == "node" ? ActionLanguage::Node : ActionLanguage::Python;
    }
    const json::value* file = o.if_contains("file");
    if (!file || !file->is_string() || file->get_string().empty()) {
      error(file ? json_pointer_append(pointer, "file") : pointer, "names no code file",
            action.language == ActionLanguage::Python ? "write \"file\": \"action.py\"" : "write \"file\": \"action.js\"");
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
    if (action.input_fields.size() > kMaxActionInputFields) {
      error(json_pointer_append(pointer, "inputFields"),
            fmt::format("{} input fields; HubSpot allows at most {}", action.input_fields.size(), kMaxActionInputFields),
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
  const JsonDocument& doc_;
  ConfigErrors errors_;
};


}  // namespace

Expected<std::vector<ActionSpec>, ConfigErrors> parse_actions_json(const fs::path& folder, std::string_view text) {
  auto doc = parse_json_with_positions(text);
  if (!doc) {
    return Unexpected{ConfigErrors{ConfigError{folder / "actions.json", doc.error().position.line, doc.error().position.column, "",
                                               "invalid JSON: " + doc.error().message, "correct the JSON syntax at that position"}}};
  }
  return Reader(folder, *doc).run();
}

Expected<std::vector<ActionSpec>, ConfigErrors> load_actions_folder(const fs::path& given) {
  // Absolute: a worker's working directory and its code are named from wherever it runs.
  std::error_code ec;
  const fs::path folder = fs::weakly_canonical(fs::absolute(given), ec);
  fs::path file = folder / "actions.json";
  std::ifstream in(file, std::ios::binary);
  if (!in) return Unexpected{ConfigErrors{ConfigError{file, 0, 0, "", "cannot read actions.json", "create it: see docs/actions.md"}}};
  std::stringstream text;
  text << in.rdbuf();
  return parse_actions_json(folder, text.str());
}

}  // namespace sprocket::config
