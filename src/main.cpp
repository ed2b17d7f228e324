// sprocket: serves HubSpot serverless functions. This file only wires the modules together.
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <set>
#include <unistd.h>

#include "accounts/deployment.h"
#include "accounts/server_config.h"
#include "config/catalog.h"
#include "http/gateway.h"
#include "http/server.h"
#include "logs/log_sink.h"
#include "runtime/dependencies.h"
#include "runtime/dispatcher.h"

namespace fs = std::filesystem;
namespace asio = boost::asio;
using namespace sprocket;

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

struct ServeOptions {
  std::vector<std::string> paths;
  std::string config_file;
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = ".sprocket";
  std::int64_t account_id = 123456;
  int max_instances = 0;       // 0: the configured limit (default 8)
  double idle_timeout_seconds = 300;
  int time_limit_ms = 0;       // 0: the configured limits (HubSpot: 10 s design manager, 15 s projects)
  bool trust_proxy = false;
  std::string memory_enforcement = "cgroup";
  std::string node = "/usr/bin/node";
};

int serve(const ServeOptions& options) {
  accounts::ServerConfig server_config;
  if (!options.config_file.empty()) {
    auto loaded = accounts::load_server_config(options.config_file);
    if (!loaded) {
      fmt::print(stderr, "{}\nsprocket: nothing is served until these errors are fixed\n", config::format_errors(loaded.error()));
      return 2;
    }
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
  if (!deployment) {
    fmt::print(stderr, "{}\n", config::format_errors(deployment.error()));
    fmt::print(stderr, "sprocket: nothing is served until these errors are fixed\n");
    return 2;
  }
  if (deployment->catalog.functions.empty()) {
    fmt::print(stderr, "sprocket: nothing to serve: pass a functions folder or project, or list \"paths\" for an account in --config\n");
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
  if (!listen) {
    fmt::print(stderr, "sprocket: --listen: {}\n", listen.error());
    return 2;
  }
  std::error_code ec;
  fs::create_directories(options.data_dir, ec);
  if (ec) {
    fmt::print(stderr, "sprocket: cannot create the data directory {}: {}\n", options.data_dir, ec.message());
    return 2;
  }

  runtime::RuntimeSettings runtime_settings;
  runtime_settings.node_executable = options.node;
  runtime_settings.node_guest_dir = find_node_guest_dir();
  runtime_settings.idle_timeout = std::chrono::milliseconds(static_cast<long>(options.idle_timeout_seconds * 1000));
  runtime_settings.use_cgroups = options.memory_enforcement == "cgroup";
  if (!fs::is_regular_file(runtime_settings.node_executable)) {
    fmt::print(stderr, "sprocket: Node.js not found at {}; install it (scripts/setup) or pass --node PATH\n", options.node);
    return 2;
  }

  asio::io_context io(1);
  logs::LogSink log(io, STDERR_FILENO);
  http::Gateway* gateway_ptr = nullptr;
  runtime::Dispatcher dispatcher(io, runtime_settings, *deployment, [&](std::size_t index, std::vector<runtime::LogLine> lines) {
    if (gateway_ptr) gateway_ptr->log_stray_lines(index, lines);
  });
  http::Gateway gateway(*deployment, dispatcher, log, http::GatewaySettings{options.trust_proxy});
  gateway_ptr = &gateway;

  std::optional<http::HttpServer> server;
  try {
    server.emplace(io, gateway, http::ServerSettings{listen->first, listen->second});
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: cannot listen on {}: {}\n", options.listen, e.what());
    return 2;
  }
  server->start();
  for (const auto& spec : deployment->catalog.functions) {
    std::string account = deployment->accounts.size() > 1 ? fmt::format("[{}] ", deployment->accounts[spec.account_index].id) : "";
    if (spec.route) {
      fmt::print(stderr, "  {}{:<18} {}  ->  {}\n", account, fmt::format("{}", fmt::join(spec.methods, ",")), *spec.route, spec.file.string());
    } else {
      fmt::print(stderr, "  {}{:<18} {}  ->  {}\n", account, "app function", spec.name, spec.file.string());
    }
  }
  fmt::print(stderr, "sprocket: {}\n", dispatcher.memory_enforcement());
  auto endpoint = server->local_endpoint();
  std::string host = endpoint.address().is_v6() ? "[" + endpoint.address().to_string() + "]" : endpoint.address().to_string();
  fmt::print(stderr, "sprocket listening on http://{}:{}\n", host, endpoint.port());
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
      log.flush();
      io.stop();
    };
    server->drain(stop);
    drain_deadline.expires_after(longest_time_limit + std::chrono::seconds(1));
    drain_deadline.async_wait([&, stop](boost::system::error_code ec) {
      if (!ec) stop();
    });
  });
  io.run();
  log.flush();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sprocket: run HubSpot serverless functions on your own machines"};
  app.require_subcommand(1);
  ServeOptions serve_options;
  auto* serve_command = app.add_subcommand("serve", "Serve *.functions folders and developer projects over HTTP");
  serve_command->add_option("paths", serve_options.paths,
                            "A *.functions folder, a developer project (hsproject.json), or a folder holding several (default: .)");
  serve_command->add_option("--config", serve_options.config_file,
                            "A JSON file with accounts, their domains and limits (docs/configuration.md)");
  serve_command->add_option("--listen", serve_options.listen, "HOST:PORT to serve on; port 0 picks a free one")
      ->capture_default_str();
  serve_command->add_option("--data-dir", serve_options.data_dir, "Where sprocket keeps its state")->capture_default_str();
  serve_command->add_option("--account-id", serve_options.account_id, "The HubSpot account id functions see")->capture_default_str();
  serve_command->add_option("--max-instances", serve_options.max_instances,
                            "Most instances per function, for every account (default: the configured limit, 8)");
  serve_command->add_option("--idle-timeout", serve_options.idle_timeout_seconds, "Seconds an idle instance is kept warm")
      ->capture_default_str();
  serve_command->add_option("--time-limit-ms", serve_options.time_limit_ms,
                            "Execution time limit for every function (default: HubSpot's 10 s design manager, 15 s projects)");
  serve_command->add_flag("--trust-proxy", serve_options.trust_proxy,
                          "Take the client address from True-Client-IP / X-Forwarded-For (only behind your own proxy)");
  serve_command->add_option("--memory-enforcement", serve_options.memory_enforcement,
                            "cgroup (the kernel, where a memory cgroup can be made; else RSS polling) or rss")
      ->check(CLI::IsMember({"cgroup", "rss"}))
      ->capture_default_str();
  serve_command->add_option("--node", serve_options.node, "The Node.js executable")->capture_default_str();
  int exit_code = 0;
  serve_command->callback([&] { exit_code = serve(serve_options); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
