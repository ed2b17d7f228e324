#include "cli/secrets_command.h"

#include <termios.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <iterator>

#include "cli/admin_client.h"
#include "cli/data_dir.h"
#include "logs/log_format.h"
#include "secrets/secret_box.h"
#include "secrets/secrets_service.h"
#include "store/store_location.h"

namespace sprocket::cli {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// A secret as `secrets list` shows it: its name and when it last changed, never its value.
struct ListedSecret {
  std::string name;
  std::string updated_at;
};

void print_secrets(const std::vector<ListedSecret>& listed, bool as_json) {
  if (!as_json) {
    for (const auto& s : listed) fmt::print("{}\t{}\n", s.name, s.updated_at);
    return;
  }
  json::array out;
  for (const auto& s : listed) out.push_back(json::object{{"name", s.name}, {"updatedAt", s.updated_at}});
  fmt::print("{}\n", json::serialize(out));
}

// The value comes from standard input, or a prompt that does not echo: never from argv, which
// any user of the machine can read in the process list.
std::optional<std::string> read_secret_value(const std::string& name) {
  std::string value;
  if (::isatty(STDIN_FILENO)) {
    // Echo goes off before the prompt shows: a value pasted the moment it appears is not echoed.
    termios old{};
    ::tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    fmt::print(stderr, "Value for {} (not shown): ", name);
    std::fflush(stderr);
    std::getline(std::cin, value);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    fmt::print(stderr, "\n");
  } else {
    value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (!value.empty() && value.back() == '\n') value.pop_back();
    if (!value.empty() && value.back() == '\r') value.pop_back();
  }
  if (value.empty()) {
    fmt::print(stderr, "sprocket: the value for {} is empty; pipe it in (printf %s \"$VALUE\" | sprocket secrets add {}) or type it\n",
               name, name);
    return std::nullopt;
  }
  return value;
}

// `add` must not overwrite and `update` must not create, as with `hs secrets`.
bool wrong_verb(const SecretsOptions& o, bool exists) {
  if (o.action == "add" && exists) {
    fmt::print(stderr, "sprocket: secret {} already exists; use `sprocket secrets update {}`\n", o.name, o.name);
    return true;
  }
  if (o.action == "update" && !exists) {
    fmt::print(stderr, "sprocket: there is no secret {}; use `sprocket secrets add {}`\n", o.name, o.name);
    return true;
  }
  return false;
}

int run_remote(const SecretsOptions& o) {
  auto endpoint = admin_endpoint(o.server, o.data_dir);
  if (!endpoint) {
    fmt::print(stderr, "sprocket: {}\n", endpoint.error());
    return 2;
  }
  std::string account = fmt::format("?account={}", o.account_id);
  if (o.action == "list") {
    auto reply = admin_request(*endpoint, "GET", "/api/v1/secrets" + account);
    if (!reply || reply->status != 200) {
      fmt::print(stderr, "sprocket: {}\n", reply ? error_message(*reply) : reply.error());
      return 1;
    }
    json::value body = json::parse(reply->body);
    std::vector<ListedSecret> listed;
    for (const auto& s : body.at("secrets").as_array()) {
      listed.push_back({std::string(s.at("name").as_string()), std::string(s.at("updatedAt").as_string())});
    }
    print_secrets(listed, o.json);
    return 0;
  }
  std::string target = fmt::format("/api/v1/secrets/{}{}", o.name, account);
  if (o.action == "delete") {
    auto reply = admin_request(*endpoint, "DELETE", target);
    if (!reply || reply->status != 204) {
      fmt::print(stderr, "sprocket: {}\n", reply ? error_message(*reply) : reply.error());
      return 1;
    }
    fmt::print(stderr, "Deleted secret {}\n", o.name);
    return 0;
  }
  // add must not overwrite, update must not create: check first, as `hs secrets` does.
  auto listed = admin_request(*endpoint, "GET", "/api/v1/secrets" + account);
  if (!listed || listed->status != 200) {
    fmt::print(stderr, "sprocket: {}\n", listed ? error_message(*listed) : listed.error());
    return 1;
  }
  bool exists = false;
  json::value body = json::parse(listed->body);
  for (const auto& s : body.at("secrets").as_array()) exists = exists || s.at("name").as_string() == o.name;
  if (wrong_verb(o, exists)) return 1;
  auto value = read_secret_value(o.name);
  if (!value) return 2;
  auto reply = admin_request(*endpoint, "PUT", target, json::serialize(json::object{{"value", *value}}));
  if (!reply || (reply->status != 200 && reply->status != 201)) {
    fmt::print(stderr, "sprocket: {}\n", reply ? error_message(*reply) : reply.error());
    return 1;
  }
  fmt::print(stderr, "{} secret {}\n", o.action == "add" ? "Added" : "Updated", o.name);
  return 0;
}

int run_local(const SecretsOptions& o) {
  auto prepared = prepare_data_dir(o.data_dir);
  if (!prepared) {
    fmt::print(stderr, "sprocket: {}\n", prepared.error());
    return 2;
  }
  for (const auto& note : *prepared) fmt::print(stderr, "sprocket: {}\n", note);
  auto store = store::open_store(o.store, o.data_dir);
  if (o.action == "list") {
    std::vector<ListedSecret> listed;
    for (const auto& s : store->secrets()) {
      if (s.account_id == o.account_id) listed.push_back({s.name, logs::iso_timestamp(s.updated_ms)});
    }
    print_secrets(listed, o.json);
    return 0;
  }
  bool exists = false;
  std::size_t count = 0;
  for (const auto& s : store->secrets()) {
    if (s.account_id != o.account_id) continue;
    ++count;
    exists = exists || s.name == o.name;
  }
  if (o.action == "delete") {
    if (!store->delete_secret(o.account_id, o.name)) {
      fmt::print(stderr, "sprocket: there is no secret {}\n", o.name);
      return 1;
    }
    fmt::print(stderr, "Deleted secret {}\n", o.name);
    return 0;
  }
  if (wrong_verb(o, exists)) return 1;
  if (!exists && count >= 50) {
    fmt::print(stderr, "sprocket: account {} already has {} secrets, HubSpot's limit; delete one first\n", o.account_id, count);
    return 1;
  }
  auto value = read_secret_value(o.name);
  if (!value) return 2;
  auto box = secrets::SecretBox::open_or_create(fs::path(o.data_dir) / "secret.key");
  store->put_secret(secrets::seal_secret(o.account_id, o.name, *value, box));
  fmt::print(stderr, "{} secret {}\n", o.action == "add" ? "Added" : "Updated", o.name);
  return 0;
}

}  // namespace

int run_secrets(const SecretsOptions& o) {
  if (o.action != "list") {
    if (o.name.empty()) {
      fmt::print(stderr, "sprocket: name the secret: sprocket secrets {} NAME\n", o.action);
      return 2;
    }
    if (auto why = secrets::invalid_secret_name(o.name)) {
      fmt::print(stderr, "sprocket: \"{}\": {}\n", o.name, *why);
      return 2;
    }
  }
  try {
    return o.server.empty() ? run_local(o) : run_remote(o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: {}\n", e.what());
    return 1;
  }
}

}  // namespace sprocket::cli
