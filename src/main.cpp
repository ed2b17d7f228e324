// sprocket: runs HubSpot serverless functions. This file only declares the command line.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>
#include <string_view>

#include "cli/actions_command.h"
#include "cli/completion.h"
#include "cli/deploy_command.h"
#include "cli/functions_command.h"
#include "cli/invoke_command.h"
#include "cli/login_command.h"
#include "cli/profile.h"
#include "cli/logs_command.h"
#include "cli/secrets_command.h"
#include "cli/serve_command.h"
#include "cli/store_command.h"
#include "cli/tokens_command.h"
#include "util/build_info.h"

using namespace sprocket;

namespace {

// CLI11 answers a command it does not know with "A subcommand is required", which hides the
// typo. Walks the command words of argv (up to the first option) and names the first one that
// is not a command of its group, with the commands there are; or the group that needs one.
std::optional<std::string> command_problem(CLI::App& app, int argc, char** argv) {
  CLI::App* group = &app;
  std::string prefix = "sprocket";
  for (int i = 1;; ++i) {
    if (group->get_require_subcommand_min() == 0) return std::nullopt;  // a command: its arguments follow
    auto commands = group->get_subcommands([](CLI::App*) { return true; });
    std::vector<std::string> names;
    for (const auto* c : commands) names.push_back(c->get_name());
    if (i >= argc) return fmt::format("{} needs a command: {} ({} --help says more)", prefix, fmt::join(names, ", "), prefix);
    std::string_view word = argv[i];
    if (word.empty() || word.front() == '-') return std::nullopt;  // an option (--help…): CLI11 judges it
    auto found = std::find_if(commands.begin(), commands.end(), [&](const CLI::App* c) { return c->get_name() == word; });
    if (found == commands.end()) {
      std::string where = group == &app ? "the commands are" : fmt::format("the commands of {} are", prefix);
      return fmt::format("unknown command \"{}\"; {}: {} ({} --help says more)", word, where, fmt::join(names, ", "), prefix);
    }
    group = *found;
    prefix += " " + group->get_name();
  }
}

// Every command's --help ends with how it is typically run.
void example(CLI::App* command, std::string_view lines) { command->footer(fmt::format("\nExample:\n{}", lines)); }

constexpr std::string_view kStoreHelp =
    "Where the state is kept: sqlite:PATH (default: DATA_DIR/sprocket.db) or postgresql://HOST:PORT/DB (docs/configuration.md)";

void add_color_option(CLI::App* command, std::string& mode, std::string_view what) {
  command->add_option("--color", mode, fmt::format("Colour {}: auto (on a terminal, unless NO_COLOR is set), always or never", what))
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
}

// A remote command takes --profile NAME: the `sprocket login` profile whose server and token it
// uses when --server is not given (cli/profile.h).
std::string profile_flag;  // --profile's value; select_profile() is what counts

void add_profile_option(CLI::App* command) {
  command->add_option("--profile", profile_flag, "The `sprocket login` profile to use (default: $SPROCKET_PROFILE, else \"default\")")
      ->each([](const std::string& name) { cli::select_profile(name); });
}

// Fills --server and --account from the profile when the command line gave no server and no
// local node (--data-dir, --store); false, with the reason printed, when that cannot be done.
bool use_profile(CLI::App* command, std::string& server, std::int64_t& account) {
  auto given = [command](const char* name) {
    const auto* option = command->get_option_no_throw(name);
    return option && option->count() > 0;
  };
  auto applied = cli::apply_profile(given("--server"), given("--data-dir") || given("--store"), server, given("--account"), account);
  if (!applied) fmt::print(stderr, "sprocket: {}\n", applied.error());
  return static_cast<bool>(applied);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sprocket: run HubSpot serverless functions on your own machines"};
  app.require_subcommand(1);
  app.set_version_flag("--version", util::version_line(), "Print the version and the git commit it was built from");
  int exit_code = 0;

  // `serve` and `dev` take the same options: dev is serve that reloads on every change.
  auto add_serve_options = [](CLI::App* command, cli::ServeOptions& o) {
    command->add_option("paths", o.paths,
                        "A *.functions folder, a developer project (hsproject.json), or a folder holding several (default: .)");
    command->add_option("--config", o.config_file, "A JSON file with accounts, their domains and limits (docs/configuration.md)");
    command->add_option("--listen", o.listen, "HOST:PORT to serve functions on; port 0 picks a free one")->capture_default_str();
    command->add_option("--admin-listen", o.admin_listen, "HOST:PORT of the admin API and /metrics")->capture_default_str();
    command->add_option("--data-dir", o.data_dir, "Where sprocket keeps its state (database, secret key, admin token)")
        ->capture_default_str();
    command->add_option("--store", o.store, std::string(kStoreHelp))->envname("SPROCKET_STORE");
    command->add_option("--budget", o.budget,
                        "Where accounts' execution budgets are kept: local (this node alone) or redis://HOST:PORT[/DB], one "
                        "budget shared by every node (password: SPROCKET_REDIS_PASSWORD or SPROCKET_REDIS_PASSWORD_FILE; "
                        "docs/scale-out.md)")
        ->envname("SPROCKET_BUDGET")
        ->capture_default_str();
    command->add_option("--budget-prefix", o.budget_prefix,
                        "The prefix of the Redis keys of the shared budget: nodes sharing a budget share it, separate groups "
                        "of nodes on one Redis use different ones")
        ->capture_default_str();
    command->add_option("--account-id", o.account_id, "The HubSpot account id functions see")->capture_default_str();
    command->add_option("--max-instances", o.max_instances, "Most instances per function, for every account (default: the configured limit, 8)");
    command->add_option("--idle-timeout", o.idle_timeout_seconds, "Seconds an idle instance is kept warm")->capture_default_str();
    command->add_option("--time-limit-ms", o.time_limit_ms,
                        "Execution time limit for every function and action (default: HubSpot's 10 s design manager, 15 s projects, 20 s actions)");
    command->add_flag("--trust-proxy", o.trust_proxy,
                      "Take the client address from True-Client-IP / X-Forwarded-For (only behind your own proxy)");
    command->add_option("--memory-enforcement", o.memory_enforcement,
                        "cgroup (the kernel, where a memory cgroup can be made; else RSS polling) or rss")
        ->check(CLI::IsMember({"cgroup", "rss"}))
        ->capture_default_str();
    command->add_option("--sandbox", o.sandbox,
                        "on: every worker in its own sandbox (bubblewrap), or refuse to start where the kernel cannot; "
                        "off: plain processes that see the machine as sprocket does; auto: the sandbox where possible")
        ->check(CLI::IsMember({"on", "off", "auto"}))
        ->capture_default_str();
    command->add_option("--log-retention", o.log_retention, "How long execution logs are kept (90d, 12h, 30s…)")->capture_default_str();
    command->add_option("--node", o.node, "The Node.js executable")->capture_default_str();
    command->add_option("--keep-alive-timeout", o.keep_alive_seconds,
                        "Seconds an idle client connection is kept open, and the most a client may take to send a request")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    command->add_option("--max-connections", o.max_connections,
                        "Most client connections open at once; at the cap a new one replaces the longest-idle one, or gets 503 "
                        "(default: the open-file limit, raised to its hard limit, less a reserve for workers; docs/limits.md)")
        ->check(CLI::Range(1, 1 << 24));
    command->add_option("--max-unsent-response-mb", o.max_unsent_response_mb,
                        "MB of responses held for clients that have not read them yet, all connections together; past it the "
                        "clients that stopped reading are disconnected, or the new response is a 503")
        ->check(CLI::Range(7, 1 << 20))
        ->capture_default_str();
    command->add_option("--max-receiving-body-mb", o.max_receiving_body_mb,
                        "MB of request bodies being received, all connections together (each counts its Content-Length); past "
                        "it the longest-stalled upload is closed and the new request is a 503")
        ->check(CLI::Range(7, 1 << 20))
        ->capture_default_str();
    command->add_option("--poll-us", o.poll_us,
                        "At low concurrency, poll this many microseconds after each request before sleeping: less latency "
                        "for an otherwise idle core (0: never)")
        ->check(CLI::Range(0, 100000))
        ->capture_default_str();
    command->add_option("--held-logs-limit", o.held_logs_limit,
                        "Execution records kept in memory while the store refuses them (a full disk); past it the oldest are "
                        "dropped and counted (64MB, 512KB…)")
        ->capture_default_str();
    command->add_option("--action-concurrency", o.action_concurrency, "Workflow action attempts run at once on this node")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    command->add_option("--action-lease-seconds", o.action_lease_seconds,
                        "How long a node's claim on a running action execution holds unless renewed; on a shared store, other "
                        "nodes run it again once it ran out (the node died)")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    add_color_option(command, o.color, "the execution records on stderr");
    command->add_option("--action-clock-scale", o.action_clock_scale,
                        "Run the action retry clock this many times faster (tests: 60000 makes a minute a millisecond)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
  };
  cli::ServeOptions serve;
  auto* serve_command = app.add_subcommand("serve", "Serve *.functions folders and developer projects over HTTP");
  add_serve_options(serve_command, serve);
  serve_command->callback([&] { exit_code = cli::run_serve(serve); });
  example(serve_command, "  sprocket serve ./my-project --listen 0.0.0.0:8080 --data-dir /var/lib/sprocket");

  cli::ServeOptions dev;
  dev.watch = true;
  dev.sandbox = "auto";
  auto* dev_command = app.add_subcommand("dev", "Serve like `serve` and reload on every change: edit, save, send the next request");
  add_serve_options(dev_command, dev);
  dev_command->callback([&] { exit_code = cli::run_serve(dev); });
  example(dev_command, "  sprocket dev ./my-project    # then edit, save and send the next request");

  cli::SecretsOptions secrets;
  auto* secrets_command = app.add_subcommand("secrets", "Manage secrets: the value is read from standard input or a prompt, never argv");
  secrets_command->add_option("action", secrets.action, "add | update | list | delete")
      ->required()
      ->check(CLI::IsMember({"add", "update", "list", "delete"}));
  secrets_command->add_option("name", secrets.name, "The secret's name (an environment variable name)");
  secrets_command->add_option("--data-dir", secrets.data_dir, "Work on this data directory")->capture_default_str();
  secrets_command->add_option("--store", secrets.store, std::string(kStoreHelp))->envname("SPROCKET_STORE");
  secrets_command->add_option("--server", secrets.server, "Work on a running server's admin API instead (token from SPROCKET_TOKEN)");
  secrets_command->add_option("--account", secrets.account_id, "The account the secret belongs to")->capture_default_str();
  secrets_command->add_flag("--json", secrets.json, "list: print a JSON array of {name, updatedAt}");
  add_profile_option(secrets_command);
  secrets_command->callback([&] {
    exit_code = use_profile(secrets_command, secrets.server, secrets.account_id) ? cli::run_secrets(secrets) : 2;
  });
  example(secrets_command, "  printf %s \"$KEY\" | sprocket secrets add API_KEY --data-dir /var/lib/sprocket\n"
                           "  sprocket secrets list --json --server http://127.0.0.1:8081");

  cli::LogsOptions logs;
  auto* logs_command = app.add_subcommand("logs", "Print stored execution logs in HubSpot's format");
  logs_command->add_option("function", logs.function, "An endpoint or function name, or a request path");
  logs_command->add_flag("--follow,-f", logs.follow, "Keep printing new executions as they happen");
  logs_command->add_flag("--latest", logs.latest, "Only the most recent execution");
  logs_command->add_option("--since", logs.since, "Only executions newer than this (30s, 10m, 2h, 7d)");
  logs_command->add_option("--request-id", logs.request_id, "The execution with this request id (X-Request-Id)");
  logs_command->add_flag("--json", logs.json, "One JSON object per execution");
  logs_command->add_flag("--compact", logs.compact, "Header lines only");
  add_color_option(logs_command, logs.color, "statuses and levels");
  logs_command->add_option("--limit", logs.limit, "How many executions at most")->capture_default_str();
  logs_command->add_option("--data-dir", logs.data_dir, "Read this data directory")->capture_default_str();
  logs_command->add_option("--store", logs.store, std::string(kStoreHelp))->envname("SPROCKET_STORE");
  logs_command->add_option("--server", logs.server, "Read a running server's admin API instead (token from SPROCKET_TOKEN)");
  logs_command->add_option("--account", logs.account_id, "The account whose logs to read")->capture_default_str();
  add_profile_option(logs_command);
  logs_command->callback([&] { exit_code = use_profile(logs_command, logs.server, logs.account_id) ? cli::run_logs(logs) : 2; });
  example(logs_command, "  sprocket logs fetch-quote --follow --data-dir /var/lib/sprocket\n"
                        "  sprocket logs --request-id 0d6c5f0e-… --json");

  cli::DeployOptions deploy;
  auto add_server_options = [&](CLI::App* command) {
    command->add_option("--server", deploy.server, "The admin API of the node")->capture_default_str();
    command->add_option("--account", deploy.account_id, "The account")->capture_default_str();
    command->add_option("--data-dir", deploy.data_dir, "Take the admin token from DIR/admin.token when SPROCKET_TOKEN is not set")
        ->capture_default_str();
    add_profile_option(command);
  };
  auto* deploy_command = app.add_subcommand("deploy", "Upload a functions folder or project; it serves once fully validated");
  deploy_command->add_option("path", deploy.path, "The folder to deploy")->capture_default_str();
  deploy_command->add_option("--message,-m", deploy.message, "What this version changes");
  deploy_command->add_option("--name", deploy.name, "The deployment's name (default: hsproject.json name, else the folder's)");
  deploy_command->add_option("--deploy-id", deploy.deploy_id,
                             "Retry a deploy whose outcome is unknown with the id it printed: if it was committed, the node answers "
                             "with its version and deploys nothing twice (default: a new id)");
  add_server_options(deploy_command);
  deploy_command->add_flag("--json", deploy.json, "Print the node's answer as JSON (version, functions, shadowed, warnings)");
  deploy_command->callback([&] { exit_code = use_profile(deploy_command, deploy.server, deploy.account_id) ? cli::run_deploy(deploy) : 2; });
  example(deploy_command, "  sprocket deploy ./my-project --server http://10.0.0.5:8081 -m \"new quote filter\"");
  auto* versions_command = app.add_subcommand("versions", "List the deployed versions, newest first");
  add_server_options(versions_command);
  versions_command->add_flag("--json", deploy.json, "Print a JSON array of the versions");
  versions_command->callback([&] { exit_code = use_profile(versions_command, deploy.server, deploy.account_id) ? cli::run_versions(deploy) : 2; });
  example(versions_command, "  sprocket versions --server http://10.0.0.5:8081 --json");
  auto* rollback_command = app.add_subcommand("rollback", "Serve an earlier version again (default: undo the latest deploy)");
  rollback_command->add_option("version", deploy.version, "The version to serve");
  add_server_options(rollback_command);
  rollback_command->callback([&] { exit_code = use_profile(rollback_command, deploy.server, deploy.account_id) ? cli::run_rollback(deploy) : 2; });
  example(rollback_command, "  sprocket rollback --server http://10.0.0.5:8081      # undo the latest deploy\n"
                            "  sprocket rollback 3 --server http://10.0.0.5:8081    # serve version 3 again");

  cli::TokensOptions tokens;
  auto add_tokens_store_options = [&](CLI::App* command) {
    command->add_option("--data-dir", tokens.data_dir, "The server's data directory")->capture_default_str();
    command->add_option("--store", tokens.store, std::string(kStoreHelp))->envname("SPROCKET_STORE");
  };
  auto* tokens_command = app.add_subcommand("tokens", "Admin tokens scoped to one account");
  auto* tokens_create = tokens_command->add_subcommand("create", "Create a token that works for one account only; printed once");
  tokens_create->add_option("--account", tokens.account_id, "The account it is for")->capture_default_str();
  add_tokens_store_options(tokens_create);
  tokens_create->callback([&] { exit_code = cli::run_tokens_create(tokens); });
  example(tokens_create, "  sprocket tokens create --account 222 --data-dir /var/lib/sprocket");
  auto* tokens_list = tokens_command->add_subcommand("list", "The scoped tokens: id, account, created (never a token or its hash)");
  add_tokens_store_options(tokens_list);
  tokens_list->add_flag("--json", tokens.json, "Print a JSON array of {id, account, createdAt}");
  auto add_tokens_server_option = [&](CLI::App* command) {
    command->add_option("--server", tokens.server, "Work on a running node's admin API instead (with the node's own token)");
    add_profile_option(command);
  };
  add_tokens_server_option(tokens_list);
  tokens_list->callback([&] {
    exit_code = use_profile(tokens_list, tokens.server, tokens.unused_account) ? cli::run_tokens_list(tokens) : 2;
  });
  example(tokens_list, "  sprocket tokens list --data-dir /var/lib/sprocket");
  auto* tokens_revoke = tokens_command->add_subcommand("revoke", "End a scoped token: a running server refuses it within a second");
  tokens_revoke->add_option("id", tokens.id, "The token's id, as `tokens list` shows it (tok_…)")->required();
  add_tokens_store_options(tokens_revoke);
  add_tokens_server_option(tokens_revoke);
  tokens_revoke->callback([&] {
    exit_code = use_profile(tokens_revoke, tokens.server, tokens.unused_account) ? cli::run_tokens_revoke(tokens) : 2;
  });
  example(tokens_revoke, "  sprocket tokens revoke tok_3f9a2c7d01be --data-dir /var/lib/sprocket");

  cli::StoreMigrateOptions store_migrate;
  auto* store_command = app.add_subcommand("store", "The durable state: move a node's SQLite data into PostgreSQL");
  auto* store_migrate_command = store_command->add_subcommand(
      "migrate", "Copy everything (secrets, tokens, deployments, logs, the action queue) into an empty PostgreSQL database");
  store_migrate_command->add_option("--data-dir", store_migrate.data_dir, "The node's data directory (stop the node first)")
      ->capture_default_str();
  store_migrate_command->add_option("--from", store_migrate.from, "The SQLite store (default: sqlite:DATA_DIR/sprocket.db)");
  store_migrate_command->add_option("--to", store_migrate.to, "The PostgreSQL database, empty: postgresql://HOST:PORT/DB (no password)")
      ->required();
  store_migrate_command->add_flag("--json", store_migrate.json, "Print {from, to, rows: {table: count}}");
  store_migrate_command->callback([&] { exit_code = cli::run_store_migrate(store_migrate); });
  example(store_migrate_command, "  sprocket store migrate --data-dir /var/lib/sprocket --to postgresql://sprocket@db:5432/sprocket");
  example(store_command, "  sprocket store migrate --data-dir /var/lib/sprocket --to postgresql://sprocket@db:5432/sprocket");
  store_command->require_subcommand(1);
  example(tokens_command, "  sprocket tokens create --account 222 --data-dir /var/lib/sprocket\n"
                          "  sprocket tokens list --data-dir /var/lib/sprocket");
  tokens_command->require_subcommand(1);

  cli::FunctionsListOptions functions_list;
  cli::FunctionsCreateOptions functions_create;
  auto* functions_command = app.add_subcommand("functions", "List the functions a folder holds, or start a new one");
  auto* functions_list_command =
      functions_command->add_subcommand("list", "The functions `serve PATH…` would serve: kind, route, methods, file, secrets");
  functions_list_command->add_option("paths", functions_list.paths,
                                     "A *.functions folder, a developer project, or a folder holding several (default: .)");
  functions_list_command->add_option("--config", functions_list.config_file, "The accounts file `serve --config` would read");
  functions_list_command->add_option("--account-id", functions_list.account_id, "The default account, as for serve")
      ->capture_default_str();
  functions_list_command->add_flag("--json", functions_list.json, "Print a JSON array, one object per function");
  functions_list_command->callback([&] { exit_code = cli::run_functions_list(functions_list); });
  example(functions_list_command, "  sprocket functions list examples --json");
  auto* functions_create_command = functions_command->add_subcommand(
      "create", "Make a new function to start from: NAME.functions/ (design manager) or, with --project, a developer project");
  functions_create_command->add_option("name", functions_create.name, "The function's name: letters, digits, - and _")->required();
  functions_create_command->add_flag("--project", functions_create.project,
                                     "A developer project (hsproject.json, src/app/app.functions/) served at /hs/serverless/NAME");
  functions_create_command->add_option("--dir", functions_create.dir, "Where to create it")->capture_default_str();
  functions_create_command->callback([&] { exit_code = cli::run_functions_create(functions_create); });
  example(functions_create_command, "  sprocket functions create hello             # hello.functions/, GET /_hcms/api/hello\n"
                                    "  sprocket functions create quotes --project  # quotes/, GET /hs/serverless/quotes");
  example(functions_command, "  sprocket functions create hello && sprocket functions list hello.functions");
  functions_command->require_subcommand(1);

  cli::LoginOptions login;
  auto* login_command = app.add_subcommand("login", "Keep a node's admin URL and token in a profile for the remote commands");
  login_command->add_option("--server", login.server, "The node's admin API (http://host:8081)")->required();
  login_command->add_flag("--token-stdin", login.token_stdin, "Read the token from standard input (else a prompt that does not echo)");
  add_profile_option(login_command);
  login_command->callback([&] { exit_code = cli::run_login(login); });
  example(login_command, "  sprocket login --server http://10.0.0.5:8081                 # prompts for the token\n"
                         "  sprocket login --server http://10.0.0.5:8081 --token-stdin --profile staging < token");
  auto* logout_command = app.add_subcommand("logout", "Forget a profile's server and token");
  add_profile_option(logout_command);
  logout_command->callback([&] { exit_code = cli::run_logout(); });
  example(logout_command, "  sprocket logout --profile staging");

  cli::InvokeOptions invoke;
  auto* invoke_command = app.add_subcommand(
      "invoke", "Run one request now through a real worker (local folders, as serve loads them) or --server; print the answer and logs");
  invoke_command->add_option("function", invoke.target,
                             "An endpoint name (/_hcms/api/NAME), a project path (/hs/serverless/PATH), or the path itself")
      ->required();
  invoke_command->add_option("paths", invoke.paths, "The folders to load, as for serve (default: .)");
  invoke_command->add_option("--method,-X", invoke.method, "The HTTP method (default: GET, or POST with --data)");
  invoke_command->add_option("--query,-q", invoke.query, "A query parameter KEY=VALUE (repeatable)");
  invoke_command->add_option("--data,-d", invoke.data, "The body: JSON text, or @FILE");
  invoke_command->add_option("--header,-H", invoke.headers, "A request header 'Name: value' (repeatable)");
  invoke_command->add_option("--account", invoke.account_id, "The account whose functions run (with --config: one of its accounts)")
      ->each([&](const std::string&) { invoke.account_given = true; });
  invoke_command->add_option("--config", invoke.config_file, "The accounts file `serve --config` would read");
  invoke_command->add_option("--server", invoke.server, "Send the request to a running node's listener instead (http://host:8080)");
  invoke_command->add_flag("--json", invoke.json, "Print {status, headers, body, execution, logs} as one JSON document");
  invoke_command->add_option("--sandbox", invoke.sandbox, "on, off or auto, as for dev")
      ->check(CLI::IsMember({"on", "off", "auto"}))
      ->capture_default_str();
  invoke_command->add_option("--time-limit-ms", invoke.time_limit_ms, "The execution time limit (default: HubSpot's)");
  invoke_command->add_option("--node", invoke.node, "The Node.js executable")->capture_default_str();
  invoke_command->callback([&] { exit_code = cli::run_invoke(invoke); });
  example(invoke_command, "  sprocket invoke hello examples --query who=ada\n"
                          "  sprocket invoke echo examples -X POST --data '{\"symbol\": \"HUBS\"}' --json\n"
                          "  sprocket invoke /_hcms/api/hello --server http://127.0.0.1:8080");

  std::string actions_path = ".";
  auto* actions_command = app.add_subcommand("actions", "Workflow custom-code actions (docs/actions.md)");
  auto* actions_check = actions_command->add_subcommand("check", "Validate the action definitions (actions.json) under PATH");
  actions_check->add_option("path", actions_path, "A *.actions folder, or a folder holding some")->capture_default_str();
  actions_check->callback([&] { exit_code = cli::run_actions_check(actions_path); });
  example(actions_check, "  sprocket actions check examples");
  cli::ActionTestOptions action_test;
  auto* actions_test = actions_command->add_subcommand("test", "Run an action once, now, and print status, outputs, logs, memory and time");
  actions_test->add_option("name", action_test.name, "The action's name in actions.json")->required();
  actions_test->add_option("--event", action_test.event_file, "A JSON file with the event (inputFields, object, …)");
  actions_test->add_option("--path", action_test.path, "Where the *.actions folders are")->capture_default_str();
  actions_test->add_option("--account", action_test.account_id, "The portal id the event comes from")->capture_default_str();
  actions_test->callback([&] { exit_code = cli::run_actions_test(action_test); });
  example(actions_test, "  sprocket actions test score-contact --path examples --event examples/crm.actions/event.json");
  cli::ActionRunOptions action_run;
  auto add_action_server_options = [&](CLI::App* command) {
    command->add_option("--server", action_run.server, "The admin API of the node")->capture_default_str();
    command->add_option("--account", action_run.account_id, "The account (default: the node's default account)");
    command->add_option("--data-dir", action_run.data_dir, "Take the admin token from DIR/admin.token when SPROCKET_TOKEN is not set")
        ->capture_default_str();
    command->add_flag("--json", action_run.json, "Print the execution as JSON");
    add_profile_option(command);
  };
  auto* actions_run = actions_command->add_subcommand("run", "Queue an execution on a running node; retried as HubSpot retries");
  actions_run->add_option("name", action_run.name, "The action's name in actions.json")->required();
  actions_run->add_option("--event", action_run.event_file, "A JSON file with the event (inputFields, object, …)");
  actions_run->add_flag("--wait", action_run.wait, "Wait for its final state and print it (exit 0 when it succeeded)");
  actions_run->add_option("--wait-seconds", action_run.wait_seconds, "With --wait: stop waiting after this long (exit 3)");
  add_action_server_options(actions_run);
  actions_run->callback([&] {
    exit_code = use_profile(actions_run, action_run.server, action_run.account_id) ? cli::run_actions_run(action_run) : 2;
  });
  example(actions_run, "  sprocket actions run score-contact --event examples/crm.actions/event.json --wait");
  auto* actions_show = actions_command->add_subcommand("show", "An execution's state, outputs, attempts and logs");
  actions_show->add_option("id", action_run.execution_id, "The execution's id (printed by `actions run`)")->required();
  add_action_server_options(actions_show);
  actions_show->callback([&] {
    exit_code = use_profile(actions_show, action_run.server, action_run.account_id) ? cli::run_actions_show(action_run) : 2;
  });
  example(actions_show, "  sprocket actions show 42 --json");
  auto* actions_executions = actions_command->add_subcommand("executions", "The newest executions, one line each");
  actions_executions->add_option("name", action_run.name, "Only this action's");
  actions_executions->add_option("--state", action_run.state, "Only those queued, running, succeeded or failed")
      ->check(CLI::IsMember({"queued", "running", "succeeded", "failed"}));
  actions_executions->add_option("--limit", action_run.limit, "How many at most")->check(CLI::Range(1, 10000))->capture_default_str();
  add_action_server_options(actions_executions);
  actions_executions->callback([&] {
    exit_code = use_profile(actions_executions, action_run.server, action_run.account_id) ? cli::run_actions_executions(action_run) : 2;
  });
  example(actions_executions, "  sprocket actions executions score-contact --state failed --limit 10");
  example(actions_command, "  sprocket actions check examples\n"
                           "  sprocket actions run score-contact --event examples/crm.actions/event.json --wait");
  actions_command->require_subcommand(1);

  std::string shell;
  auto* completion_command = app.add_subcommand("completion", "Print a shell completion script for sprocket's commands and options");
  completion_command->add_option("shell", shell, "The shell (bash)")->required()->check(CLI::IsMember({"bash"}));
  completion_command->callback([&] { fmt::print("{}", cli::bash_completion(app)); });
  example(completion_command, "  source <(sprocket completion bash)\n"
                              "  sprocket completion bash > /etc/bash_completion.d/sprocket");
  example(&app, "  sprocket serve ./my-project\n  sprocket functions create hello\n  sprocket COMMAND --help");

  if (auto problem = command_problem(app, argc, argv)) {
    fmt::print(stderr, "sprocket: {}\n", *problem);
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own words ("action is required") name no command and exit 100-something: say
    // which command, what is wrong, and where the help is; exit 2 as for every usage error.
    std::string command = "sprocket";
    for (CLI::App* group = &app; group;) {
      auto parsed = group->get_subcommands([](CLI::App* c) { return c->parsed(); });
      group = parsed.empty() ? nullptr : parsed.front();
      if (group) command += " " + group->get_name();
    }
    fmt::print(stderr, "sprocket: {}: {} ({} --help says more)\n", command, e.what(), command);
    return 2;
  }
  return exit_code;
}
