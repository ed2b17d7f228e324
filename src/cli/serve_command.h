#pragma once
// `sprocket serve [PATH…]`: the long-running node.
#include <cstdint>
#include <string>
#include <vector>

namespace sprocket::cli {

struct ServeOptions {
  std::vector<std::string> paths;
  std::string config_file;
  std::string listen = "127.0.0.1:8080";
  std::string admin_listen = "127.0.0.1:8081";
  std::string data_dir = ".sprocket";
  std::string store;  // --store: empty is sqlite:DATA_DIR/sprocket.db (store/store_location.h)
  std::int64_t account_id = 123456;
  int max_instances = 0;       // 0: the configured limit (default 8)
  double idle_timeout_seconds = 300;
  int time_limit_ms = 0;       // 0: the configured limits (HubSpot: 10 s design manager, 15 s projects)
  bool trust_proxy = false;
  std::string memory_enforcement = "cgroup";
  // on: every worker in a sandbox, or refuse to start; off: plain processes; auto: the sandbox
  // where this machine allows it (docs/security.md). `serve` defaults to on, `dev` to auto.
  std::string sandbox = "on";
  std::string color = "auto";  // auto | always | never (cli/colour.h): the execution records on stderr
  std::string log_retention = "90d";
  std::string node = "/usr/bin/node";
  int action_concurrency = 4;
  int action_lease_seconds = 30;  // actions::ActionRunnerSettings::lease_duration
  double action_clock_scale = 1;  // > 1: the retry schedule runs faster (tests)
  int keep_alive_seconds = 60;  // an idle connection, or one that sends a request too slowly, is closed after this
  int max_connections = 0;  // 0: derived from the open-file limit (http/connection_limits.h)
  int max_unsent_response_mb = 64;  // responses written to clients that have not read them yet, in total
  int max_receiving_body_mb = 64;   // request bodies being received, in total
  int poll_us = 300;  // after an exchange at low concurrency, poll this long before sleeping (0: never)
  std::string held_logs_limit = "64MB";  // execution records kept in memory while the store refuses them
  // --budget: "local" (this node's memory) or redis://HOST:PORT[/DB], shared by every node
  // (docs/scale-out.md); the password comes from SPROCKET_REDIS_PASSWORD(_FILE), never argv.
  std::string budget = "local";
  std::string budget_prefix = "sprocket:budget:";  // the Redis keys' prefix: one per group of nodes
  bool watch = false;  // `sprocket dev`: reload on every change to the served folders
};

int run_serve(const ServeOptions& options);

}  // namespace sprocket::cli
