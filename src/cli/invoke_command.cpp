#include "cli/invoke_command.h"

#include <fcntl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <optional>
#include <sstream>

#include "accounts/deployment.h"
#include "cli/admin_client.h"
#include "cli/dependency_progress.h"
#include "cli/network_errors.h"
#include "cli/served_accounts.h"
#include "cli/worker_settings.h"
#include "config/catalog.h"
#include "http/gateway.h"
#include "http/generation.h"
#include "logs/execution_format.h"
#include "logs/log_format.h"
#include "logs/log_sink.h"
#include "util/unique_fd.h"

namespace sprocket::cli {
namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr int kAnswered = 0, kFailed = 1, kNotRun = 2;

// What is sent, whichever way it is sent.
struct Outgoing {
  std::string method;
  std::string path;   // without the query
  std::string query;  // url-encoded, without '?'
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  std::string target() const { return query.empty() ? path : path + "?" + query; }
};

struct Reply {
  unsigned status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

std::string trim(std::string_view text) {
  auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

Expected<Outgoing, std::string> outgoing(const InvokeOptions& options) {
  Outgoing out;
  if (!options.data.empty() && options.data.front() == '@') {
    std::ifstream in(options.data.substr(1), std::ios::binary);
    if (!in) return Unexpected{fmt::format("--data {}: cannot read {}", options.data, options.data.substr(1))};
    std::stringstream text;
    text << in.rdbuf();
    out.body = text.str();
  } else {
    out.body = options.data;
  }
  out.method = options.method.empty() ? (options.data.empty() ? "GET" : "POST") : upper(options.method);
  if (beast_http::string_to_verb(out.method) == beast_http::verb::unknown) {
    return Unexpected{fmt::format("--method {}: not an HTTP method (GET, POST, PUT, PATCH, DELETE…)", options.method)};
  }
  for (const auto& pair : options.query) {
    auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) return Unexpected{fmt::format("--query {}: write KEY=VALUE (e.g. --query who=ada)", pair)};
    if (!out.query.empty()) out.query += '&';
    out.query += url_encode(pair.substr(0, eq)) + "=" + url_encode(pair.substr(eq + 1));
  }
  bool has_type = false;
  for (const auto& header : options.headers) {
    auto colon = header.find(':');
    std::string name = colon == std::string::npos ? std::string() : trim(header.substr(0, colon));
    if (name.empty() || name.find_first_of(" \t") != std::string::npos) {
      return Unexpected{fmt::format("--header {}: write 'Name: value' (e.g. --header 'X-Api-Key: abc')", header)};
    }
    has_type = has_type || upper(name) == "CONTENT-TYPE";
    out.headers.emplace_back(name, trim(header.substr(colon + 1)));
  }
  // A body given on the command line is JSON (the option says so) unless a header says otherwise.
  if (!out.body.empty() && !has_type) out.headers.emplace_back("Content-Type", "application/json");
  return out;
}

template <class Message>
Reply reply_of(const Message& response) {
  Reply reply{response.result_int(), std::string(response.reason()), {}, response.body()};
  for (const auto& field : response) reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  return reply;
}

void print_reply(const Reply& reply) {
  std::string text = fmt::format("HTTP {} {}\n", reply.status, reply.reason);
  for (const auto& [name, value] : reply.headers) text += fmt::format("{}: {}\n", name, value);
  text += "\n" + reply.body;
  if (!reply.body.empty() && reply.body.back() != '\n') text += '\n';
  fmt::print("{}", text);
}

json::object reply_json(const Reply& reply) {
  json::array headers;
  for (const auto& [name, value] : reply.headers) headers.push_back(json::array{json::value(name), json::value(value)});
  return json::object{{"status", reply.status}, {"headers", std::move(headers)}, {"body", reply.body}};
}

int exit_status(const Reply& reply) { return reply.status < 400 ? kAnswered : kFailed; }

// --- a local folder: the gateway and one real worker, in this process ------------------------

// The function `target` names in `account`: an endpoint name, a project's endpoint path, a
// project function's name, or a path as it is served.
Expected<std::string, std::string> resolve_path(const config::Catalog& catalog, std::size_t account, const std::string& target) {
  if (!target.empty() && target.front() == '/') return target.substr(0, target.find('?'));
  std::vector<const config::FunctionSpec*> matches;
  const config::FunctionSpec* app_function = nullptr;
  for (const auto& f : catalog.functions) {
    if (f.account_index != account) continue;
    bool named = f.name == target || (f.format == config::FunctionFormat::Project && f.endpoint == target);
    if (!named) continue;
    if (f.route) matches.push_back(&f);
    else app_function = &f;
  }
  // The same word can be an endpoint and a project path at once: make the user say which.
  std::sort(matches.begin(), matches.end());
  matches.erase(std::unique(matches.begin(), matches.end()), matches.end());
  if (matches.size() == 1) return *matches.front()->route;
  if (matches.size() > 1) {
    std::string routes;
    for (const auto* m : matches) routes += (routes.empty() ? "" : " or ") + *m->route;
    return Unexpected{fmt::format("\"{}\" names more than one function: pass the path instead ({})", target, routes)};
  }
  if (app_function) {
    return Unexpected{fmt::format("{} is an app function without an endpoint (called by a UI extension, not at a URL); "
                                  "give it an \"endpoint\" in {} to invoke it",
                                  target, app_function->serverless_json.string())};
  }
  std::string known;
  for (const auto& f : catalog.functions) {
    if (f.account_index == account && f.route) known += (known.empty() ? "" : ", ") + *f.route;
  }
  return Unexpected{fmt::format("no function named \"{}\" here; the routes are: {} (`sprocket functions list` says more)", target,
                                known.empty() ? "none" : known)};
}

struct LocalRun {
  Reply reply;
  std::optional<store::ExecutionRecord> record;  // none when the gateway answered without running anything
};

int invoke_local(const InvokeOptions& options, const Outgoing& request_parts) {
  auto deployment = load_served_accounts({options.paths, options.config_file, options.account_id}, [&](accounts::AccountLimits& limits) {
    if (options.time_limit_ms > 0) {
      limits.design_manager_time_limit = limits.project_time_limit = std::chrono::milliseconds(options.time_limit_ms);
    }
  });
  if (!deployment) {
    fmt::print(stderr, "{}\nsprocket: nothing was invoked until these errors are fixed\n", deployment.error());
    return kNotRun;
  }
  std::size_t account = 0;
  if (options.account_given && !options.config_file.empty()) {
    auto index = deployment->index_of(options.account_id);
    if (!index) {
      fmt::print(stderr, "sprocket: account {} is not in {}\n", options.account_id, options.config_file);
      return kNotRun;
    }
    account = *index;
  }
  auto catalog = accounts::load_functions(*deployment, {});
  if (!catalog) {
    fmt::print(stderr, "{}\nsprocket: nothing was invoked until these errors are fixed\n", config::format_errors(catalog.error()));
    return kNotRun;
  }
  for (const auto& warning : catalog->warnings) fmt::print(stderr, "{}\n", warning);
  auto path = resolve_path(*catalog, account, options.target);
  if (!path) {
    fmt::print(stderr, "sprocket: {}\n", path.error());
    return kNotRun;
  }
  if (auto installed = install_node_dependencies(*catalog); !installed) {
    fmt::print(stderr, "{}\nsprocket: nothing was invoked until the dependencies install\n", installed.error());
    return kNotRun;
  }
  auto workers = make_worker_setup({options.sandbox, "cgroup", options.node});
  if (!workers) {
    fmt::print(stderr, "sprocket: {}\n", workers.error());
    return kNotRun;
  }
  workers->settings.spare_workers = false;  // one request: a spare would be a second process for nothing

  asio::io_context io;
  auto generation = std::make_shared<http::Generation>();
  generation->number = 1;
  generation->catalog = std::move(*catalog);
  for (std::size_t a = 0; a < deployment->accounts.size(); ++a) generation->routers.emplace_back(generation->catalog.functions, a);
  generation->dispatcher = std::make_unique<runtime::Dispatcher>(io, workers->settings, *deployment, generation->catalog,
                                                                 [](std::size_t, std::vector<runtime::LogLine>) {});
  // The gateway prints its records for a node's operator; invoke prints its own from `observe`.
  util::UniqueFd devnull(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  logs::LogSink sink(io, devnull.get());
  LocalRun run;
  http::ExecutionSinks sinks;
  sinks.observe = [&run](const store::ExecutionRecord& record) { run.record = record; };
  http::Gateway gateway(*deployment, generation, sink, http::GatewaySettings{}, std::move(sinks));

  Outgoing sent = request_parts;
  sent.path = *path;
  http::Request request{beast_http::string_to_verb(sent.method), sent.target(), 11};
  const auto& chosen = deployment->accounts[account];
  request.set(beast_http::field::host, chosen.domains.empty() ? std::string("localhost") : chosen.domains.front());
  request.set(beast_http::field::user_agent, "sprocket-invoke");
  for (const auto& [name, value] : request_parts.headers) request.set(name, value);
  request.body() = request_parts.body;
  request.prepare_payload();
  std::optional<http::Response> answer;
  // The dispatcher keeps timers (idle instances) on the loop: the answer ends the run.
  gateway.handle(std::move(request), "127.0.0.1", [&](http::Response response) {
    answer = std::move(response);
    generation->dispatcher->shutdown();
    io.stop();
  });
  if (!answer) io.run();
  sink.flush();
  if (!answer) {
    fmt::print(stderr, "sprocket: the function gave no answer\n");
    return kFailed;
  }
  run.reply = reply_of(*answer);
  if (options.json) {
    json::object out = reply_json(run.reply);
    out["path"] = *path;
    if (run.record) {
      const auto& r = *run.record;
      json::array lines;
      for (const auto& l : r.lines) {
        lines.push_back(json::object{{"timestamp", logs::iso_timestamp(l.timestamp_ms)}, {"level", l.level}, {"message", l.text}});
      }
      out["execution"] = json::object{{"requestId", r.request_id}, {"status", r.status}, {"function", r.function},
                                      {"executionMs", r.execution_ms}, {"memoryMb", r.memory_mb}, {"coldStart", r.cold_start},
                                      {"error", r.error}};
      out["logs"] = std::move(lines);
    } else {
      out["execution"] = nullptr;
      out["logs"] = json::array{};
    }
    fmt::print("{}\n", json::serialize(out));
  } else {
    // The function's lines as `serve` prints them, on stderr: stdout stays the response alone.
    if (run.record) {
      std::string lines;
      for (const auto& line : logs::serve_lines(*run.record)) lines += line + "\n";
      fmt::print(stderr, "{}", lines);
    }
    print_reply(run.reply);
  }
  return exit_status(run.reply);
}

// --- a running node's public listener ------------------------------------------------------------

struct ServerUrl {
  std::string host, port;
};

Expected<ServerUrl, std::string> parse_server(const std::string& url) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  else if (rest.find("://") != std::string::npos) return Unexpected{std::string("--server must be an http:// URL of the node's listener")};
  rest = rest.substr(0, rest.find('/'));
  auto colon = rest.rfind(':');
  ServerUrl s{colon == std::string::npos ? rest : rest.substr(0, colon), colon == std::string::npos ? "80" : rest.substr(colon + 1)};
  if (s.host.empty()) return Unexpected{fmt::format("--server {}: names no host", url)};
  return s;
}

Expected<Reply, std::string> send(const ServerUrl& server, const Outgoing& out, const std::string& path) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  std::string url = fmt::format("http://{}:{}/", server.host, server.port);
  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(io);
  auto addresses = resolver.resolve(server.host, server.port, ec);
  if (!ec) stream.connect(addresses, ec);
  if (ec) return Unexpected{cannot_connect_message(url, ec)};
  beast_http::request<beast_http::string_body> req{beast_http::string_to_verb(out.method), out.query.empty() ? path : path + "?" + out.query, 11};
  req.set(beast_http::field::host, server.host + ":" + server.port);
  req.set(beast_http::field::user_agent, "sprocket-invoke");
  for (const auto& [name, value] : out.headers) req.set(name, value);
  req.body() = out.body;
  req.prepare_payload();
  stream.expires_after(std::chrono::minutes(2));  // longer than any function's time limit
  beast_http::write(stream, req, ec);
  beast::flat_buffer buffer;
  beast_http::response_parser<beast_http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (!ec) beast_http::read(stream, buffer, parser, ec);
  if (ec) return Unexpected{fmt::format("the connection to {} failed before the answer was complete: {}", url, plain_reason(ec))};
  return reply_of(parser.get());
}

// The gateway's own "nothing is served here" (no function ran), as opposed to a function's 404.
bool not_routed(const Reply& reply) {
  if (reply.status != 404) return false;
  boost::system::error_code ec;
  auto v = json::parse(reply.body, ec);
  if (ec || !v.is_object()) return false;
  const auto* category = v.get_object().if_contains("category");
  return category && category->is_string() && category->get_string() == "NOT_FOUND";
}

int invoke_remote(const InvokeOptions& options, const Outgoing& out) {
  if (options.account_given) {
    fmt::print(stderr, "sprocket: --account does not apply with --server: the node picks the account by the Host header "
                       "(pass --header 'Host: DOMAIN')\n");
    return kNotRun;
  }
  auto server = parse_server(options.server);
  if (!server) {
    fmt::print(stderr, "sprocket: {}\n", server.error());
    return kNotRun;
  }
  // A bare word is an endpoint name or a project path: the node says which by serving it.
  std::vector<std::string> candidates;
  if (!options.target.empty() && options.target.front() == '/') candidates = {options.target.substr(0, options.target.find('?'))};
  else candidates = {"/_hcms/api/" + options.target, "/hs/serverless/" + options.target};
  std::optional<Reply> reply;
  std::string path;
  for (const auto& candidate : candidates) {
    auto answered = send(*server, out, candidate);
    if (!answered) {
      fmt::print(stderr, "sprocket: {}\n", answered.error());
      return kNotRun;
    }
    reply = std::move(*answered);
    path = candidate;
    if (!not_routed(*reply)) break;
  }
  if (options.json) {
    json::object doc = reply_json(*reply);
    doc["path"] = path;
    fmt::print("{}\n", json::serialize(doc));
  } else {
    print_reply(*reply);
  }
  if (not_routed(*reply) && candidates.size() > 1) {
    fmt::print(stderr, "sprocket: {} serves neither {} nor {}\n", options.server, candidates[0], candidates[1]);
  }
  return exit_status(*reply);
}

}  // namespace

int run_invoke(const InvokeOptions& options) {
  auto out = outgoing(options);
  if (!out) {
    fmt::print(stderr, "sprocket: {}\n", out.error());
    return kNotRun;
  }
  if (options.target.empty()) {
    fmt::print(stderr, "sprocket: invoke needs a function: an endpoint name, a project path, or /_hcms/api/NAME\n");
    return kNotRun;
  }
  return options.server.empty() ? invoke_local(options, *out) : invoke_remote(options, *out);
}

}  // namespace sprocket::cli
