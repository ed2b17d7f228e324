#include "cli/logs_command.h"

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <thread>
#include <unistd.h>

#include "cli/admin_client.h"
#include "cli/colour.h"
#include "http/request_context.h"
#include "logs/execution_format.h"
#include "logs/log_format.h"
#include "store/store_location.h"
#include "util/duration.h"

namespace sprocket::cli {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

void print_coloured(std::string_view text) {
  std::string out;
  while (!text.empty()) {
    std::string_view line = text.substr(0, text.find('\n'));
    text.remove_prefix(std::min(text.size(), line.size() + 1));
    std::string_view colour = logs::line_colour(line);
    out += colour;
    out += line;
    if (!colour.empty()) out += logs::kColourReset;
    out += '\n';
  }
  fmt::print("{}", out);
}

void print(const store::ExecutionRecord& r, const LogsOptions& o) {
  if (o.json) {
    fmt::print("{}\n", json::serialize(logs::execution_to_json(r)));
  } else if (colour_wanted(o.color, STDOUT_FILENO)) {
    print_coloured(logs::execution_text(r, o.compact));
  } else {
    fmt::print("{}\n", logs::execution_text(r, o.compact));
  }
  std::fflush(stdout);
}

std::string query_string(const LogsOptions& o, std::size_t limit) {
  std::string q = fmt::format("?account={}&limit={}", o.account_id, limit);
  auto add = [&](const char* key, const std::string& value) {
    if (value.empty()) return;
    q += fmt::format("&{}=", key);
    for (unsigned char c : value) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') q += static_cast<char>(c);
      else q += fmt::format("%{:02X}", c);
    }
  };
  add("function", o.function);
  add("requestId", o.request_id);
  add("since", o.since);
  return q;
}

int run_remote(const LogsOptions& o, std::size_t limit) {
  auto endpoint = admin_endpoint(o.server, o.data_dir);
  if (!endpoint) {
    fmt::print(stderr, "sprocket: {}\n", endpoint.error());
    return 2;
  }
  auto reply = admin_request(*endpoint, "GET", "/api/v1/logs" + query_string(o, limit));
  if (!reply || reply->status != 200) {
    fmt::print(stderr, "sprocket: {}\n", reply ? error_message(*reply) : reply.error());
    return 1;
  }
  std::int64_t last = 0;
  json::value body = json::parse(reply->body);
  for (const auto& e : body.at("executions").as_array()) {
    auto r = logs::execution_from_json(e.as_object());
    last = std::max(last, r.id);
    print(r, o);
  }
  if (!o.follow) return 0;
  auto followed = admin_follow(*endpoint, "/api/v1/logs/follow" + query_string(o, 1000) + fmt::format("&after={}", last),
                               [&](const std::string& data) {
                                 boost::system::error_code ec;
                                 auto v = json::parse(data, ec);
                                 if (!ec && v.is_object()) print(logs::execution_from_json(v.as_object()), o);
                                 return true;
                               });
  if (!followed) {
    fmt::print(stderr, "sprocket: {}\n", followed.error());
    return 1;
  }
  return 0;
}

int run_local(const LogsOptions& o, std::size_t limit) {
  auto where = store::parse_store_location(o.store, o.data_dir);
  if (!where) {
    fmt::print(stderr, "sprocket: {}\n", where.error());
    return 2;
  }
  if (where->engine == store::StoreLocation::Engine::Sqlite && !fs::exists(where->sqlite_file)) {
    // Reading must not create an empty database where the user mistyped a path.
    fmt::print(stderr, "sprocket: no logs in {}: nothing has been served with that store yet\n", where->describe());
    return 1;
  }
  auto store = store::open_store(*where);
  store::ExecutionQuery q;
  q.account_id = o.account_id;
  if (!o.function.empty()) q.function = o.function;
  if (!o.request_id.empty()) q.request_id = o.request_id;
  if (!o.since.empty()) {
    auto d = util::parse_duration(o.since);
    if (!d) {
      fmt::print(stderr, "sprocket: --since must be a duration such as 30s, 10m, 2h or 7d\n");
      return 2;
    }
    q.since_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count() -
                 d->count();
  }
  q.limit = limit;
  std::int64_t last = 0;
  for (const auto& r : store->find_executions(q)) {
    last = std::max(last, r.id);
    print(r, o);
  }
  while (o.follow) {
    // The server writes in batches a few times a second: polling at that pace misses nothing.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    q.after_id = last;
    q.limit = 1000;
    for (const auto& r : store->find_executions(q)) {
      last = std::max(last, r.id);
      print(r, o);
    }
  }
  return 0;
}

}  // namespace

int run_logs(const LogsOptions& o) {
  std::size_t limit = o.latest ? 1 : o.limit;
  try {
    return o.server.empty() ? run_local(o, limit) : run_remote(o, limit);
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: {}\n", e.what());
    return 1;
  }
}

}  // namespace sprocket::cli
