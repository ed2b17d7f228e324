#include "cli/serve_command.h"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <set>

#include "accounts/deployment.h"
#include "accounts/server_config.h"
#include "admin/admin_api.h"
#include "admin/admin_token.h"
#include "config/catalog.h"
#include "http/gateway.h"
#include "http/server.h"
#include "logs/log_sink.h"
#include "metrics/metrics.h"
#include "runtime/dependencies.h"
#include "runtime/dispatcher.h"
#include "secrets/secrets_service.h"
#include "store/store_executor.h"
#include "util/duration.h"

namespace sprocket::cli {
namespace fs = std::filesystem;
namespace asio = boost::asio;

namespace {

// guest/node beside the binary's build folder (build/sprocket -> guest/node), or where the
// sources were when it was built; SPROCKET_GUEST_DIR overrides both.
fs::path find_node_guest_dir() {
  if (const char* overridden = std::getenv("SPROCKET_GUEST_DIR")) return fs::path(overridden) / "node";
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& candidate : {exe.parent_path().parent_path() / "guest" / "node", exe.parent_path() / "guest" / "node",
                                    fs::path(SPROCKET_SOURCE_DIR) / "guest" / "node"}) {
    if (fs::is_regular_file(candidate / "bootstrap.js", ec)) return candidate;
  }
  return fs::path(SPROCKET_SOURCE_DIR) / "guest" / "node";
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Expected<accounts::Deployment, std::string> load(const ServeOptions& options) {
  accounts::ServerConfig server_config;
  if (!options.config_file.empty()) {
    auto loaded = accounts::load_server_config(options.config_file);
    if (!loaded) return Unexpected{config::format_errors(loaded.error())};
    server_config = std::move(*loaded);
  }
  // Command-line limits apply to every account: they are for quick local runs and tests.
  auto apply_overrides = [&](accounts::AccountLimits& limits) {
    if (options.time_limit_ms > 0) {
      limits.design_manager_time_limit = limits.project_time_limit = std::chrono::milliseconds(options.time_limit_ms);
    }
    if (options.max_instances > 0) limits.max_instances_per_function = options.max_instances;
  };
  apply_overrides(server_config.default_limits);
  for (auto& account : server_config.accounts) apply_overrides(account.limits);
  std::vector<fs::path> paths(options.paths.begin(), options.paths.end());
  if (paths.empty() && options.config_file.empty()) paths.push_back(".");
  auto deployment = accounts::load_deployment(server_config, options.account_id, paths);
  if (!deployment) return Unexpected{config::format_errors(deployment.error())};
  if (deployment->catalog.functions.empty()) {
    return Unexpected{std::string("nothing to serve: pass a functions folder or project, or list \"paths\" for an account in --config")};
  }
  return std::move(*deployment);
}

}  // namespace

int run_serve(const ServeOptions& options) {
  auto deployment = load(options);
  if (!deployment) {
    fmt::print(stderr, "{}\nsprocket: nothing is served until these errors are fixed\n", deployment.error());
    return 2;
  }
  for (const auto& warning : deployment->catalog.warnings) fmt::print(stderr, "{}\n", warning);
  std::set<fs::path> folders;
  for (const auto& spec : deployment->catalog.functions) folders.insert(spec.folder);
  for (const auto& folder : folders) {
    auto installed = runtime::install_dependencies(folder);
    if (!installed) {
      fmt::print(stderr, "{}\nsprocket: nothing is served until the dependencies install\n", installed.error());
      return 2;
    }
    if (installed->installed) fmt::print(stderr, "sprocket: installed the dependencies of {}\n", folder.string());
  }
  auto listen = http::parse_listen_address(options.listen);
  auto admin_listen = http::parse_listen_address(options.admin_listen);
  if (!listen || !admin_listen) {
    fmt::print(stderr, "sprocket: {}: {}\n", listen ? "--admin-listen" : "--listen", listen ? admin_listen.error() : listen.error());
    return 2;
  }
  auto retention = util::parse_duration(options.log_retention);
  if (!retention || retention->count() <= 0) {
    fmt::print(stderr, "sprocket: --log-retention must be a duration such as 90d, 12h or 30s\n");
    return 2;
  }
  fs::path data_dir = options.data_dir;
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) {
    fmt::print(stderr, "sprocket: cannot create the data directory {}: {}\n", data_dir.string(), ec.message());
    return 2;
  }
  fs::permissions(data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);

  runtime::RuntimeSettings runtime_settings;
  runtime_settings.node_executable = options.node;
  runtime_settings.node_guest_dir = find_node_guest_dir();
  runtime_settings.idle_timeout = std::chrono::milliseconds(static_cast<long>(options.idle_timeout_seconds * 1000));
  runtime_settings.use_cgroups = options.memory_enforcement == "cgroup";
  if (!fs::is_regular_file(runtime_settings.node_executable)) {
    fmt::print(stderr, "sprocket: Node.js not found at {}; install it (scripts/setup) or pass --node PATH\n", options.node);
    return 2;
  }

  std::unique_ptr<store::StoreExecutor> executor;
  std::optional<secrets::SecretBox> box;
  admin::AdminToken token;
  try {
    executor = std::make_unique<store::StoreExecutor>(store::open_sqlite_store(data_dir / "sprocket.db"));
    box = secrets::SecretBox::open_or_create(data_dir / "secret.key");
    token = admin::load_or_create_token(data_dir / "admin.token");
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: {}\n", e.what());
    return 2;
  }

  asio::io_context io(1);
  logs::LogSink log(io, STDERR_FILENO);
  metrics::Metrics metrics;
  http::Gateway* gateway_ptr = nullptr;
  runtime::Dispatcher dispatcher(io, runtime_settings, *deployment, [&](std::size_t index, std::vector<runtime::LogLine> lines) {
    if (gateway_ptr) gateway_ptr->log_stray_lines(index, lines);
  });
  metrics.set_instances_source([&] { return dispatcher.instances(); });
  secrets::SecretsService secrets(io, *executor, std::move(*box), [&](const secrets::SecretValues& values) { dispatcher.set_secrets(values); });
  try {
    secrets.load_now();
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: cannot read secrets: {}\n", e.what());
    return 2;
  }
  secrets.start_watching();
  http::Gateway gateway(*deployment, dispatcher, log, http::GatewaySettings{options.trust_proxy}, http::ExecutionSinks{executor.get(), &metrics});
  gateway_ptr = &gateway;
  admin::AdminApi admin_api(io, admin::AdminServices{*deployment, secrets, *executor, metrics}, token.value);

  std::optional<http::HttpServer> server, admin_server;
  try {
    server.emplace(io, gateway, http::ServerSettings{listen->first, listen->second});
    admin_server.emplace(io, admin_api, http::ServerSettings{admin_listen->first, admin_listen->second});
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: cannot listen on {}: {}\n", server ? options.admin_listen : options.listen, e.what());
    return 2;
  }
  server->start();
  admin_server->start();

  // Logs older than the retention go, at start-up and then regularly.
  asio::steady_timer prune_timer(io);
  std::function<void()> prune = [&] {
    std::int64_t cutoff = now_ms() - retention->count();
    executor->post([cutoff](store::Store& s) { s.prune_executions(cutoff); });
    prune_timer.expires_after(std::clamp(*retention / 2, std::chrono::milliseconds(100), std::chrono::milliseconds(3'600'000)));
    prune_timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) prune();
    });
  };
  prune();

  for (const auto& spec : deployment->catalog.functions) {
    std::string account = deployment->accounts.size() > 1 ? fmt::format("[{}] ", deployment->accounts[spec.account_index].id) : "";
    if (spec.route) {
      fmt::print(stderr, "  {}{:<18} {}  ->  {}\n", account, fmt::format("{}", fmt::join(spec.methods, ",")), *spec.route, spec.file.string());
    } else {
      fmt::print(stderr, "  {}{:<18} {}  ->  {}\n", account, "app function", spec.name, spec.file.string());
    }
  }
  fmt::print(stderr, "sprocket: {}\n", dispatcher.memory_enforcement());
  auto url = [](const asio::ip::tcp::endpoint& e) {
    std::string host = e.address().is_v6() ? "[" + e.address().to_string() + "]" : e.address().to_string();
    return fmt::format("http://{}:{}", host, e.port());
  };
  if (token.created) {
    fmt::print(stderr, "sprocket: a new admin token was created; it is shown once and kept in {}:\n  {}\n",
               (data_dir / "admin.token").string(), token.value);
  }
  fmt::print(stderr, "sprocket admin API on {}\n", url(admin_server->local_endpoint()));
  fmt::print(stderr, "sprocket listening on {}\n", url(server->local_endpoint()));
  std::fflush(stderr);

  // SIGTERM/SIGINT: finish what is in flight (bounded by the longest time limit), then exit 0.
  auto longest_time_limit = std::chrono::milliseconds(0);
  for (const auto& account : deployment->accounts) {
    longest_time_limit = std::max({longest_time_limit, account.limits.design_manager_time_limit, account.limits.project_time_limit});
  }
  asio::signal_set signals(io, SIGTERM, SIGINT);
  asio::steady_timer drain_deadline(io);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    log.flush();
    auto stop = [&] {
      dispatcher.shutdown();
      secrets.stop();
      admin_api.stop();
      prune_timer.cancel();
      log.flush();
      io.stop();
    };
    server->drain(stop);
    admin_server->drain([] {});
    drain_deadline.expires_after(longest_time_limit + std::chrono::seconds(1));
    drain_deadline.async_wait([&, stop](boost::system::error_code ec) {
      if (!ec) stop();
    });
  });
  io.run();
  executor->flush();  // every accepted execution record reaches the store before exit
  log.flush();
  return 0;
}

}  // namespace sprocket::cli
