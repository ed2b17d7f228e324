#include "admin/admin_api.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <fmt/format.h>

#include "actions/execution_json.h"
#include "admin/admin_token.h"
#include "http/gateway.h"
#include "logs/execution_format.h"
#include "logs/log_format.h"
#include "util/duration.h"
#include "util/clock.h"

namespace sprocket::admin {
namespace asio = boost::asio;
namespace json = boost::json;
namespace beast_http = boost::beast::http;
using http::error_response;
using http::Response;

namespace {

constexpr std::string_view kSecretsPrefix = "/api/v1/secrets";
constexpr std::string_view kLogsPath = "/api/v1/logs";
constexpr std::string_view kDeploymentsPrefix = "/api/v1/deployments";
constexpr std::string_view kActionsPrefix = "/api/v1/actions";
constexpr std::string_view kFollowPath = "/api/v1/logs/follow";
constexpr std::string_view kTokensPath = "/api/v1/tokens";

Response json_reply(unsigned status, const json::value& body) {
  Response r{static_cast<beast_http::status>(status), 11};
  r.set(beast_http::field::content_type, "application/json; charset=utf-8");
  r.body() = json::serialize(body);
  return r;
}

std::string first(const http::ParamMap& params, std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name && !v.empty()) return v.front();
  }
  return {};
}

// The filters shared by the query and the follow endpoints.
std::optional<store::ExecutionQuery> log_query(const http::ParamMap& params, std::optional<std::int64_t> account, std::string& error) {
  store::ExecutionQuery q;
  q.account_id = account;
  if (auto f = first(params, "function"); !f.empty()) q.function = f;
  if (auto id = first(params, "requestId"); !id.empty()) q.request_id = id;
  if (auto since = first(params, "since"); !since.empty()) {
    auto d = util::parse_duration(since);
    if (!d) {
      error = "since must be a duration such as 30s, 10m, 2h or 7d";
      return std::nullopt;
    }
    q.since_ms = util::unix_now_ms() - d->count();
  }
  if (auto limit = first(params, "limit"); !limit.empty()) {
    try {
      q.limit = static_cast<std::size_t>(std::clamp(std::stoll(limit), 1LL, 10000LL));
    } catch (...) {
      error = "limit must be a number from 1 to 10000";
      return std::nullopt;
    }
  }
  if (auto after = first(params, "after"); !after.empty()) {
    try {
      q.after_id = std::stoll(after);
    } catch (...) {
      error = "after must be an execution id";
      return std::nullopt;
    }
  }
  return q;
}

}  // namespace

AdminApi::AdminApi(asio::io_context& io, AdminServices services, std::string token)
    : io_(io), services_(services), token_(std::move(token)) {}

void AdminApi::reload_tokens() {
  services_.store.post([this, stopping = stopping_](store::Store& s) {
    auto tokens = s.admin_tokens();
    asio::post(io_, [this, stopping, tokens = std::move(tokens)] {
      if (*stopping) return;
      scoped_tokens_.clear();
      for (const auto& t : tokens) scoped_tokens_[t.token_hash] = t.account_id;
    });
  });
}

std::optional<AdminApi::Caller> AdminApi::authorize(const http::Request& request) const {
  auto it = request.find(beast_http::field::authorization);
  if (it == request.end()) return std::nullopt;
  std::string_view value = it->value();
  constexpr std::string_view kBearer = "Bearer ";
  if (value.substr(0, kBearer.size()) != kBearer) return std::nullopt;
  std::string_view presented = value.substr(kBearer.size());
  if (token_matches(token_, presented)) return Caller{};
  // A scoped token is looked up by its hash: comparing hashes leaks nothing about the token.
  if (auto scoped = scoped_tokens_.find(token_hash(presented)); scoped != scoped_tokens_.end()) return Caller{scoped->second};
  return std::nullopt;
}

std::optional<std::int64_t> AdminApi::account_param(const http::ParamMap& params, const Caller& caller, std::string& error) const {
  std::string text = first(params, "account");
  if (caller.account) {
    if (!text.empty() && text != std::to_string(*caller.account)) {
      error = fmt::format("this token is for account {} only", *caller.account);
      return std::nullopt;
    }
    return caller.account;
  }
  if (text.empty()) return services_.deployment.accounts.front().id;
  try {
    std::int64_t id = std::stoll(text);
    for (const auto& a : services_.deployment.accounts) {
      if (a.id == id) return id;
    }
    error = fmt::format("account {} is not served here", id);
  } catch (...) {
    error = "account must be an account id";
  }
  return std::nullopt;
}

std::optional<std::int64_t> AdminApi::account_or_refuse(const http::ParamMap& params, const Caller& caller, Respond& respond) const {
  std::string error;
  auto account = account_param(params, caller, error);
  // A scoped token asking for another account is forbidden; anything else is a bad request.
  if (!account) respond(error_response(caller.account ? 403 : 400, "INVALID_REQUEST", error, ""));
  return account;
}

void AdminApi::handle(http::Request request, std::string remote_address, Respond respond) {
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  http::ParamMap params;
  if (auto q = target.find('?'); q != std::string_view::npos) http::parse_urlencoded_into(params, target.substr(q + 1));
  auto method = request.method();
  const std::string request_id;

  // Health answers load balancers without a token.
  if (path == "/healthz") return respond(json_reply(200, json::object{{"status", "ok"}}));
  if (path == "/readyz") {
    json::object ready{{"status", "ready"}, {"sandbox", services_.unsandboxed_reason ? "off" : "on"}};
    if (services_.unsandboxed_reason) {
      ready["warning"] = "workers are not sandboxed (" + *services_.unsandboxed_reason + "): functions can read this node's data";
    }
    // A degraded budget is still ready: the node serves, enforcing its share of each budget
    // alone (docs/scale-out.md); taking it out of a load balancer would only move its load.
    if (services_.budget_health) {
      auto budget = services_.budget_health();
      json::object b{{"backend", budget.backend}, {"state", budget.degraded ? "degraded" : "ok"}};
      if (budget.degraded) b["reason"] = budget.reason;
      ready["budget"] = std::move(b);
      if (budget.degraded) ready["degraded"] = json::array{"budget"};
    }
    return respond(json_reply(200, ready));
  }
  auto caller = authorize(request);
  if (!caller) {
    auto r = error_response(401, "UNAUTHORIZED", "Send the admin token as \"Authorization: Bearer TOKEN\" (it is in DATA_DIR/admin.token)", "");
    r.set(beast_http::field::www_authenticate, "Bearer");
    return respond(std::move(r));
  }
  if (path == "/metrics" && method == beast_http::verb::get) {
    if (caller->account) return respond(error_response(403, "FORBIDDEN", "metrics cover every account: use the node's admin token", ""));
    Response r{beast_http::status::ok, 11};
    r.set(beast_http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    r.body() = services_.metrics.render();
    return respond(std::move(r));
  }
  if (path == "/api/v1/whoami" && method == beast_http::verb::get) {
    // What this token may reach: `sprocket login` keeps a scoped token's account as the default.
    json::array reachable;
    for (const auto& a : services_.deployment.accounts) {
      if (!caller->account || a.id == *caller->account) reachable.emplace_back(a.id);
    }
    return respond(json_reply(200, json::object{{"scope", caller->account ? "account" : "node"},
                                                {"account", caller->account ? json::value(*caller->account) : json::value(nullptr)},
                                                {"accounts", std::move(reachable)}}));
  }
  if (path.substr(0, kTokensPath.size()) == kTokensPath) {
    // Scoped tokens are made for any account: only the node's own token may see or end them.
    if (caller->account) return respond(error_response(403, "FORBIDDEN", "tokens cover every account: use the node's admin token", ""));
    std::string_view rest = path.substr(kTokensPath.size());
    if (rest.empty() && method == beast_http::verb::get) {
      return answer_from_store([](store::Store& s) {
        json::array listed;
        for (const auto& t : s.admin_tokens()) {
          listed.push_back(json::object{{"id", token_id(t.token_hash)}, {"account", t.account_id}, {"createdAt", logs::iso_timestamp(t.created_ms)}});
        }
        return json::value(json::object{{"tokens", std::move(listed)}});
      }, "the tokens", "", respond);
    }
    if (rest.size() > 1 && rest.front() == '/' && method == beast_http::verb::delete_) {
      std::string id(rest.substr(1));
      // The change feed reports other connections' writes, not this node's own: the revoked
      // hash leaves the map here, before the answer, so the token is refused from now on.
      auto revoked_hash = std::make_shared<std::string>();
      Respond forget = [this, revoked_hash, respond](http::Response r) {
        if (!revoked_hash->empty()) scoped_tokens_.erase(*revoked_hash);
        respond(std::move(r));
      };
      return answer_from_store([id, revoked_hash](store::Store& s) {
        for (const auto& t : s.admin_tokens()) {
          if (token_id(t.token_hash) != id || !s.remove_admin_token(t.token_hash)) continue;
          *revoked_hash = t.token_hash;
          return json::value(json::object{{"revoked", id}, {"account", t.account_id}});
        }
        return json::value(nullptr);
      }, "the tokens", fmt::format("no admin token has the id {}; nothing was revoked", id), forget);
    }
    return respond(error_response(405, "METHOD_NOT_ALLOWED", "GET /api/v1/tokens lists them; DELETE /api/v1/tokens/ID revokes one", ""));
  }
  if (path == "/api/v1/functions" && method == beast_http::verb::get) return respond(functions(*caller));
  if (path == kLogsPath && method == beast_http::verb::get) return handle_logs(params, *caller, respond);
  if (path == kFollowPath && method == beast_http::verb::get) {
    // stream() takes every valid follow request: what reaches here has a bad filter to name.
    auto account = account_or_refuse(params, *caller, respond);
    if (!account) return;
    std::string error;
    if (!log_query(params, *account, error)) return respond(error_response(400, "INVALID_REQUEST", error, ""));
    return respond(error_response(500, "INTERNAL", "the log stream could not be started", ""));
  }
  if (path.substr(0, kDeploymentsPrefix.size()) == kDeploymentsPrefix) {
    return handle_deployments(request, path.substr(kDeploymentsPrefix.size()), params, *caller, respond);
  }
  if (path.substr(0, kActionsPrefix.size()) == kActionsPrefix) {
    return handle_actions(request, path.substr(kActionsPrefix.size()), params, *caller, respond);
  }
  if (path.substr(0, kSecretsPrefix.size()) == kSecretsPrefix) {
    return handle_secrets(request, path.substr(kSecretsPrefix.size()), params, *caller, respond);
  }
  respond(error_response(404, "NOT_FOUND", fmt::format("No admin endpoint {} {}; see docs/admin-api.md", request.method_string(), path), ""));
}

Response AdminApi::functions(const Caller& caller) const {
  json::array list;
  const auto& d = services_.deployment;
  auto generation = services_.gateway.current();
  for (const auto& f : generation->catalog.functions) {
    if (caller.account && d.accounts[f.account_index].id != *caller.account) continue;
    json::array methods;
    for (const auto& m : f.methods) methods.emplace_back(m);
    json::array secret_names;
    for (const auto& s : f.secrets) secret_names.emplace_back(s);
    list.push_back(json::object{{"accountId", d.accounts[f.account_index].id},
                                {"name", f.name},
                                {"format", f.format == config::FunctionFormat::DesignManager ? "design-manager" : "project"},
                                {"route", f.route ? json::value(*f.route) : json::value(nullptr)},
                                {"methods", methods},
                                {"file", f.file.string()},
                                {"secrets", secret_names}});
  }
  return json_reply(200, json::object{{"functions", list}});
}

void AdminApi::handle_secrets(http::Request& request, std::string_view rest, const http::ParamMap& params, const Caller& caller,
                              Respond& respond) {
  auto account = account_or_refuse(params, caller, respond);
  if (!account) return;
  auto method = request.method();
  if (rest.empty() || rest == "/") {
    if (method != beast_http::verb::get) return respond(error_response(405, "METHOD_NOT_ALLOWED", "GET lists secrets", ""));
    return services_.secrets.list(*account, [respond](std::optional<std::string> failed, std::vector<secrets::SecretInfo> infos) {
      if (failed) return respond(error_response(500, "STORE_ERROR", "the secrets could not be read: " + *failed, ""));
      json::array list;
      for (const auto& i : infos) {
        list.push_back(json::object{{"name", i.name},
                                    {"createdAt", logs::iso_timestamp(i.created_ms)},
                                    {"updatedAt", logs::iso_timestamp(i.updated_ms)}});
      }
      respond(json_reply(200, json::object{{"secrets", list}}));
    });
  }
  std::string name(rest.substr(1));
  if (auto why = secrets::invalid_secret_name(name)) return respond(error_response(400, "INVALID_SECRET_NAME", *why, ""));
  if (method == beast_http::verb::delete_) {
    return services_.secrets.remove(*account, name, [respond, name](std::optional<std::string> failed, bool existed) {
      if (failed) return respond(error_response(500, "STORE_ERROR", "the secret could not be deleted: " + *failed, ""));
      if (!existed) return respond(error_response(404, "NOT_FOUND", fmt::format("there is no secret {}", name), ""));
      respond(Response{beast_http::status::no_content, 11});
    });
  }
  if (method != beast_http::verb::put && method != beast_http::verb::post) {
    return respond(error_response(405, "METHOD_NOT_ALLOWED", "PUT sets a secret, DELETE removes it", ""));
  }
  boost::system::error_code ec;
  json::value body = json::parse(request.body(), ec);
  const json::value* value = !ec && body.is_object() ? body.get_object().if_contains("value") : nullptr;
  if (!value || !value->is_string()) {
    return respond(error_response(400, "INVALID_REQUEST", "send {\"value\": \"…\"} as JSON", ""));
  }
  const auto& deployment = services_.deployment;
  int max_secrets = deployment.accounts.front().limits.max_secrets;
  for (const auto& a : deployment.accounts) {
    if (a.id == *account) max_secrets = a.limits.max_secrets;
  }
  if (!services_.secrets.exists(*account, name) && services_.secrets.count(*account) >= static_cast<std::size_t>(max_secrets)) {
    return respond(error_response(409, "SECRET_LIMIT_REACHED",
                                  fmt::format("account {} already has {} secrets, the limit; delete one first", *account, max_secrets), ""));
  }
  services_.secrets.put(*account, name, std::string(value->get_string()), [respond, name](std::optional<std::string> failed, bool created) {
    if (failed) return respond(error_response(500, "STORE_ERROR", "the secret could not be stored: " + *failed, ""));
    // The value is never returned, by any endpoint.
    respond(json_reply(created ? 201 : 200, json::object{{"name", name}, {"created", created}}));
  });
}

void AdminApi::handle_deployments(http::Request& request, std::string_view rest, const http::ParamMap& params, const Caller& caller,
                                  Respond& respond) {
  auto account = account_or_refuse(params, caller, respond);
  if (!account) return;
  auto reply = [respond](deploy::DeployOutcome outcome) {
    if (outcome.status >= 400) {
      auto* m = outcome.body.if_contains("message");
      std::string message = m && m->is_string() ? std::string(m->get_string()) : "refused";
      return respond(error_response(outcome.status, "DEPLOYMENT_REFUSED", message, ""));
    }
    respond(json_reply(outcome.status, outcome.body));
  };
  auto method = request.method();
  if ((rest.empty() || rest == "/") && method == beast_http::verb::get) return services_.deployments.versions(*account, reply);
  if ((rest.empty() || rest == "/") && method == beast_http::verb::post) {
    std::string name = first(params, "name");
    if (name.empty()) return respond(error_response(400, "INVALID_REQUEST", "name the deployment: ?name=PROJECT", ""));
    std::string deploy_id = first(params, "deployId");
    bool valid_id = deploy_id.size() <= 64 && std::all_of(deploy_id.begin(), deploy_id.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '-' || c == '_';
    });
    if (!valid_id) {
      return respond(error_response(400, "INVALID_REQUEST", "deployId must be at most 64 letters, digits, '-' or '_'", ""));
    }
    return services_.deployments.deploy(*account, name, first(params, "message"), std::move(request.body()), std::move(deploy_id), reply);
  }
  if (rest == "/rollback" && method == beast_http::verb::post) {
    std::optional<std::int64_t> version;
    if (auto v = first(params, "version"); !v.empty()) {
      try {
        version = std::stoll(v);
      } catch (...) {
        return respond(error_response(400, "INVALID_REQUEST", "version must be a number", ""));
      }
    }
    return services_.deployments.rollback(*account, version, reply);
  }
  respond(error_response(404, "NOT_FOUND", "deployments: GET lists, POST deploys, POST /rollback rolls back", ""));
}

void AdminApi::handle_actions(http::Request& request, std::string_view rest, const http::ParamMap& params, const Caller& caller,
                              Respond& respond) {
  auto account = account_or_refuse(params, caller, respond);
  if (!account) return;
  auto method = request.method();
  constexpr std::string_view kExecutions = "/executions";
  // GET /api/v1/actions: the actions this account has.
  if (rest.empty() || rest == "/") {
    if (method != beast_http::verb::get) return respond(error_response(405, "METHOD_NOT_ALLOWED", "GET lists the actions", ""));
    json::array list;
    auto index = services_.deployment.index_of(*account);
    for (const auto& a : services_.actions.actions()) {
      if (!index || a.account_index != *index) continue;
      json::array inputs, secret_names;
      for (const auto& i : a.input_fields) inputs.emplace_back(i);
      for (const auto& n : a.secrets) secret_names.emplace_back(n);
      list.push_back(json::object{{"name", a.name}, {"language", a.language == config::ActionLanguage::Node ? "node" : "python"},
                                  {"file", a.file.string()}, {"inputFields", inputs}, {"secrets", secret_names},
                                  {"deployedVersion", a.deployed_version}});
    }
    return respond(json_reply(200, json::object{{"actions", list}}));
  }
  // GET /api/v1/actions/executions[/ID]: what was queued, and what became of it.
  if (rest.substr(0, kExecutions.size()) == kExecutions && method == beast_http::verb::get) {
    std::string_view id_text = rest.substr(kExecutions.size());
    auto read = [this, respond](std::function<json::value(store::Store&)> query) {
      answer_from_store(std::move(query), "the executions", "there is no such action execution", respond);
    };
    if (id_text.empty() || id_text == "/") {
      store::ActionExecutionQuery q;
      q.account_id = *account;
      if (auto a = first(params, "action"); !a.empty()) q.action = a;
      if (auto st = first(params, "state"); !st.empty()) q.state = st;
      if (auto limit = first(params, "limit"); !limit.empty()) {
        try {
          q.limit = static_cast<std::size_t>(std::clamp(std::stoll(limit), 1LL, 10000LL));
        } catch (...) {
          return respond(error_response(400, "INVALID_REQUEST", "limit must be a number from 1 to 10000", ""));
        }
      }
      return read([q](store::Store& s) -> json::value {
        json::array list;
        for (const auto& e : s.find_action_executions(q)) list.push_back(actions::execution_to_json(e));
        return json::object{{"executions", list}};
      });
    }
    std::int64_t id = 0;
    try {
      std::size_t used = 0;
      id = std::stoll(std::string(id_text.substr(1)), &used);
      if (used != id_text.size() - 1) throw std::invalid_argument("id");
    } catch (...) {
      return respond(error_response(400, "INVALID_REQUEST", "an execution id is a number: /api/v1/actions/executions/ID", ""));
    }
    std::int64_t owner = *account;
    return read([id, owner](store::Store& s) -> json::value {
      auto found = s.action_execution(id);
      if (!found || found->account_id != owner) return nullptr;
      return actions::execution_to_json(*found);
    });
  }
  // POST /api/v1/actions/NAME/executions: queue an execution with the event in the body.
  if (rest.size() > kExecutions.size() + 1 && rest.substr(rest.size() - kExecutions.size()) == kExecutions) {
    std::string name(rest.substr(1, rest.size() - kExecutions.size() - 1));
    if (method != beast_http::verb::post) return respond(error_response(405, "METHOD_NOT_ALLOWED", "POST queues an execution", ""));
    json::object given;
    if (!request.body().empty()) {
      boost::system::error_code ec;
      json::value body = json::parse(request.body(), ec);
      if (ec || !body.is_object()) {
        return respond(error_response(400, "INVALID_REQUEST", "send the event as a JSON object, e.g. {\"inputFields\": {\"email\": \"a@b.c\"}}", ""));
      }
      given = std::move(body.get_object());
    }
    return services_.actions.enqueue(*account, name, given, [respond](actions::EnqueueOutcome outcome) {
      if (outcome.status >= 400) {
        return respond(error_response(outcome.status, outcome.status == 404 ? "NOT_FOUND" : "INVALID_REQUEST", outcome.message, ""));
      }
      respond(json_reply(202, actions::execution_to_json(outcome.execution)));
    });
  }
  respond(error_response(404, "NOT_FOUND",
                         "actions: GET /api/v1/actions, POST /api/v1/actions/NAME/executions, GET /api/v1/actions/executions[/ID]", ""));
}

void AdminApi::handle_logs(const http::ParamMap& params, const Caller& caller, Respond& respond) {
  auto account = account_or_refuse(params, caller, respond);
  if (!account) return;
  std::string error;
  auto query = log_query(params, *account, error);
  if (!query) return respond(error_response(400, "INVALID_REQUEST", error, ""));
  auto answer = [this, query = *query, respond] {
    answer_from_store(
        [query](store::Store& s) -> json::value {
          json::array list;
          for (const auto& r : s.find_executions(query)) list.push_back(logs::execution_to_json(r));
          return json::object{{"executions", list}};
        },
        "the logs", "", respond);
  };
  // A request answered a moment ago must be in the answer: its record may still be on its way.
  if (services_.after_executions_stored) return services_.after_executions_stored(std::move(answer));
  answer();
}

void AdminApi::answer_from_store(std::function<json::value(store::Store&)> query, std::string what, std::string missing, Respond respond) {
  services_.store.post([this, query = std::move(query), what = std::move(what), missing = std::move(missing), respond](store::Store& s) {
    std::optional<json::value> body;
    std::string failed;
    try {
      body = query(s);
    } catch (const std::exception& e) {
      failed = e.what();
    }
    asio::post(io_, [respond, body = std::move(body), failed, what, missing] {
      if (!failed.empty()) return respond(error_response(500, "STORE_ERROR", fmt::format("{} could not be read: {}", what, failed), ""));
      if (body->is_null()) return respond(error_response(404, "NOT_FOUND", missing, ""));
      respond(json_reply(200, *body));
    });
  });
}

std::optional<http::RequestHandler::Stream> AdminApi::stream(const http::Request& request) {
  std::string_view target = request.target();
  if (target.substr(0, target.find('?')) != kFollowPath || request.method() != beast_http::verb::get) return std::nullopt;
  auto caller = authorize(request);
  if (!caller) return std::nullopt;
  http::ParamMap params;
  if (auto q = target.find('?'); q != std::string_view::npos) http::parse_urlencoded_into(params, target.substr(q + 1));
  std::string error;
  auto account = account_param(params, *caller, error);
  auto query = account ? log_query(params, *account, error) : std::nullopt;
  if (!query) return std::nullopt;  // handle() answers the 400
  if (!query->after_id) query->after_id = 0;
  Stream stream;
  stream.header = Response{beast_http::status::ok, 11};
  stream.header.set(beast_http::field::content_type, "text/event-stream");
  stream.header.set(beast_http::field::cache_control, "no-cache");
  // The body is a member coroutine with its own copies: a coroutine lambda's captures live in
  // the closure, not in the coroutine frame, and temporaries with non-trivial captures inside a
  // co_await expression are destroyed twice by GCC 12 (the crash of `logs --follow`).
  stream.body = [this, query = *query](boost::beast::tcp_stream& tcp) { return follow_logs(tcp, query, stopping_); };
  return stream;
}

asio::awaitable<std::vector<store::ExecutionRecord>> AdminApi::find_executions(store::ExecutionQuery query) {
  // Only trivially destructible captures cross the co_await below (see stream()).
  const store::ExecutionQuery* q = &query;
  store::StoreExecutor* executor = &services_.store;
  asio::io_context* io = &io_;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::vector<store::ExecutionRecord>)>(
      [q, executor, io](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        executor->post([query = *q, shared, io](store::Store& s) {
          std::vector<store::ExecutionRecord> records;
          try {
            records = s.find_executions(query);
          } catch (const std::exception&) {
            // nothing this time; the next poll tries again
          }
          asio::post(*io, [shared, records = std::move(records)]() mutable { (*shared)(std::move(records)); });
        });
      },
      asio::use_awaitable);
}

asio::awaitable<void> AdminApi::follow_logs(boost::beast::tcp_stream& tcp, store::ExecutionQuery query, std::shared_ptr<bool> stopping) {
  // Server-sent events: one "data:" line of JSON per execution, oldest first, as they are stored.
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!*stopping) {
    auto found = co_await find_executions(query);
    std::string events;
    for (const auto& r : found) {
      events += "data: " + json::serialize(logs::execution_to_json(r)) + "\n\n";
      query.after_id = r.id;
    }
    if (events.empty()) events = ": keep-alive\n\n";  // also notices a client that went away
    auto [ec, n] = co_await asio::async_write(tcp, asio::buffer(events), asio::as_tuple(asio::use_awaitable));
    if (ec || *stopping) co_return;
    timer.expires_after(std::chrono::milliseconds(250));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace sprocket::admin
