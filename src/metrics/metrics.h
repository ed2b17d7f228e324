#pragma once
// Counters and histograms in Prometheus' text format. Updated on the event loop only.
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace sprocket::metrics {

class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,    0.25,  0.5,    1,     2.5,  5,    10};
  void observe(double seconds);
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::array<std::uint64_t, kBounds.size()> buckets_{};
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

class Metrics {
 public:
  // `function` identifies the function ("account/name"); `status` is the HTTP status.
  void execution(const std::string& function, int status, double execution_seconds, double queue_seconds, bool cold_start);
  void rejected(std::string_view reason);  // 429s and 503s: budget, queue_full, queue_timeout
  void memory_kill();
  void timeout();
  // One attempt of a workflow action ("account/name"): SUCCEEDED, FAILED, RETRY.
  void action_attempt(const std::string& action, const std::string& outcome, double seconds);
  // What a listener ("gateway", "admin") did to keep itself up against its clients: one of
  // kConnectionEvents.
  void connection_event(std::string_view listener, std::string_view event);
  static constexpr std::array<std::string_view, 6> kConnectionEvents = {
      "refused", "idle_closed", "accept_failed", "slow_reader_closed", "response_refused", "body_refused"};
  // Gauges read when rendering.
  struct ListenerGauges {
    std::size_t connections = 0;     // open now
    std::size_t unsent_bytes = 0;    // of responses not yet written to their clients
  };
  void add_listener_source(std::string listener, std::function<ListenerGauges()> source) {
    listeners_[std::move(listener)] = std::move(source);
  }
  void set_instances_source(std::function<int()> source) { instances_ = std::move(source); }
  void set_actions_running_source(std::function<int()> source) { actions_running_ = std::move(source); }
  void set_delayed_starts_source(std::function<std::uint64_t()> source) { delayed_starts_ = std::move(source); }
  // Execution records: never stored (a counter kept by the store's thread), and held for a store
  // that refuses them for now (a gauge).
  void set_execution_records_sources(std::function<std::uint64_t()> dropped, std::function<std::uint64_t()> held) {
    records_dropped_ = std::move(dropped);
    records_held_ = std::move(held);
  }

  // The execution budget's backend (accounts/budget_backend.h), read when rendering.
  struct BudgetGauges {
    std::string backend = "local";
    bool degraded = false;
    std::int64_t live_nodes = 1;
    std::uint64_t syncs = 0;
    std::uint64_t sync_errors = 0;
  };
  void set_budget_source(std::function<BudgetGauges()> source) { budget_ = std::move(source); }

  // What the binary was built from, for sprocket_build_info (a gauge that is always 1).
  void set_build_info(std::string version, std::string commit) {
    build_version_ = std::move(version);
    build_commit_ = std::move(commit);
  }

  std::string render() const;

 private:
  std::map<std::pair<std::string, int>, std::uint64_t> invocations_;
  std::map<std::string, Histogram> execution_;
  std::map<std::string, Histogram> queue_;
  std::map<std::string, std::uint64_t> cold_starts_;
  std::map<std::string, std::uint64_t> rejections_;
  std::uint64_t memory_kills_ = 0;
  std::uint64_t timeouts_ = 0;
  std::function<int()> instances_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> action_attempts_;
  std::map<std::string, Histogram> action_duration_;
  std::function<int()> actions_running_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> connection_events_;
  std::map<std::string, std::function<ListenerGauges()>> listeners_;
  std::function<std::uint64_t()> records_dropped_;
  std::function<std::uint64_t()> records_held_;
  std::function<std::uint64_t()> delayed_starts_;
  std::function<BudgetGauges()> budget_;
  std::string build_version_;
  std::string build_commit_;
};

// A Prometheus label value: backslash, quote and newline escaped.
std::string label_value(std::string_view text);

}  // namespace sprocket::metrics
