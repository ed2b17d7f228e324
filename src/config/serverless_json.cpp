#include "config/serverless_json.h"

#include <algorithm>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <fstream>
#include <set>
#include <sstream>

#include "config/json_with_positions.h"

namespace sprocket::config {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// Names a function must not use for environment variables or secrets: they would change how
// the worker process itself starts or resolves modules.
const std::set<std::string, std::less<>> kReservedVariables = {
    "NODE_OPTIONS", "NODE_PATH", "PATH", "HOME", "LD_PRELOAD", "LD_LIBRARY_PATH", "UV_THREADPOOL_SIZE"};

bool is_variable_name(std::string_view name) {
  if (name.empty()) return false;
  auto head = static_cast<unsigned char>(name[0]);
  if (!(std::isalpha(head) || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string type_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "a value";
}

class Validator {
 public:
  Validator(fs::path folder, const JsonDocument& doc, std::string project_name)
      : folder_(std::move(folder)), file_(folder_ / "serverless.json"), doc_(doc),
        project_name_(std::move(project_name)) {}

  Expected<FunctionsFolder, ConfigErrors> run() {
    FunctionsFolder result;
    result.folder = folder_;
    if (!doc_.root.is_object()) {
      error("", "", fmt::format("the file holds {}, but serverless.json must be a JSON object", type_name(doc_.root)),
            "wrap the configuration in { … } with an \"endpoints\" or \"appFunctions\" member");
      return Unexpected{errors_};
    }
    const auto& root = doc_.root.get_object();
    bool has_endpoints = root.contains("endpoints");
    bool has_app_functions = root.contains("appFunctions");
    if (has_endpoints && has_app_functions) {
      error("/appFunctions", "appFunctions",
            "a serverless.json holds either \"endpoints\" (design-manager format) or \"appFunctions\" (project format), not both",
            "move the functions into two separate *.functions folders, one per format");
    } else if (has_app_functions) {
      result.format = FunctionFormat::Project;
      validate_project(root, result);
    } else if (has_endpoints) {
      result.format = FunctionFormat::DesignManager;
      validate_design_manager(root, result);
    } else {
      error("", "", "neither \"endpoints\" nor \"appFunctions\" is defined, so the folder declares no function",
            "add \"endpoints\": {\"NAME\": {\"method\": \"GET\", \"file\": \"NAME.js\"}} (design manager) or "
            "\"appFunctions\": {\"NAME\": {\"file\": \"NAME.js\", \"endpoint\": {\"path\": \"NAME\", \"method\": [\"GET\"]}}} (projects)");
    }
    if (!errors_.empty()) return Unexpected{errors_};
    result.warnings = std::move(warnings_);
    return result;
  }

 private:
  static std::string field_of(const std::string& pointer) { return field_of_pointer(pointer); }

  void error(const std::string& pointer, std::string field, std::string message, std::string fix, bool at_key = false) {
    TextPosition p = at_key ? doc_.key_position_of(pointer) : doc_.position_of(pointer);
    errors_.push_back(ConfigError{file_, p.line, p.column, field.empty() ? field_of(pointer) : std::move(field),
                                  std::move(message), std::move(fix)});
  }
  void warn(const std::string& pointer, const std::string& message) {
    TextPosition p = doc_.key_position_of(pointer);
    warnings_.push_back(fmt::format("{}:{}:{}: warning: {}: {}", file_.string(), p.line, p.column, field_of(pointer), message));
  }

  void check_known_keys(const json::object& object, const std::string& pointer, std::initializer_list<std::string_view> known,
                        std::string_view what) {
    for (const auto& member : object) {
      if (std::find(known.begin(), known.end(), member.key()) == known.end()) {
        warn(json_pointer_append(pointer, member.key()),
             fmt::format("unknown field in {} (known: {}); it is ignored", what, fmt::join(known, ", ")));
      }
    }
  }

  std::map<std::string, std::string> read_environment(const json::object& parent, const std::string& parent_pointer) {
    std::map<std::string, std::string> env;
    const json::value* v = parent.if_contains("environment");
    if (!v) return env;
    std::string pointer = json_pointer_append(parent_pointer, "environment");
    if (!v->is_object()) {
      error(pointer, "", fmt::format("must be an object of NAME: \"value\" pairs, not {}", type_name(*v)),
            "write \"environment\": {\"NAME\": \"value\"}");
      return env;
    }
    for (const auto& member : v->get_object()) {
      std::string member_pointer = json_pointer_append(pointer, member.key());
      std::string name(member.key());
      if (!is_variable_name(name)) {
        error(member_pointer, "", fmt::format("\"{}\" is not a valid environment variable name", name),
              "use letters, digits and underscores, not starting with a digit", true);
        continue;
      }
      if (kReservedVariables.count(name)) {
        error(member_pointer, "", fmt::format("\"{}\" is reserved: it controls how the function's process starts", name),
              "rename the variable", true);
        continue;
      }
      const json::value& value = member.value();
      if (value.is_string()) {
        env[name] = std::string(value.get_string());
      } else if (value.is_number() || value.is_bool()) {
        env[name] = json::serialize(value);  // environment variables are strings
      } else {
        error(member_pointer, "", fmt::format("must be a string, number or boolean, not {}", type_name(value)),
              fmt::format("write \"{}\": \"value\"", name));
      }
    }
    return env;
  }

  std::vector<std::string> read_secrets(const json::object& parent, const std::string& parent_pointer) {
    std::vector<std::string> names;
    const json::value* v = parent.if_contains("secrets");
    if (!v) return names;
    std::string pointer = json_pointer_append(parent_pointer, "secrets");
    if (!v->is_array()) {
      error(pointer, "", fmt::format("must be an array of secret names, not {}", type_name(*v)),
            "write \"secrets\": [\"MY_SECRET\"]");
      return names;
    }
    std::size_t index = 0;
    for (const auto& element : v->get_array()) {
      std::string element_pointer = json_pointer_append(pointer, std::to_string(index++));
      if (!element.is_string()) {
        error(element_pointer, "", fmt::format("a secret name must be a string, not {}", type_name(element)),
              "list the secret names as strings: [\"MY_SECRET\"]");
        continue;
      }
      std::string name(element.get_string());
      if (!is_variable_name(name)) {
        error(element_pointer, "", fmt::format("\"{}\" is not a valid secret name", name),
              "secret names are environment variable names: letters, digits and underscores, not starting with a digit");
        continue;
      }
      if (kReservedVariables.count(name)) {
        error(element_pointer, "", fmt::format("\"{}\" is reserved: it controls how the function's process starts", name),
              "rename the secret");
        continue;
      }
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    return names;
  }

  std::vector<std::string> read_methods(const json::value* v, const std::string& pointer) {
    if (!v) return {"GET"};  // HubSpot's documented default
    std::vector<std::string> methods;
    auto check_one = [&](const json::value& m, const std::string& at) {
      if (!m.is_string()) {
        error(at, "", fmt::format("an HTTP method must be a string, not {}", type_name(m)),
              "use one of \"GET\", \"POST\", \"PUT\", \"PATCH\", \"DELETE\"");
        return;
      }
      std::string name(m.get_string());
      if (std::find(std::begin(kAllowedMethods), std::end(kAllowedMethods), name) == std::end(kAllowedMethods)) {
        std::string upper = name;
        std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
        bool case_only = std::find(std::begin(kAllowedMethods), std::end(kAllowedMethods), upper) != std::end(kAllowedMethods);
        error(at, "", fmt::format("unknown method \"{}\"; allowed values are GET, POST, PUT, PATCH and DELETE", name),
              case_only ? fmt::format("methods are upper case: write \"{}\"", upper)
                        : std::string("use one of \"GET\", \"POST\", \"PUT\", \"PATCH\", \"DELETE\""));
        return;
      }
      if (std::find(methods.begin(), methods.end(), name) == methods.end()) methods.push_back(name);
    };
    if (v->is_array()) {
      if (v->get_array().empty()) {
        error(pointer, "", "the method list is empty, so no request could reach the function",
              "list at least one method, e.g. [\"GET\"]");
      }
      std::size_t index = 0;
      for (const auto& m : v->get_array()) check_one(m, json_pointer_append(pointer, std::to_string(index++)));
    } else {
      check_one(*v, pointer);
    }
    return methods;
  }

  // Resolves and checks "file"; returns an empty path after reporting an error.
  fs::path read_file(const json::object& entry, const std::string& entry_pointer, const std::string& name) {
    const json::value* v = entry.if_contains("file");
    if (!v) {
      error(entry_pointer, field_of(json_pointer_append(entry_pointer, "file")), "is missing: the function has no code file",
            fmt::format("add \"file\": \"{}.js\" naming the JavaScript file in {}", name, folder_.filename().string()), true);
      return {};
    }
    std::string pointer = json_pointer_append(entry_pointer, "file");
    if (!v->is_string() || v->get_string().empty()) {
      error(pointer, "", fmt::format("must be a non-empty string, not {}", type_name(*v)), "write \"file\": \"NAME.js\"");
      return {};
    }
    fs::path relative(std::string(v->get_string()));
    std::error_code ec;
    fs::path base = fs::weakly_canonical(folder_, ec);
    fs::path resolved = fs::weakly_canonical(folder_ / relative, ec);
    std::string base_str = base.string() + "/";
    if (relative.is_absolute() || resolved.string().rfind(base_str, 0) != 0) {
      error(pointer, "", fmt::format("\"{}\" points outside the functions folder", relative.string()),
            fmt::format("keep code files inside {} and name them relative to it", folder_.string()));
      return {};
    }
    if (!fs::is_regular_file(resolved, ec)) {
      error(pointer, "", fmt::format("file \"{}\" not found in {}", relative.string(), folder_.string()),
            "create the file or correct its name (names are case-sensitive)");
      return {};
    }
    return resolved;
  }

  void check_secret_environment_clash(const FunctionSpec& spec, const std::string& entry_pointer) {
    for (const auto& secret : spec.secrets) {
      if (spec.environment.count(secret)) {
        error(json_pointer_append(entry_pointer, "secrets"), "",
              fmt::format("secret \"{}\" has the same name as an environment variable, so one would hide the other", secret),
              "rename the secret or the environment variable (HubSpot warns against equal names)");
      }
    }
  }

  void validate_design_manager(const json::object& root, FunctionsFolder& result) {
    check_known_keys(root, "", {"runtime", "version", "environment", "secrets", "endpoints"}, "serverless.json");
    if (const json::value* runtime = root.if_contains("runtime")) {
      if (!runtime->is_string() || runtime->get_string().find("nodejs") != 0) {
        error("/runtime", "", "must name a Node.js runtime, e.g. \"nodejs18.x\"",
              "write \"runtime\": \"nodejs18.x\" (sprocket runs every nodejs runtime on the installed Node.js)");
      }
    }
    if (const json::value* version = root.if_contains("version"); version && !version->is_string()) {
      error("/version", "", "must be a string", "write \"version\": \"1.0\"");
    }
    auto top_environment = read_environment(root, "");
    auto top_secrets = read_secrets(root, "");
    for (const auto& secret : top_secrets) {
      if (top_environment.count(secret)) {
        error("/secrets", "", fmt::format("secret \"{}\" has the same name as an environment variable, so one would hide the other", secret),
              "rename the secret or the environment variable (HubSpot warns against equal names)");
      }
    }
    const json::value& endpoints = root.at("endpoints");
    if (!endpoints.is_object()) {
      error("/endpoints", "", fmt::format("must be an object mapping endpoint names to their settings, not {}", type_name(endpoints)),
            "write \"endpoints\": {\"NAME\": {\"method\": \"GET\", \"file\": \"NAME.js\"}}");
      return;
    }
    if (endpoints.get_object().empty()) {
      error("/endpoints", "", "declares no endpoint", "add at least one endpoint: \"NAME\": {\"method\": \"GET\", \"file\": \"NAME.js\"}");
    }
    for (const auto& member : endpoints.get_object()) {
      std::string name(member.key());
      std::string pointer = json_pointer_append("/endpoints", name);
      if (!check_path_name(name, pointer)) continue;
      if (!member.value().is_object()) {
        error(pointer, "", fmt::format("must be an object, not {}", type_name(member.value())),
              fmt::format("write \"{}\": {{\"method\": \"GET\", \"file\": \"{}.js\"}}", name, name));
        continue;
      }
      const auto& entry = member.value().get_object();
      check_known_keys(entry, pointer, {"method", "file", "environment", "secrets"}, "an endpoint");
      FunctionSpec spec;
      spec.name = name;
      TextPosition declared = doc_.key_position_of(pointer);
      spec.declared_line = declared.line;
      spec.declared_column = declared.column;
      spec.format = FunctionFormat::DesignManager;
      spec.folder = folder_;
      spec.serverless_json = file_;
      spec.methods = read_methods(entry.if_contains("method"), json_pointer_append(pointer, "method"));
      spec.file = read_file(entry, pointer, name);
      spec.environment = top_environment;
      for (auto& [k, v] : read_environment(entry, pointer)) spec.environment[k] = v;  // endpoint values win
      spec.secrets = top_secrets;
      for (auto& s : read_secrets(entry, pointer)) {
        if (std::find(spec.secrets.begin(), spec.secrets.end(), s) == spec.secrets.end()) spec.secrets.push_back(s);
      }
      check_secret_environment_clash(spec, pointer);
      spec.route = "/_hcms/api/" + name;
      spec.endpoint = name;
      result.functions.push_back(std::move(spec));
    }
  }

  bool check_path_name(const std::string& name, const std::string& pointer) {
    auto bad = [&](const std::string& why, const std::string& fix) {
      error(pointer, "", fmt::format("\"{}\" {}", name, why), fix, true);
      return false;
    };
    if (name.empty()) return bad("is empty", "give the endpoint a name such as \"hello\"");
    if (name.front() == '/' || name.back() == '/') {
      std::string trimmed = name;
      while (!trimmed.empty() && trimmed.front() == '/') trimmed.erase(trimmed.begin());
      while (!trimmed.empty() && trimmed.back() == '/') trimmed.pop_back();
      return bad("starts or ends with '/'", fmt::format("write \"{}\"", trimmed));
    }
    for (char c : name) {
      if (std::isspace(static_cast<unsigned char>(c)) || c == '?' || c == '#' || c == '%' || static_cast<unsigned char>(c) < 0x20) {
        return bad("contains a space, '?', '#' or '%', which cannot appear in a URL path", "use letters, digits, '-', '_', '.' and '/'");
      }
    }
    if (name.find("//") != std::string::npos) return bad("contains an empty segment (\"//\")", "remove the doubled '/'");
    return true;
  }

  void validate_project(const json::object& root, FunctionsFolder& result) {
    check_known_keys(root, "", {"appFunctions"}, "a project serverless.json");
    for (const char* removed : {"runtime", "version", "environment"}) {
      if (root.contains(removed)) {
        warn(json_pointer_append("", removed),
             "developer projects removed this field (HubSpot ignores it); the function does not see it");
      }
    }
    const json::value& functions = root.at("appFunctions");
    if (!functions.is_object()) {
      error("/appFunctions", "", fmt::format("must be an object mapping function names to their settings, not {}", type_name(functions)),
            "write \"appFunctions\": {\"NAME\": {\"file\": \"NAME.js\"}}");
      return;
    }
    if (functions.get_object().empty()) {
      error("/appFunctions", "", "declares no function", "add \"NAME\": {\"file\": \"NAME.js\", \"secrets\": []}");
    }
    for (const auto& member : functions.get_object()) {
      std::string name(member.key());
      std::string pointer = json_pointer_append("/appFunctions", name);
      if (name.empty()) {
        error(pointer, "", "a function name is empty", "name the function, e.g. \"fetchQuote\"", true);
        continue;
      }
      if (!member.value().is_object()) {
        error(pointer, "", fmt::format("must be an object, not {}", type_name(member.value())),
              fmt::format("write \"{}\": {{\"file\": \"{}.js\"}}", name, name));
        continue;
      }
      const auto& entry = member.value().get_object();
      check_known_keys(entry, pointer, {"file", "secrets", "endpoint"}, "an app function");
      FunctionSpec spec;
      spec.name = name;
      TextPosition declared = doc_.key_position_of(pointer);
      spec.declared_line = declared.line;
      spec.declared_column = declared.column;
      spec.format = FunctionFormat::Project;
      spec.folder = folder_;
      spec.serverless_json = file_;
      spec.project_name = project_name_;
      spec.file = read_file(entry, pointer, name);
      spec.secrets = read_secrets(entry, pointer);
      if (const json::value* endpoint = entry.if_contains("endpoint")) {
        std::string endpoint_pointer = json_pointer_append(pointer, "endpoint");
        if (!endpoint->is_object()) {
          error(endpoint_pointer, "", fmt::format("must be an object with \"path\" and \"method\", not {}", type_name(*endpoint)),
                fmt::format("write \"endpoint\": {{\"path\": \"{}\", \"method\": [\"GET\"]}}", name));
          continue;
        }
        const auto& ep = endpoint->get_object();
        check_known_keys(ep, endpoint_pointer, {"path", "method"}, "an endpoint");
        const json::value* path = ep.if_contains("path");
        std::string path_pointer = json_pointer_append(endpoint_pointer, "path");
        if (!path) {
          error(endpoint_pointer, field_of(path_pointer), "is missing: the endpoint has no URL path",
                fmt::format("add \"path\": \"{}\" (served at /hs/serverless/{})", name, name), true);
          continue;
        }
        if (!path->is_string()) {
          error(path_pointer, "", fmt::format("must be a string, not {}", type_name(*path)), "write \"path\": \"my-path\"");
          continue;
        }
        std::string route_path(path->get_string());
        if (!check_path_name(route_path, path_pointer)) continue;
        spec.methods = read_methods(ep.if_contains("method"), json_pointer_append(endpoint_pointer, "method"));
        spec.route = "/hs/serverless/" + route_path;
        spec.endpoint = route_path;
      } else {
        spec.endpoint = name;
      }
      result.functions.push_back(std::move(spec));
    }
  }

  fs::path folder_;
  fs::path file_;
  const JsonDocument& doc_;
  std::string project_name_;
  ConfigErrors errors_;
  std::vector<std::string> warnings_;
};

}  // namespace

Expected<FunctionsFolder, ConfigErrors> parse_serverless_json(const fs::path& folder, std::string_view text,
                                                              const std::string& project_name) {
  auto doc = parse_json_with_positions(text);
  if (!doc) {
    const auto& e = doc.error();
    return Unexpected{ConfigErrors{ConfigError{folder / "serverless.json", e.position.line, e.position.column, "",
                                               "invalid JSON: " + e.message,
                                               "correct the JSON syntax at that position (JSON allows no comments or trailing commas)"}}};
  }
  return Validator(folder, *doc, project_name).run();
}

Expected<FunctionsFolder, ConfigErrors> load_functions_folder(const fs::path& folder, const std::string& project_name) {
  fs::path file = folder / "serverless.json";
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return Unexpected{ConfigErrors{ConfigError{file, 0, 0, "", "cannot read serverless.json (it is missing or unreadable)",
                                               "create serverless.json in the functions folder; every *.functions folder needs one"}}};
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_serverless_json(folder, buffer.str(), project_name);
}

}  // namespace sprocket::config
