#pragma once
// The authenticated admin HTTP API (docs/admin-api.md): secrets, logs (query and follow),
// functions, deployments, workflow action executions, health and Prometheus metrics.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "accounts/deployment.h"
#include "actions/action_runner.h"
#include "http/gateway.h"
#include "http/request_handler.h"
#include "deploy/deploy_service.h"
#include "metrics/metrics.h"
#include "secrets/secrets_service.h"
#include "store/store_executor.h"

namespace sprocket::admin {

struct AdminServices {
  accounts::Deployment& deployment;
  http::Gateway& gateway;  // what is served now
  secrets::SecretsService& secrets;
  store::StoreExecutor& store;
  metrics::Metrics& metrics;
  deploy::DeployService& deployments;
  actions::ActionRunner& actions;
  // Runs `then` once every execution record answered so far is with the store (the LogSink
  // hands them over from its own thread), so that a logs query sees them.
  std::function<void(std::function<void()> then)> after_executions_stored;
  // Why workers run without a sandbox (said by /readyz), or nullopt when they are sandboxed.
  std::optional<std::string> unsandboxed_reason;
  // The execution budget's backend: /readyz says when it is degraded (the node still serves).
  std::function<accounts::BudgetHealth()> budget_health;
};

class AdminApi final : public http::RequestHandler {
 public:
  AdminApi(boost::asio::io_context& io, AdminServices services, std::string token);
  void handle(http::Request request, std::string remote_address, Respond respond) override;
  std::optional<Stream> stream(const http::Request& request) override;
  void stop() { *stopping_ = true; }
  // Reads the scoped tokens from the store: at start-up, and whenever the store's ChangeFeed
  // says it changed (`sprocket tokens create` writes there, from another process or node).
  void reload_tokens();

 private:
  // Who is calling: every account (the node's token), or one (a scoped token).
  struct Caller {
    std::optional<std::int64_t> account;
  };
  std::optional<Caller> authorize(const http::Request& request) const;
  std::optional<std::int64_t> account_param(const http::ParamMap& params, const Caller& caller, std::string& error) const;
  // account_param, answering the request with the reason when there is no account.
  std::optional<std::int64_t> account_or_refuse(const http::ParamMap& params, const Caller& caller, Respond& respond) const;
  // The logs follow stream: new execution records as server-sent events until the client goes.
  boost::asio::awaitable<void> follow_logs(boost::beast::tcp_stream& tcp, store::ExecutionQuery query, std::shared_ptr<bool> stopping);
  boost::asio::awaitable<std::vector<store::ExecutionRecord>> find_executions(store::ExecutionQuery query);
  void handle_secrets(http::Request& request, std::string_view rest, const http::ParamMap& params, const Caller& caller,
                      Respond& respond);
  void handle_logs(const http::ParamMap& params, const Caller& caller, Respond& respond);
  void handle_deployments(http::Request& request, std::string_view rest, const http::ParamMap& params, const Caller& caller,
                          Respond& respond);
  void handle_actions(http::Request& request, std::string_view rest, const http::ParamMap& params, const Caller& caller,
                      Respond& respond);
  http::Response functions(const Caller& caller) const;
  // Runs `query` on the store thread and answers 200 with what it returns, 404 `missing` when
  // that is null, or 500 saying `what` could not be read.
  void answer_from_store(std::function<boost::json::value(store::Store&)> query, std::string what, std::string missing,
                         Respond respond);

  boost::asio::io_context& io_;
  AdminServices services_;
  std::string token_;
  std::shared_ptr<bool> stopping_ = std::make_shared<bool>(false);
  std::map<std::string, std::int64_t> scoped_tokens_;  // token hash -> account id
};

}  // namespace sprocket::admin
