#include "metrics/metrics.h"

#include <fmt/format.h>
#include <vector>

namespace sprocket::metrics {

std::string label_value(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Histogram::observe(double seconds) {
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) ++buckets_[i];
  }
  ++count_;
  sum_ += seconds;
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, prefix, kBounds[i], buckets_[i]);
  }
  out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n", name, prefix, count_);
  out += fmt::format("{}_sum{{{}}} {}\n", name, labels, sum_);
  out += fmt::format("{}_count{{{}}} {}\n", name, labels, count_);
}

void Metrics::execution(const std::string& function, int status, double execution_seconds, double queue_seconds, bool cold_start) {
  ++invocations_[{function, status}];
  execution_[function].observe(execution_seconds);
  queue_[function].observe(queue_seconds);
  if (cold_start) ++cold_starts_[function];
}

void Metrics::rejected(std::string_view reason) { ++rejections_[std::string(reason)]; }
void Metrics::connection_event(std::string_view listener, std::string_view event) {
  ++connection_events_[{std::string(listener), std::string(event)}];
}
void Metrics::memory_kill() { ++memory_kills_; }
void Metrics::timeout() { ++timeouts_; }

void Metrics::action_attempt(const std::string& action, const std::string& outcome, double seconds) {
  ++action_attempts_[{action, outcome}];
  action_duration_[action].observe(seconds);
}

std::string Metrics::render() const {
  std::string out;
  if (!build_version_.empty()) {
    out += "# HELP sprocket_build_info The version and git commit this node was built from; always 1.\n";
    out += "# TYPE sprocket_build_info gauge\n";
    out += fmt::format("sprocket_build_info{{version=\"{}\",commit=\"{}\"}} 1\n", label_value(build_version_),
                       label_value(build_commit_));
  }
  out += "# HELP sprocket_invocations_total Function executions by function and HTTP status.\n";
  out += "# TYPE sprocket_invocations_total counter\n";
  for (const auto& [key, n] : invocations_) {
    out += fmt::format("sprocket_invocations_total{{function=\"{}\",status=\"{}\"}} {}\n", label_value(key.first), key.second, n);
  }
  out += "# HELP sprocket_execution_duration_seconds Execution time, without queue wait.\n";
  out += "# TYPE sprocket_execution_duration_seconds histogram\n";
  for (const auto& [f, h] : execution_) h.render(out, "sprocket_execution_duration_seconds", fmt::format("function=\"{}\"", label_value(f)));
  out += "# HELP sprocket_queue_duration_seconds Time spent waiting for an instance, cold starts included.\n";
  out += "# TYPE sprocket_queue_duration_seconds histogram\n";
  for (const auto& [f, h] : queue_) h.render(out, "sprocket_queue_duration_seconds", fmt::format("function=\"{}\"", label_value(f)));
  out += "# HELP sprocket_cold_starts_total Executions served by an instance started for them.\n";
  out += "# TYPE sprocket_cold_starts_total counter\n";
  for (const auto& [f, n] : cold_starts_) out += fmt::format("sprocket_cold_starts_total{{function=\"{}\"}} {}\n", label_value(f), n);
  out += "# HELP sprocket_rejections_total Requests refused with 429 or 503, by reason.\n";
  out += "# TYPE sprocket_rejections_total counter\n";
  for (const char* reason : {"budget", "queue_full", "queue_timeout"}) {
    auto it = rejections_.find(reason);
    out += fmt::format("sprocket_rejections_total{{reason=\"{}\"}} {}\n", reason, it == rejections_.end() ? 0 : it->second);
  }
  out += "# HELP sprocket_memory_kills_total Instances stopped for exceeding their memory limit.\n";
  out += "# TYPE sprocket_memory_kills_total counter\n";
  out += fmt::format("sprocket_memory_kills_total {}\n", memory_kills_);
  out += "# HELP sprocket_timeouts_total Executions stopped at their time limit.\n";
  out += "# TYPE sprocket_timeouts_total counter\n";
  out += fmt::format("sprocket_timeouts_total {}\n", timeouts_);
  out += "# HELP sprocket_instances Live function instances (worker processes).\n";
  out += "# TYPE sprocket_instances gauge\n";
  out += fmt::format("sprocket_instances {}\n", instances_ ? instances_() : 0);
  out += "# HELP sprocket_action_attempts_total Workflow action attempts by action and outcome.\n";
  out += "# TYPE sprocket_action_attempts_total counter\n";
  for (const auto& [key, n] : action_attempts_) {
    out += fmt::format("sprocket_action_attempts_total{{action=\"{}\",outcome=\"{}\"}} {}\n", label_value(key.first), key.second, n);
  }
  out += "# HELP sprocket_action_duration_seconds Run time of workflow action attempts.\n";
  out += "# TYPE sprocket_action_duration_seconds histogram\n";
  for (const auto& [a, h] : action_duration_) h.render(out, "sprocket_action_duration_seconds", fmt::format("action=\"{}\"", label_value(a)));
  out += "# HELP sprocket_actions_running Workflow action attempts running now.\n";
  out += "# TYPE sprocket_actions_running gauge\n";
  out += fmt::format("sprocket_actions_running {}\n", actions_running_ ? actions_running_() : 0);
  out += "# HELP sprocket_instance_starts_delayed_total Instance starts held back because a function's instances kept failing.\n";
  out += "# TYPE sprocket_instance_starts_delayed_total counter\n";
  out += fmt::format("sprocket_instance_starts_delayed_total {}\n", delayed_starts_ ? delayed_starts_() : 0);
  out += "# HELP sprocket_connection_events_total What a listener did against hostile or slow clients, by event.\n";
  out += "# TYPE sprocket_connection_events_total counter\n";
  for (const auto& [listener, source] : listeners_) {
    for (auto event : kConnectionEvents) {
      auto it = connection_events_.find({listener, std::string(event)});
      out += fmt::format("sprocket_connection_events_total{{listener=\"{}\",event=\"{}\"}} {}\n", label_value(listener), event,
                         it == connection_events_.end() ? 0 : it->second);
    }
  }
  std::vector<std::pair<std::string, ListenerGauges>> gauges;
  for (const auto& [listener, source] : listeners_) gauges.emplace_back(label_value(listener), source());
  auto listener_gauge = [&](std::string_view name, std::string_view help, std::size_t ListenerGauges::*field) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
    for (const auto& [listener, values] : gauges) out += fmt::format("{}{{listener=\"{}\"}} {}\n", name, listener, values.*field);
  };
  listener_gauge("sprocket_open_connections", "Client connections open now, by listener.", &ListenerGauges::connections);
  listener_gauge("sprocket_unsent_response_bytes", "Bytes of responses held until their clients read them, by listener.",
                 &ListenerGauges::unsent_bytes);
  out += "# HELP sprocket_execution_records_dropped_total Execution records never stored (a store that refused them past the held limit, for good, or at a stop).\n";
  out += "# TYPE sprocket_execution_records_dropped_total counter\n";
  out += fmt::format("sprocket_execution_records_dropped_total {}\n", records_dropped_ ? records_dropped_() : 0);
  out += "# HELP sprocket_execution_records_held Execution records held in memory for a store that refuses them for now.\n";
  out += "# TYPE sprocket_execution_records_held gauge\n";
  out += fmt::format("sprocket_execution_records_held {}\n", records_held_ ? records_held_() : 0);
  BudgetGauges budget = budget_ ? budget_() : BudgetGauges{};
  out += "# HELP sprocket_budget_backend Where the execution budgets are kept (1 for the backend in use).\n";
  out += "# TYPE sprocket_budget_backend gauge\n";
  out += fmt::format("sprocket_budget_backend{{backend=\"{}\"}} 1\n", label_value(budget.backend));
  out += "# HELP sprocket_budget_backend_degraded 1 while the shared budget cannot be reached and this node enforces its share alone.\n";
  out += "# TYPE sprocket_budget_backend_degraded gauge\n";
  out += fmt::format("sprocket_budget_backend_degraded {}\n", budget.degraded ? 1 : 0);
  out += "# HELP sprocket_budget_live_nodes Nodes sharing the budget, as the last sync saw them.\n";
  out += "# TYPE sprocket_budget_live_nodes gauge\n";
  out += fmt::format("sprocket_budget_live_nodes {}\n", budget.live_nodes);
  out += "# HELP sprocket_budget_syncs_total Successful syncs with the shared budget.\n";
  out += "# TYPE sprocket_budget_syncs_total counter\n";
  out += fmt::format("sprocket_budget_syncs_total {}\n", budget.syncs);
  out += "# HELP sprocket_budget_sync_errors_total Failed connections and syncs with the shared budget.\n";
  out += "# TYPE sprocket_budget_sync_errors_total counter\n";
  out += fmt::format("sprocket_budget_sync_errors_total {}\n", budget.sync_errors);
  return out;
}

}  // namespace sprocket::metrics
