#include "accounts/server_config.h"

#include <algorithm>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <fstream>
#include <set>
#include <sstream>

#include "config/json_with_positions.h"

namespace sprocket::accounts {
namespace fs = std::filesystem;
namespace json = boost::json;
using config::ConfigError;
using config::ConfigErrors;
using config::JsonDocument;
using config::json_pointer_append;

namespace {

class ConfigReader {
 public:
  ConfigReader(fs::path file, const JsonDocument& doc) : file_(std::move(file)), doc_(doc) {}

  Expected<ServerConfig, ConfigErrors> run() {
    ServerConfig config;
    if (!doc_.root.is_object()) {
      error("", "the file must hold a JSON object", "write {\"limits\": {…}, \"accounts\": [{\"id\": 123456, …}]}");
      return Unexpected{errors_};
    }
    const auto& root = doc_.root.get_object();
    known_keys(root, "", {"limits", "accounts"});
    if (const auto* limits = root.if_contains("limits")) read_limits(*limits, "/limits", config.default_limits);
    if (const auto* accounts = root.if_contains("accounts")) {
      if (!accounts->is_array()) {
        error("/accounts", "must be an array of accounts", "write \"accounts\": [{\"id\": 123456, \"domains\": [\"example.com\"], \"paths\": [\"functions\"]}]");
      } else {
        std::set<std::int64_t> ids;
        std::size_t index = 0;
        for (const auto& a : accounts->get_array()) {
          std::string pointer = json_pointer_append("/accounts", std::to_string(index++));
          AccountConfig account;
          account.limits = config.default_limits;
          if (read_account(a, pointer, account)) {
            if (!ids.insert(account.id).second) {
              error(pointer + "/id", fmt::format("account {} is configured twice", account.id), "merge the two entries into one");
            }
            config.accounts.push_back(std::move(account));
          }
        }
      }
    }
    if (!errors_.empty()) return Unexpected{errors_};
    return config;
  }

 private:
  void error(const std::string& pointer, std::string message, std::string fix) {
    errors_.push_back(config::located_error(doc_, file_, pointer, std::move(message), std::move(fix)));
  }


  void known_keys(const json::object& object, const std::string& pointer, std::initializer_list<std::string_view> known) {
    for (const auto& m : object) {
      if (std::find(known.begin(), known.end(), m.key()) == known.end()) {
        error(json_pointer_append(pointer, m.key()), fmt::format("unknown setting \"{}\"", std::string_view(m.key())),
              fmt::format("use one of: {}", fmt::join(known, ", ")));
      }
    }
  }

  // A whole number within [min, max]; reports and returns false otherwise.
  bool read_integer(const json::object& object, const std::string& pointer, std::string_view key, std::int64_t min,
                    std::int64_t max, std::int64_t& out) {
    const json::value* v = object.if_contains(key);
    if (!v) return false;
    std::string at = json_pointer_append(pointer, key);
    if (!v->is_int64() && !v->is_uint64()) {
      error(at, "must be a whole number", fmt::format("write \"{}\": {}", key, min));
      return false;
    }
    std::int64_t n = v->is_int64() ? v->get_int64() : static_cast<std::int64_t>(std::min<std::uint64_t>(v->get_uint64(), INT64_MAX));
    if (n < min || n > max) {
      error(at, fmt::format("{} is out of range", n), fmt::format("use a value from {} to {}", min, max));
      return false;
    }
    out = n;
    return true;
  }

  void read_limits(const json::value& value, const std::string& pointer, AccountLimits& limits) {
    if (!value.is_object()) {
      error(pointer, "must be an object of limits", "write \"limits\": {\"memoryMb\": 128}");
      return;
    }
    const auto& o = value.get_object();
    known_keys(o, pointer,
               {"memoryMb", "designManagerTimeLimitMs", "projectTimeLimitMs", "executionSecondsPerMinute", "executionsPerMinute",
                "maxEndpoints", "maxSecrets", "logBytesPerExecution", "maxInstancesPerFunction", "maxQueuedPerFunction",
                "queueTimeoutMs", "pipelineDepth", "network"});
    std::int64_t n = 0;
    if (read_integer(o, pointer, "memoryMb", 32, 1 << 20, n)) limits.memory_mb = static_cast<int>(n);
    if (read_integer(o, pointer, "designManagerTimeLimitMs", 1, 15 * 60 * 1000, n)) limits.design_manager_time_limit = std::chrono::milliseconds(n);
    if (read_integer(o, pointer, "projectTimeLimitMs", 1, 15 * 60 * 1000, n)) limits.project_time_limit = std::chrono::milliseconds(n);
    if (const json::value* v = o.if_contains("executionSecondsPerMinute")) {
      if (!v->is_number() || v->to_number<double>() <= 0) {
        error(json_pointer_append(pointer, "executionSecondsPerMinute"), "must be a positive number", "write \"executionSecondsPerMinute\": 600");
      } else {
        limits.execution_seconds_per_minute = v->to_number<double>();
      }
    }
    if (const json::value* v = o.if_contains("executionsPerMinute"); v && v->is_null()) {
      limits.executions_per_minute.reset();
    } else if (read_integer(o, pointer, "executionsPerMinute", 1, INT64_MAX, n)) {
      limits.executions_per_minute = n;
    }
    if (read_integer(o, pointer, "maxEndpoints", 0, 1'000'000, n)) limits.max_endpoints = static_cast<int>(n);
    if (read_integer(o, pointer, "maxSecrets", 0, 1'000'000, n)) limits.max_secrets = static_cast<int>(n);
    if (read_integer(o, pointer, "logBytesPerExecution", 0, 64 * 1024 * 1024, n)) limits.log_bytes_per_execution = static_cast<std::size_t>(n);
    if (read_integer(o, pointer, "maxInstancesPerFunction", 1, 10'000, n)) limits.max_instances_per_function = static_cast<int>(n);
    if (read_integer(o, pointer, "maxQueuedPerFunction", 0, 1'000'000, n)) limits.max_queued_per_function = static_cast<std::size_t>(n);
    if (read_integer(o, pointer, "queueTimeoutMs", 1, 15 * 60 * 1000, n)) limits.queue_timeout = std::chrono::milliseconds(n);
    if (read_integer(o, pointer, "pipelineDepth", 1, 64, n)) limits.pipeline_depth = static_cast<std::size_t>(n);
    if (const json::value* v = o.if_contains("network")) {
      if (!v->is_bool()) error(json_pointer_append(pointer, "network"), "must be true or false", "write \"network\": false to cut the account's functions off the network");
      else limits.network = v->get_bool();
    }
  }

  bool read_account(const json::value& value, const std::string& pointer, AccountConfig& account) {
    if (!value.is_object()) {
      error(pointer, "an account must be an object", "write {\"id\": 123456, \"domains\": [\"example.com\"], \"paths\": [\"functions\"]}");
      return false;
    }
    const auto& o = value.get_object();
    known_keys(o, pointer, {"id", "domains", "paths", "limits"});
    std::int64_t id = 0;
    if (!o.contains("id")) {
      error(pointer, "the account has no \"id\"", "add \"id\": 123456 (the HubSpot account id functions see)");
      return false;
    }
    if (!read_integer(o, pointer, "id", 1, INT64_MAX, id)) return false;
    account.id = id;
    for (const char* list : {"domains", "paths"}) {
      const json::value* v = o.if_contains(list);
      if (!v) continue;
      std::string at = json_pointer_append(pointer, list);
      if (!v->is_array()) {
        error(at, "must be an array of strings", fmt::format("write \"{}\": [\"…\"]", list));
        continue;
      }
      for (const auto& item : v->get_array()) {
        if (!item.is_string() || item.get_string().empty()) {
          error(at, "every entry must be a non-empty string", fmt::format("write \"{}\": [\"…\"]", list));
          continue;
        }
        std::string text(item.get_string());
        if (std::string_view(list) == "domains") {
          std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
          account.domains.push_back(text);
        } else {
          fs::path p(text);
          account.paths.push_back(p.is_absolute() ? p : file_.parent_path() / p);
        }
      }
    }
    if (const auto* limits = o.if_contains("limits")) read_limits(*limits, json_pointer_append(pointer, "limits"), account.limits);
    return true;
  }

  fs::path file_;
  const JsonDocument& doc_;
  ConfigErrors errors_;
};

}  // namespace

Expected<ServerConfig, ConfigErrors> parse_server_config(const fs::path& file, std::string_view text) {
  auto doc = config::parse_json_with_positions(text);
  if (!doc) {
    return Unexpected{ConfigErrors{ConfigError{file, doc.error().position.line, doc.error().position.column, "",
                                               "invalid JSON: " + doc.error().message, "correct the JSON syntax at that position"}}};
  }
  return ConfigReader(file, *doc).run();
}

Expected<ServerConfig, ConfigErrors> load_server_config(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return Unexpected{ConfigErrors{ConfigError{file, 0, 0, "", "cannot read the configuration file", "check the path given to --config"}}};
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_server_config(fs::absolute(file), text.str());
}

}  // namespace sprocket::accounts
