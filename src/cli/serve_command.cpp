#include "cli/serve_command.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <set>

#include "accounts/budget_backend.h"
#include "accounts/deployment.h"
#include "accounts/redis_budget.h"
#include "accounts/server_config.h"
#include "actions/action_runner.h"
#include "admin/admin_api.h"
#include "admin/admin_token.h"
#include "cli/colour.h"
#include "cli/data_dir.h"
#include "cli/dependency_progress.h"
#include "cli/network_errors.h"
#include "cli/secret_warnings.h"
#include "cli/served_accounts.h"
#include "cli/syntax_check.h"
#include "cli/worker_settings.h"
#include "config/catalog.h"
#include "config/folder_watcher.h"
#include "deploy/archive.h"
#include "deploy/deploy_service.h"
#include "http/connection_limits.h"
#include "http/gateway.h"
#include "http/server.h"
#include "logs/log_sink.h"
#include "metrics/metrics.h"
#include "runtime/dependencies.h"
#include "runtime/dispatcher.h"
#include "runtime/sandbox_launcher.h"
#include "secrets/secrets_service.h"
#include "store/change_feed.h"
#include "store/store_executor.h"
#include "store/store_location.h"
#include "util/byte_size.h"
#include "util/duration.h"
#include "util/clock.h"
#include "util/build_info.h"
#include "util/unique_fd.h"
#include "util/event_loop.h"
#include "util/open_files.h"
#include "util/task_thread.h"

namespace sprocket::cli {
namespace fs = std::filesystem;
namespace asio = boost::asio;

namespace {

Expected<accounts::Deployment, std::string> load_accounts(const ServeOptions& options) {
  // Command-line limits apply to every account: they are for quick local runs and tests.
  return load_served_accounts({options.paths, options.config_file, options.account_id}, [&](accounts::AccountLimits& limits) {
    if (options.time_limit_ms > 0) {
      limits.design_manager_time_limit = limits.project_time_limit = std::chrono::milliseconds(options.time_limit_ms);
    }
    if (options.max_instances > 0) limits.max_instances_per_function = options.max_instances;
  });
}

// The backend --budget names. Its log lines come from its own thread: stderr takes each whole.
Expected<std::unique_ptr<accounts::BudgetBackend>, std::string> make_budget_backend(const ServeOptions& options) {
  if (options.budget == "local") return std::unique_ptr<accounts::BudgetBackend>(std::make_unique<accounts::LocalBudgetBackend>());
  auto where = accounts::parse_redis_location(options.budget);
  if (!where) return Unexpected{where.error()};
  auto password = accounts::redis_password_from_environment();
  if (!password) return Unexpected{password.error()};
  where->password = std::move(*password);
  if (options.budget_prefix.empty()) return Unexpected{std::string("--budget-prefix must not be empty")};
  accounts::RedisBudgetSettings settings;
  settings.where = std::move(*where);
  settings.key_prefix = options.budget_prefix;
  settings.log = [](const std::string& line) {
    fmt::print(stderr, "{}\n", line);
    std::fflush(stderr);
  };
  return std::unique_ptr<accounts::BudgetBackend>(std::make_unique<accounts::RedisBudgetBackend>(std::move(settings)));
}

// Builds generations of what this node serves and swaps them into the gateway.
class Generations {
 public:
  // `more_warnings`: what a catalog deserves to be warned about beyond its own warnings (the
  // secrets it lists that are not set); runs on the event loop.
  using MoreWarnings = std::function<std::vector<std::string>(const config::Catalog&)>;
  Generations(asio::io_context& io, accounts::Deployment& deployment, runtime::RuntimeSettings settings, MoreWarnings more_warnings)
      : io_(io), deployment_(deployment), settings_(std::move(settings)), more_warnings_(std::move(more_warnings)) {}

  // Prints the warnings about `catalog` that were not printed for the previous one: a reload of
  // one folder does not repeat every other folder's warnings.
  void print_new_warnings(const config::Catalog& catalog) {
    std::set<std::string> now(catalog.warnings.begin(), catalog.warnings.end());
    if (more_warnings_) {
      for (auto& w : more_warnings_(catalog)) now.insert(std::move(w));
    }
    std::string text;
    for (const auto& w : now) {
      if (!said_.count(w)) text += w + "\n";
    }
    fmt::print(stderr, "{}", text);
    said_ = std::move(now);
  }

  void attach(http::Gateway& gateway) { gateway_ = &gateway; }
  void attach(actions::ActionRunner& runner) { runner_ = &runner; }
  void set_deployed(std::vector<accounts::DeployedSource> deployed) { deployed_ = std::move(deployed); }

  Expected<std::shared_ptr<http::Generation>, std::string> build(config::Catalog catalog) {
    auto generation = std::make_shared<http::Generation>();
    generation->number = next_++;
    generation->catalog = std::move(catalog);
    for (std::size_t a = 0; a < deployment_.accounts.size(); ++a) generation->routers.emplace_back(generation->catalog.functions, a);
    http::Generation* raw = generation.get();  // the dispatcher dies with its generation
    generation->dispatcher = std::make_unique<runtime::Dispatcher>(
        io_, settings_, deployment_, generation->catalog, [this, raw](std::size_t index, std::vector<runtime::LogLine> lines) {
          if (gateway_) gateway_->log_stray_lines(*raw, index, lines);
        });
    generation->dispatcher->set_secrets(secrets_);
    if (runner_) runner_->set_actions(generation->catalog.actions, generation->catalog.dotenv_by_folder);
    return generation;
  }

  void set_secrets(const secrets::SecretValues& values) {
    secrets_ = values;
    if (gateway_) gateway_->current()->dispatcher->set_secrets(values);
    if (runner_) runner_->set_secrets(values);
  }

  // A deploy or rollback: the complete catalog to serve from now on.
  void activate(config::Catalog catalog, std::vector<accounts::DeployedSource> deployed) {
    deployed_ = std::move(deployed);
    ++deployed_epoch_;
    auto generation = build(std::move(catalog));
    if (gateway_) gateway_->activate(std::move(*generation));
  }

  // A dev-mode change: the folders are read again (and npm runs when a manifest changed) on a
  // thread of its own, never on the event loop; the result is served from the next request.
  // Changes that arrive meanwhile are gathered into one more reload after this one.
  void reload(const std::set<fs::path>& changed) {
    for (const auto& p : changed) {
      if (!written_by_npm(p)) changes_.insert(p);
    }
    if (!reloading_ && !changes_.empty()) start_reload();
  }

  int instances() const { return gateway_ ? gateway_->current()->dispatcher->instances() : 0; }

 private:
  struct Reloaded {
    Expected<config::Catalog, std::string> catalog;
    std::set<fs::path> changed;
    std::uint64_t deployed_epoch;
    std::map<fs::path, fs::file_time_type> npm_locks;  // the package-lock.json files its npm wrote
    std::vector<std::string> syntax_errors;            // node --check's reports on the changed files
  };

  void start_reload() {
    reloading_ = true;
    auto changed = std::exchange(changes_, {});
    reload_thread_.post([this, changed = std::move(changed), deployed = deployed_, epoch = deployed_epoch_]() mutable {
      std::map<fs::path, fs::file_time_type> locks;
      std::vector<std::string> syntax_errors;
      auto catalog = read_folders(deployed, changed, locks, syntax_errors);
      Reloaded done{std::move(catalog), std::move(changed), epoch, std::move(locks), std::move(syntax_errors)};
      asio::post(io_, [this, done = std::move(done)]() mutable { finish_reload(std::move(done)); });
    });
  }

  // On the reload thread: what the folders hold now, with its dependencies installed.
  Expected<config::Catalog, std::string> read_folders(const std::vector<accounts::DeployedSource>& deployed,
                                                      const std::set<fs::path>& changed,
                                                      std::map<fs::path, fs::file_time_type>& npm_locks,
                                                      std::vector<std::string>& syntax_errors) {
    auto catalog = accounts::load_functions(deployment_, deployed);
    if (!catalog) {
      return Unexpected{fmt::format("{}\nsprocket: the previous version keeps serving until these errors are fixed",
                                    config::format_errors(catalog.error()))};
    }
    // A syntax error would otherwise surface only at the next request, as a FUNCTION_LOAD_ERROR.
    // The code is read from the folder itself when an instance starts, so no earlier version of
    // the file can keep serving: say so now, while the file is still open in the editor.
    for (auto& error : syntax_errors_in(settings_.launcher->guest().node, changed)) {
      syntax_errors.push_back(fmt::format("{}\nsprocket: requests that start an instance of a function using this file fail "
                                          "(FUNCTION_LOAD_ERROR) until it is fixed",
                                          error));
    }
    bool manifests_changed = std::any_of(changed.begin(), changed.end(), [](const fs::path& p) {
      auto name = p.filename();
      return name == "package.json" || name == "package-lock.json";
    });
    if (manifests_changed) {
      auto installed = install_node_dependencies(*catalog);
      for (const auto& folder : config::node_code_folders(*catalog)) {
        std::error_code ec;
        auto written = fs::last_write_time(folder / "package-lock.json", ec);
        if (!ec) npm_locks[folder / "package-lock.json"] = written;
      }
      if (!installed) return Unexpected{fmt::format("{}\nsprocket: the previous version keeps serving", installed.error())};
    }
    return std::move(*catalog);
  }

  // npm rewrites package-lock.json as it installs: that write is a reload's own doing, not an
  // edit to reload for once more (and install again). A later edit changes its time.
  bool written_by_npm(const fs::path& p) const {
    if (p.filename() != "package-lock.json") return false;
    std::error_code ec;
    auto it = npm_locks_.find(fs::weakly_canonical(fs::absolute(p), ec));
    return it != npm_locks_.end() && fs::last_write_time(p, ec) == it->second && !ec;
  }

  // "METHODS ROUTE" of every routed function (account id first when there are several).
  std::set<std::string> routes_of(const config::Catalog& catalog) const {
    std::set<std::string> routes;
    for (const auto& f : catalog.functions) {
      std::string account = deployment_.accounts.size() > 1 ? fmt::format("[{}] ", deployment_.accounts[f.account_index].id) : "";
      routes.insert(f.route ? fmt::format("{}{} {}", account, fmt::join(f.methods, ","), *f.route)
                            : fmt::format("{}app function {}", account, f.name));
    }
    return routes;
  }

  // "; routes added: …; removed: …", or nothing when the routes stayed as they were.
  std::string route_changes(const config::Catalog& before, const config::Catalog& after) const {
    auto old_routes = routes_of(before), new_routes = routes_of(after);
    std::vector<std::string> added, removed;
    std::set_difference(new_routes.begin(), new_routes.end(), old_routes.begin(), old_routes.end(), std::back_inserter(added));
    std::set_difference(old_routes.begin(), old_routes.end(), new_routes.begin(), new_routes.end(), std::back_inserter(removed));
    std::string text;
    if (!added.empty()) text += fmt::format("\n  routes added: {}", fmt::join(added, "; "));
    if (!removed.empty()) text += fmt::format("\n  routes removed: {}", fmt::join(removed, "; "));
    return text;
  }

  // When a serverless.json was deleted and what is left cannot be served: the routes it took.
  std::string went_away(const std::set<fs::path>& changed) const {
    std::set<fs::path> files;
    for (const auto& p : changed) {
      std::error_code ec;
      files.insert(fs::weakly_canonical(fs::absolute(p), ec));
    }
    std::map<fs::path, std::vector<std::string>> gone;
    for (const auto& f : gateway_->current()->catalog.functions) {
      std::error_code ec;
      if (files.count(f.serverless_json) && !fs::exists(f.serverless_json, ec)) gone[f.serverless_json].push_back(f.route ? *f.route : f.name);
    }
    std::string text;
    for (const auto& [file, routes] : gone) {
      text += fmt::format("\nsprocket: {} was deleted: {} would no longer be served", file.string(), fmt::join(routes, ", "));
    }
    return text;
  }

  void finish_reload(Reloaded done) {
    reloading_ = false;
    for (const auto& error : done.syntax_errors) fmt::print(stderr, "{}\n", error);
    if (done.deployed_epoch != deployed_epoch_) {
      // A deploy or rollback landed meanwhile: read again, on top of what it serves now.
      changes_.insert(done.changed.begin(), done.changed.end());
    } else if (!done.catalog) {
      fmt::print(stderr, "{}{}\n", done.catalog.error(), went_away(done.changed));
    } else {
      print_new_warnings(*done.catalog);
      std::string routes = route_changes(gateway_->current()->catalog, *done.catalog);
      auto generation = build(std::move(*done.catalog));
      gateway_->activate(std::move(*generation));
      fmt::print(stderr, "sprocket: reloaded ({} changed){}\n",
                 done.changed.size() == 1 ? done.changed.begin()->filename().string() : fmt::format("{} files", done.changed.size()),
                 routes);
    }
    for (auto& [file, written] : done.npm_locks) npm_locks_[file] = written;
    std::erase_if(changes_, [this](const fs::path& p) { return written_by_npm(p); });
    if (!changes_.empty()) start_reload();
  }

  asio::io_context& io_;
  accounts::Deployment& deployment_;
  runtime::RuntimeSettings settings_;
  http::Gateway* gateway_ = nullptr;
  actions::ActionRunner* runner_ = nullptr;
  secrets::SecretValues secrets_;
  std::vector<accounts::DeployedSource> deployed_;
  std::uint64_t deployed_epoch_ = 0;  // counts deploys and rollbacks, which a reload must not undo
  std::uint64_t next_ = 1;
  std::set<fs::path> changes_;  // seen while a reload runs
  bool reloading_ = false;
  MoreWarnings more_warnings_;
  std::set<std::string> said_;  // the warnings printed for the catalog served now
  std::map<fs::path, fs::file_time_type> npm_locks_;  // package-lock.json as the last npm of a reload left it
  util::TaskThread reload_thread_;  // last: joined first
};

}  // namespace

int run_serve(const ServeOptions& options) {
  // Every client connection is a descriptor: take all the kernel allows before anything opens.
  std::size_t open_files = util::raise_open_files_limit();
  // glibc raises its mmap threshold each time a large block is freed, after which 5 MB response
  // bodies come from the heap and stay in the process after their clients leave (111 MB held
  // after 100 slow readers). A fixed threshold keeps large blocks mmapped: freed means returned.
  ::mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  auto deployment = load_accounts(options);
  if (!deployment) {
    fmt::print(stderr, "{}\nsprocket: nothing is served until these errors are fixed\n", deployment.error());
    return 2;
  }
  auto listen = http::parse_listen_address(options.listen);
  auto admin_listen = http::parse_listen_address(options.admin_listen);
  if (!listen || !admin_listen) {
    fmt::print(stderr, "sprocket: {}: {}\n", listen ? "--admin-listen" : "--listen", listen ? admin_listen.error() : listen.error());
    return 2;
  }
  auto held_limit = util::parse_byte_size(options.held_logs_limit);
  if (!held_limit || *held_limit < 1024) {
    fmt::print(stderr, "sprocket: --held-logs-limit must be a size of at least 1KB, such as 64MB or 512KB\n");
    return 2;
  }
  auto retention = util::parse_duration(options.log_retention);
  if (!retention || retention->count() <= 0) {
    fmt::print(stderr, "sprocket: --log-retention must be a duration such as 90d, 12h or 30s\n");
    return 2;
  }
  fs::path data_dir = options.data_dir;
  auto prepared = prepare_data_dir(data_dir);
  if (!prepared) {
    fmt::print(stderr, "sprocket: {}\n", prepared.error());
    return 2;
  }
  for (const auto& note : *prepared) fmt::print(stderr, "sprocket: {}\n", note);
  // One server per data directory: the action queue's "never two attempts of one execution at
  // once" rests on it. The kernel drops the lock when the process dies, however it dies.
  auto lock = DataDirLock::acquire(data_dir, kDataDirLockPatience, [](const std::string& why) {
    fmt::print(stderr, "sprocket: {}\n", why);
    std::fflush(stderr);
  });
  if (!lock) {
    fmt::print(stderr, "sprocket: {}\n", lock.error());
    return 2;
  }

  auto budgets = make_budget_backend(options);
  if (!budgets) {
    fmt::print(stderr, "sprocket: {}\n", budgets.error());
    return 2;
  }
  for (auto& account : deployment->accounts) account.budget = (*budgets)->budget_for(account.id, account.limits);

  auto workers = make_worker_setup({options.sandbox, options.memory_enforcement, options.node});
  if (!workers) {
    fmt::print(stderr, "sprocket: {}\n", workers.error());
    return 2;
  }
  runtime::RuntimeSettings runtime_settings = workers->settings;
  runtime_settings.idle_timeout = std::chrono::milliseconds(static_cast<long>(options.idle_timeout_seconds * 1000));
  const std::optional<std::string> unsandboxed = workers->unsandboxed;  // why workers run without a sandbox, when they do

  auto where = store::parse_store_location(options.store, data_dir);
  if (!where) {
    fmt::print(stderr, "sprocket: {}\n", where.error());
    return 2;
  }
  // Other nodes may serve from the same store: they deploy, roll back and run the action queue too.
  const bool shared_store = where->engine == store::StoreLocation::Engine::Postgresql;
  std::unique_ptr<store::StoreExecutor> executor;
  std::unique_ptr<deploy::DeployService> deployments;
  std::vector<accounts::DeployedSource> deployed;
  std::optional<secrets::SecretBox> box;
  admin::AdminToken token;
  try {
    store::StoreExecutorSettings store_settings;
    store_settings.max_held_bytes = static_cast<std::size_t>(*held_limit);
    executor = std::make_unique<store::StoreExecutor>(store::open_store(*where), store_settings);
    box = secrets::SecretBox::open_or_create(data_dir / "secret.key");
    token = admin::load_or_create_token(data_dir / "admin.token");
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: {}\n", e.what());
    return 2;
  }

  util::EventLoop io(1);
  SetSecrets set_secrets;  // the names each account has set, for the warnings about those it lacks
  Generations* generations_ptr = nullptr;
  actions::ActionRunner* action_runner_ptr = nullptr;
  // What was deployed before a restart serves again, without its source folders.
  deployments = std::make_unique<deploy::DeployService>(
      io, *deployment, *executor, data_dir, shared_store,
      [&](config::Catalog catalog, std::vector<accounts::DeployedSource> sources) {
        if (generations_ptr) generations_ptr->activate(std::move(catalog), std::move(sources));
      },
      [&](const config::Catalog& candidate, std::vector<std::string>& warnings) {
        auto unset = unset_secret_warnings(candidate, *deployment, set_secrets.names());
        warnings.insert(warnings.end(), unset.begin(), unset.end());
        return action_runner_ptr ? action_runner_ptr->secret_budget_problems(candidate) : std::vector<std::string>{};
      });
  if (auto restored = deployments->restore()) {
    deployed = std::move(*restored);
  } else {
    fmt::print(stderr, "sprocket: cannot restore the deployed versions: {}\n", restored.error());
    return 2;
  }
  auto catalog = accounts::load_functions(*deployment, deployed);
  if (!catalog) {
    fmt::print(stderr, "{}\nsprocket: nothing is served until these errors are fixed\n", config::format_errors(catalog.error()));
    return 2;
  }
  if (auto installed = install_node_dependencies(*catalog); !installed) {
    fmt::print(stderr, "{}\nsprocket: nothing is served until the dependencies install\n", installed.error());
    return 2;
  }

  logs::LogSink log(io, STDERR_FILENO, colour_wanted(options.color, STDERR_FILENO));
  metrics::Metrics metrics;
  metrics.set_build_info(std::string(util::build_version()), std::string(util::build_commit()));
  actions::ActionRunnerSettings action_settings;
  action_settings.runtime = runtime_settings;
  action_settings.runtime.spare_workers = false;
  action_settings.clock = actions::RetryClock(options.action_clock_scale);
  action_settings.concurrency = options.action_concurrency;
  action_settings.lease_duration = std::chrono::seconds(options.action_lease_seconds);
  action_settings.shared_queue = shared_store;
  if (options.time_limit_ms > 0) action_settings.time_limit = std::chrono::milliseconds(options.time_limit_ms);
  actions::ActionRunner action_runner(io, *executor, *deployment, action_settings, log, metrics);
  metrics.set_actions_running_source([&] { return action_runner.running(); });
  metrics.set_execution_records_sources([&] { return executor->dropped_records(); }, [&] { return executor->held_records(); });
  action_runner_ptr = &action_runner;
  try {
    if (auto requeued = action_runner.recover_interrupted()) {
      fmt::print(stderr, "sprocket: {} action execution(s) were cut off when the server stopped; they run again\n", requeued);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: cannot read the action queue: {}\n", e.what());
    return 2;
  }
  Generations generations(io, *deployment, runtime_settings,
                          [&](const config::Catalog& c) { return unset_secret_warnings(c, *deployment, set_secrets.names()); });
  generations.attach(action_runner);
  generations.set_deployed(deployed);
  generations_ptr = &generations;
  secrets::SecretsService secrets(io, *executor, std::move(*box), [&](const secrets::SecretValues& values) {
    set_secrets.update(values);
    generations.set_secrets(values);
  });
  // Changes made elsewhere (`sprocket secrets`, `sprocket tokens create`): its baseline is taken
  // before anything is loaded, so nothing committed in between goes unnoticed.
  auto feed = store::make_change_feed(io, *executor, *where);
  store::ChangeFeed& changes = *feed;
  try {
    changes.start();
    secrets.load_now();
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: cannot read secrets: {}\n", e.what());
    return 2;
  }
  changes.subscribe([&secrets] { secrets.reload_changed(); });
  changes.subscribe([&deployments] { deployments->follow_store(); });
  generations.print_new_warnings(*catalog);
  auto first = generations.build(std::move(*catalog));
  http::Gateway gateway(*deployment, std::move(*first), log, http::GatewaySettings{options.trust_proxy},
                        http::ExecutionSinks{executor.get(), &metrics});
  generations.attach(gateway);
  metrics.set_instances_source([&] { return generations.instances(); });
  metrics.set_delayed_starts_source([] { return runtime::delayed_instance_starts().load(); });
  metrics.set_budget_source([&budgets] {
    auto h = (*budgets)->health();
    return metrics::Metrics::BudgetGauges{h.backend, h.degraded, h.live_nodes, h.syncs, h.sync_errors};
  });
  admin::AdminApi admin_api(io, admin::AdminServices{*deployment, gateway, secrets, *executor, metrics, *deployments, action_runner,
                                                       [&log](std::function<void()> then) { log.after_stored(std::move(then)); },
                                                       unsandboxed, [&budgets] { return (*budgets)->health(); }},
                            token.value);
  admin_api.reload_tokens();
  changes.subscribe([&admin_api] { admin_api.reload_tokens(); });
  std::optional<config::FolderWatcher> watcher;
  if (options.watch) {
    std::vector<fs::path> roots;
    for (const auto& account : deployment->accounts) roots.insert(roots.end(), account.paths.begin(), account.paths.end());
    watcher.emplace(io, roots, [&](std::set<fs::path> changed) { generations.reload(changed); });
  }

  std::optional<http::HttpServer> server, admin_server;
  auto caps = http::divide_open_files(open_files, options.max_connections > 0
                                                      ? std::optional<std::size_t>(options.max_connections)
                                                      : std::nullopt);
  if (caps.warning) fmt::print(stderr, "sprocket: WARNING: {}\n", *caps.warning);
  auto server_log = [&log](std::string_view line) { log.write_line(line); };
  try {
    http::ServerSettings settings{listen->first, listen->second};
    settings.keep_alive_timeout = std::chrono::seconds(options.keep_alive_seconds);
    settings.max_connections = caps.gateway;
    settings.max_unsent_response_bytes = static_cast<std::size_t>(options.max_unsent_response_mb) << 20;
    settings.max_receiving_body_bytes = static_cast<std::size_t>(options.max_receiving_body_mb) << 20;
    settings.log = server_log;
    settings.metrics = &metrics;
    server.emplace(io, gateway, settings);
    http::ServerSettings admin_settings{admin_listen->first, admin_listen->second};
    admin_settings.body_limit = deploy::kMaxArchiveBytes + 1024;  // deploy uploads
    admin_settings.keep_alive_timeout = settings.keep_alive_timeout;
    admin_settings.max_connections = caps.admin;
    admin_settings.max_unsent_response_bytes = settings.max_unsent_response_bytes;
    // A deploy's archive is one body: room for a few at once, whatever the gateway's setting.
    admin_settings.max_receiving_body_bytes = std::max(settings.max_receiving_body_bytes, 4 * admin_settings.body_limit);
    admin_settings.name = "admin";
    admin_settings.log = server_log;
    admin_settings.metrics = &metrics;
    // Out of descriptors, the admin API's few connections are not worth closing: the gateway's are.
    admin_settings.free_a_descriptor = [&] { return server->close_longest_idle(); };
    admin_server.emplace(io, admin_api, admin_settings);
    metrics.add_listener_source("gateway", [&] {
      return metrics::Metrics::ListenerGauges{server->open_connections(), server->unsent_response_bytes()};
    });
    metrics.add_listener_source("admin", [&] {
      return metrics::Metrics::ListenerGauges{admin_server->open_connections(), admin_server->unsent_response_bytes()};
    });
  } catch (const boost::system::system_error& e) {
    // Its what() names Boost's source files; say what is wrong with the address and what to do.
    fmt::print(stderr, "sprocket: {}\n", server ? cannot_listen_message(options.admin_listen, "--admin-listen", e.code())
                                                : cannot_listen_message(options.listen, "--listen", e.code()));
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: cannot listen on {}: {}\n", server ? options.admin_listen : options.listen, e.what());
    return 2;
  }
  (*budgets)->start();  // a first sync, then its thread: the budgets are global from the first request
  server->start();
  admin_server->start();
  action_runner.start();

  // Logs older than the retention go, at start-up and then regularly.
  asio::steady_timer prune_timer(io);
  std::function<void()> prune = [&] {
    std::int64_t cutoff = util::unix_now_ms() - retention->count();
    executor->post([cutoff](store::Store& s) {
      s.prune_executions(cutoff);
      s.prune_action_executions(cutoff);
    });
    prune_timer.expires_after(std::clamp(*retention / 2, std::chrono::milliseconds(100), std::chrono::milliseconds(3'600'000)));
    prune_timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) prune();
    });
  };
  prune();

  for (const auto& spec : gateway.current()->catalog.functions) {
    std::string account = deployment->accounts.size() > 1 ? fmt::format("[{}] ", deployment->accounts[spec.account_index].id) : "";
    if (spec.route) {
      fmt::print(stderr, "  {}{:<18} {}  ->  {}\n", account, fmt::format("{}", fmt::join(spec.methods, ",")), *spec.route, spec.file.string());
    } else {
      fmt::print(stderr, "  {}{:<18} {}  ->  {}\n", account, "app function", spec.name, spec.file.string());
    }
  }
  for (const auto& action : gateway.current()->catalog.actions) {
    std::string account = deployment->accounts.size() > 1 ? fmt::format("[{}] ", deployment->accounts[action.account_index].id) : "";
    fmt::print(stderr, "  {}{:<18} {}  ->  {}\n", account, action.language == config::ActionLanguage::Node ? "action (node)" : "action (python)",
               action.name, action.file.string());
  }
  fmt::print(stderr, "sprocket: {}\n", gateway.current()->dispatcher->memory_enforcement());
  fmt::print(stderr, "sprocket: at most {} client connections ({} open files, {} kept for workers, the store and {} admin connections); "
                     "{} MB of unsent responses\n",
             caps.gateway, open_files, caps.reserve, caps.admin, options.max_unsent_response_mb);
  if (unsandboxed) {
    fmt::print(stderr, "sprocket: WARNING: workers are not sandboxed ({}): any function can read this node's data directory, "
                       "its secret key and admin token\n", *unsandboxed);
  } else {
    fmt::print(stderr, "sprocket: {}\n", runtime_settings.launcher->describe());
  }
  if (options.watch) fmt::print(stderr, "sprocket: watching for changes; an edit is served from the next request\n");
  auto url = [](const asio::ip::tcp::endpoint& e) {
    std::string host = e.address().is_v6() ? "[" + e.address().to_string() + "]" : e.address().to_string();
    return fmt::format("http://{}:{}", host, e.port());
  };
  if (token.created) {
    // A terminal is read by the operator; anything else (a pipe, a file, journald) ends up in
    // logs that others read and keep, so the token itself is shown only to a terminal.
    if (::isatty(STDERR_FILENO)) {
      fmt::print(stderr, "sprocket: a new admin token was created; it is shown once and kept in {}:\n  {}\n",
                 (data_dir / "admin.token").string(), token.value);
    } else {
      fmt::print(stderr, "sprocket: a new admin token was created in {} (mode 0600; stderr is not a terminal, so it is not "
                         "shown here): read it with `cat {}` as the user sprocket runs as\n",
                 (data_dir / "admin.token").string(), (data_dir / "admin.token").string());
    }
  }
  fmt::print(stderr, "sprocket admin API on {}\n", url(admin_server->local_endpoint()));
  fmt::print(stderr, "sprocket listening on {}\n", url(server->local_endpoint()));
  std::fflush(stderr);

  // SIGTERM/SIGINT: finish what is in flight — requests and action attempts — (bounded by the
  // longest time limit), then exit 0.
  auto longest_time_limit = std::chrono::milliseconds(0);
  for (const auto& account : deployment->accounts) {
    longest_time_limit = std::max({longest_time_limit, account.limits.design_manager_time_limit, account.limits.project_time_limit});
  }
  asio::signal_set signals(io, SIGTERM, SIGINT);
  asio::steady_timer drain_deadline(io);
  bool stopping = false;
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    log.flush();
    // Called by whichever comes first, the drain or its deadline: only the first one stops.
    auto stop = [&] {
      if (stopping) return;
      stopping = true;
      drain_deadline.cancel();
      runtime::stop_dependency_installs();  // a dev reload's npm must not hold the exit
      watcher.reset();
      gateway.current()->dispatcher->shutdown();
      action_runner.stop();
      changes.stop();
      admin_api.stop();
      prune_timer.cancel();
      log.flush();
      io.stop();
    };
    // Requests in flight, admin requests (a deploy's answer) and action attempts running all
    // finish first; then everything stops. A deploy that has not committed yet is refused
    // rather than committed with an answer the loop might stop before writing.
    deployments->stop_committing();
    auto waiting = std::make_shared<int>(3);
    auto one_done = [waiting, stop] {
      if (--*waiting == 0) stop();
    };
    server->drain(one_done);
    action_runner.drain(one_done);
    admin_server->drain(one_done);
    drain_deadline.expires_after(std::max(longest_time_limit, action_settings.time_limit) + std::chrono::seconds(1));
    drain_deadline.async_wait([&, stop](boost::system::error_code ec) {
      if (!ec) stop();
    });
  });
  // At low concurrency the loop polls for a moment after each exchange instead of sleeping
  // (docs/performance.md: about 80 µs less per request on this VM); under load it never needs to.
  const auto poll_for = std::chrono::microseconds(options.poll_us);
  util::run_event_loop(io, [&] {
    return poll_for.count() > 0 && gateway.in_flight() <= 2 && std::chrono::steady_clock::now() - gateway.last_exchange() < poll_for;
  });
  deployments.reset();  // its thread may post to the event loop: stop it while the loop exists
  (*budgets)->stop();
  log.flush();          // printed, and handed to the store
  executor->flush();    // every accepted execution record reaches the store before exit
  // Connections and streams still open end here, while the servers they belong to exist.
  io.destroy_pending_work();
  return 0;
}

}  // namespace sprocket::cli
