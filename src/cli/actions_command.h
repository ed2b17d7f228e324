#pragma once
// `sprocket actions check|test|run|show`: workflow custom-code actions (docs/actions.md).
#include <cstdint>
#include <string>

namespace sprocket::cli {

int run_actions_check(const std::string& path);

struct ActionTestOptions {
  std::string name;
  std::string event_file;
  std::string path = ".";
  std::int64_t account_id = 123456;
  std::string node = "/usr/bin/node";
};

// `sprocket actions test NAME --event FILE`: runs the action once, now, and prints its status,
// outputs, logs, peak memory and run time (HubSpot's "Test the action").
int run_actions_test(const ActionTestOptions& options);

struct ActionRunOptions {
  std::string name;        // run: the action
  std::string event_file;  // run: the event
  std::int64_t execution_id = 0;  // show: the execution
  std::string state;              // executions: only those in this state
  int limit = 20;                 // executions: how many, newest first
  bool wait = false;       // run: wait for a final state and print it
  double wait_seconds = 0;  // run --wait: give up waiting after this long (0: no limit)
  bool json = false;
  std::string server = "http://127.0.0.1:8081";
  std::int64_t account_id = 0;  // 0: the node's default account
  std::string data_dir = ".sprocket";
};

// `sprocket actions run NAME --event FILE`: queues an execution on a running node (retried as
// HubSpot retries) and prints its id; --wait follows it to its final state.
int run_actions_run(const ActionRunOptions& options);
// `sprocket actions show ID`: an execution's state, outputs, attempts and their logs.
int run_actions_show(const ActionRunOptions& options);
// `sprocket actions executions [NAME]`: the newest executions, one line each.
int run_actions_executions(const ActionRunOptions& options);

}  // namespace sprocket::cli
