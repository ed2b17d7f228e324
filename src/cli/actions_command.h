#pragma once
// `sprocket actions check [PATH]`: validates workflow custom-code action definitions.
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

}  // namespace sprocket::cli
