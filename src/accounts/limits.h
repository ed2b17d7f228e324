#pragma once
// Per-account limits, with HubSpot's documented values as defaults (docs/limits.md).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace sprocket::accounts {

struct AccountLimits {
  int memory_mb = 128;                                        // per function instance
  std::chrono::milliseconds design_manager_time_limit{10'000};  // per execution
  std::chrono::milliseconds project_time_limit{15'000};
  double execution_seconds_per_minute = 600;            // rolling minute, per account
  std::optional<std::int64_t> executions_per_minute;    // none: HubSpot dropped its count limit
  int max_endpoints = 100;                               // per account
  int max_secrets = 50;                                  // per account
  std::size_t log_bytes_per_execution = 4096;
  int max_instances_per_function = 8;
  std::size_t max_queued_per_function = 100;             // beyond: 429
  std::chrono::milliseconds queue_timeout{10'000};       // no instance in time: 503
  bool network = true;  // false: its workers get an empty network namespace (docs/security.md)
  std::size_t pipeline_depth = 16;                       // most invocations handed to one busy instance of a fast function
};

}  // namespace sprocket::accounts
