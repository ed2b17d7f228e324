#include "actions/action_runner.h"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <climits>
#include <future>
#include <random>

#include "actions/output_rules.h"
#include "logs/log_format.h"
#include "util/clock.h"

namespace sprocket::actions {
namespace asio = boost::asio;
namespace json = boost::json;
using Kind = AttemptOutcome::Kind;

namespace {

std::string identity(const config::ActionSpec& a) { return fmt::format("{}\n{}", a.account_index, a.name); }

// Every secret value the attempt may have seen: the ones it started with and any that arrived
// while it ran (an "env" frame reaches a worker at once).
runtime::ExposedSecrets all_values(const runtime::ExposedSecrets& a, const runtime::ExposedSecrets& b) {
  runtime::ExposedSecrets all = a;
  for (const auto& s : b) {
    if (std::find(all.begin(), all.end(), s) == all.end()) all.push_back(s);
  }
  return all;
}

std::string format_delay(std::chrono::milliseconds d) {
  auto s = d.count() / 1000;
  if (s < 3600) return fmt::format("{} min", s / 60);
  return fmt::format("{}h{:02}", s / 3600, (s % 3600) / 60);
}

}  // namespace

std::string new_node_id() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "node");
  std::random_device random;
  return fmt::format("{}-{}-{:08x}", host, ::getpid(), random());
}

ActionRunner::ActionRunner(asio::io_context& io, store::StoreExecutor& store, const accounts::Deployment& deployment,
                           ActionRunnerSettings settings, logs::LogSink& log, metrics::Metrics& metrics)
    : io_(io), store_(store), deployment_(deployment), settings_(std::move(settings)), log_(log), metrics_(metrics), poll_timer_(io),
      sweep_timer_(io), lease_timer_(io) {
  if (settings_.node_id.empty()) settings_.node_id = new_node_id();
}

ActionRunner::~ActionRunner() {
  stop();
  *alive_ = false;
}

void ActionRunner::set_actions(std::vector<config::ActionSpec> actions,
                               std::map<std::filesystem::path, std::map<std::string, std::string>> dotenv) {
  actions_ = std::move(actions);
  dotenv_ = std::move(dotenv);
  for (auto& [key, pool] : pools_) retired_.push_back(std::move(pool));
  pools_.clear();
  drop_idle_retired_pools();
  if (started_) poll();  // executions that waited for a deploy of their action can run now
}

void ActionRunner::drop_idle_retired_pools() {
  std::erase_if(retired_, [](const std::shared_ptr<Pool>& p) {
    if (p->running > 0) return false;
    p->pool->shutdown();
    return true;
  });
}

const config::ActionSpec* ActionRunner::find(std::int64_t account_id, const std::string& name) const {
  auto index = deployment_.index_of(account_id);
  if (!index) return nullptr;
  for (const auto& a : actions_) {
    if (a.account_index == *index && a.name == name) return &a;
  }
  return nullptr;
}

runtime::ExposedSecrets ActionRunner::secrets_for(const config::ActionSpec& action) const { return secrets_for(action, dotenv_); }

runtime::ExposedSecrets ActionRunner::secrets_for(const config::ActionSpec& action,
                                                  const std::map<std::filesystem::path, std::map<std::string, std::string>>& dotenv) const {
  auto managed = secrets_.find(deployment_.accounts[action.account_index].id);
  auto local = dotenv.find(action.folder);
  return runtime::select_secrets(action.secrets, managed == secrets_.end() ? nullptr : &managed->second,
                                 local == dotenv.end() ? nullptr : &local->second);
}

std::vector<std::string> ActionRunner::secret_budget_problems(const config::Catalog& catalog) const {
  std::vector<std::string> problems;
  for (const auto& action : catalog.actions) {
    auto secrets = secrets_for(action, catalog.dotenv_by_folder);
    if (auto problem = secret_budget_problem(action, std::map<std::string, std::string>(secrets.begin(), secrets.end()))) {
      problems.push_back(*problem + "; shorten them (sprocket secrets update) or split the action");
    }
  }
  return problems;
}

void ActionRunner::set_secrets(secrets::SecretValues values) {
  secrets_ = std::move(values);
  for (const auto& action : actions_) {
    auto it = pools_.find(identity(action));
    if (it != pools_.end()) pool_for(action, secrets_for(action));  // tells its workers what changed
  }
}

std::shared_ptr<ActionRunner::Pool> ActionRunner::pool_for(const config::ActionSpec& action, const runtime::ExposedSecrets& secrets) {
  auto& entry = pools_[identity(action)];
  if (entry) {
    if (entry->secrets != secrets) {
      entry->pool->update_environment(action_worker_recipe(action, settings_.runtime, secrets, deployment_.accounts[action.account_index].limits.network),
                                      runtime::environment_change_frame(entry->secrets, secrets));
      entry->secrets = secrets;
    }
    return entry;
  }
  entry = std::make_shared<Pool>();
  runtime::PoolSettings pool;
  pool.max_instances = settings_.concurrency;
  pool.time_limit = settings_.time_limit;
  pool.idle_timeout = settings_.runtime.idle_timeout;
  pool.memory_limit_mb = kActionMemoryMb;
  // The runner claims no more than it can run: a queue in the pool is never long, and an
  // execution waiting there is already marked running in the store.
  pool.max_queued = 10'000;
  pool.queue_timeout = std::chrono::hours(24);
  pool.pipeline_depth = 1;
  entry->secrets = secrets;
  std::string name = action.name;
  std::weak_ptr<Pool> weak = entry;
  entry->pool = std::make_unique<runtime::FunctionPool>(
      io_, *settings_.runtime.launcher, action_worker_recipe(action, settings_.runtime, secrets, deployment_.accounts[action.account_index].limits.network), pool, settings_.runtime.cgroups.get(), nullptr,
      [this, name, weak](std::vector<runtime::LogLine> lines) {
        // Output between attempts (a timer the code left running): shown, redacted, not stored.
        auto self = weak.lock();
        for (const auto& l : lines) {
          std::string text = self ? secrets::redact(l.text, self->secrets) : l.text;
          log_.write_line(fmt::format("[action {}] {}", name, logs::console_line(l.timestamp_ms, l.level, text)));
        }
      });
  return entry;
}

store::InterruptedActions ActionRunner::interrupted_actions(std::int64_t now_ms, std::int64_t lease_expired_before_ms) const {
  json::object give_up{{"outputs", json::object{}},
                       {"failure", "INTERRUPTED"},
                       {"error", fmt::format("the server stopped during {} attempts of this execution, so it is not run again "
                                             "(it may be what stopped the server)", kMaxInterruptions)},
                       {"problems", json::array{}},
                       {"warnings", json::array{}}};
  store::InterruptedActions which;
  which.now_ms = now_ms;
  which.lease_expired_before_ms = lease_expired_before_ms;
  which.why = "the server stopped during this attempt (a crash or kill): the execution runs again";
  which.max_interruptions = kMaxInterruptions;
  which.give_up_result = json::serialize(give_up);
  return which;
}

std::size_t ActionRunner::recover_interrupted() {
  std::promise<std::size_t> done;
  auto now = util::unix_now_ms();
  auto which = interrupted_actions(now, settings_.shared_queue ? now : INT64_MAX);
  store_.post([&](store::Store& s) {
    try {
      done.set_value(s.requeue_interrupted_actions(which));
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  return done.get_future().get();
}

void ActionRunner::start() {
  started_ = true;
  poll();
  sweep();
  tend_leases();
}

// Every third of a lease: this node's leases are renewed (they outlive an attempt's time limit
// only by being renewed), and on a shared queue what dead nodes left running is taken back.
void ActionRunner::tend_leases() {
  lease_timer_.expires_after(settings_.lease_duration / 3);
  lease_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
    if (ec || alive.expired() || stopped_) return;
    auto now = util::unix_now_ms();
    store::ActionLease lease{settings_.node_id, now + settings_.lease_duration.count()};
    std::optional<store::InterruptedActions> expired;
    if (settings_.shared_queue) expired = interrupted_actions(now, now);
    const bool renew = running_ > 0;
    store_.post([this, &io = io_, alive, lease, expired, renew](store::Store& s) {
      std::size_t requeued = 0;
      try {
        if (renew) s.renew_action_leases(lease);
        if (expired) requeued = s.requeue_interrupted_actions(*expired);
      } catch (const std::exception& e) {
        fmt::print(stderr, "sprocket: the leases of running action executions could not be renewed: {}; trying again\n", e.what());
      }
      asio::post(io, [this, alive, requeued] {
        if (alive.expired() || stopped_) return;
        if (requeued > 0) {
          fmt::print(stderr, "sprocket: {} action execution(s) whose node stopped renewing its lease run again\n", requeued);
          poll();
        }
        tend_leases();
      });
    });
  });
}

void ActionRunner::sweep() {
  auto interval = std::clamp(settings_.runtime.idle_timeout / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(10'000));
  // Without memory cgroups the workers' RSS is polled, as for functions.
  if (!settings_.runtime.cgroups) interval = std::min(interval, std::chrono::milliseconds(100));
  sweep_timer_.expires_after(interval);
  sweep_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
    if (ec || alive.expired() || stopped_) return;
    auto now = std::chrono::steady_clock::now();
    for (auto& [key, entry] : pools_) {
      entry->pool->stop_idle(now);
      if (!settings_.runtime.cgroups) entry->pool->enforce_rss_limits();
    }
    for (auto& entry : retired_) {
      if (!settings_.runtime.cgroups) entry->pool->enforce_rss_limits();
    }
    sweep();
  });
}

void ActionRunner::poll() {
  if (!started_ || stopped_ || draining_) return;
  if (polling_) {
    poll_again_ = true;
    return;
  }
  polling_ = true;
  std::size_t capacity = static_cast<std::size_t>(std::max(0, settings_.concurrency - running_));
  // The store thread touches nothing of the runner: the results come back by post, and the
  // runner may be gone by then.
  store::ActionLease lease{settings_.node_id, util::unix_now_ms() + settings_.lease_duration.count()};
  store_.post([this, &io = io_, capacity, lease, alive = std::weak_ptr<bool>(alive_)](store::Store& s) {
    std::vector<store::ActionExecutionRecord> claimed;
    std::optional<std::int64_t> next_due;
    std::int64_t now = util::unix_now_ms();
    try {
      claimed = s.claim_due_actions(now, capacity, lease);
      next_due = s.next_action_due_ms();
    } catch (const std::exception& e) {
      fmt::print(stderr, "sprocket: the action queue could not be read: {}; trying again\n", e.what());
    }
    asio::post(io, [this, alive, claimed = std::move(claimed), next_due, now]() mutable {
      if (alive.expired()) return;
      polling_ = false;
      // Stopped meanwhile: what was just claimed stays running in the store, and runs at the next start.
      if (stopped_) return;
      for (auto& execution : claimed) run(std::move(execution), now);
      if (poll_again_) {
        poll_again_ = false;
        poll();
      } else {
        schedule_poll(next_due);
      }
    });
  });
}

void ActionRunner::schedule_poll(std::optional<std::int64_t> next_due_ms) {
  if (stopped_ || draining_) return;
  auto delay = settings_.poll_interval;
  if (next_due_ms && running_ < settings_.concurrency) {
    delay = std::clamp(std::chrono::milliseconds(*next_due_ms - util::unix_now_ms()), std::chrono::milliseconds(1), delay);
  }
  poll_timer_.expires_after(delay);
  poll_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
    if (!ec && !alive.expired()) poll();
  });
}

void ActionRunner::run(store::ActionExecutionRecord execution, std::int64_t started_ms) {
  ++running_;
  const config::ActionSpec* action = find(execution.account_id, execution.action);
  if (!action) {
    AttemptOutcome outcome;
    outcome.failure = "ACTION_NOT_DEPLOYED";
    outcome.error = fmt::format("account {} has no action named {} any more (it was removed by a deploy or reload)",
                                execution.account_id, execution.action);
    return finish(std::move(execution), started_ms, outcome, {}, {});
  }
  auto secrets = secrets_for(*action);
  std::map<std::string, std::string> values(secrets.begin(), secrets.end());
  if (auto problem = secret_budget_problem(*action, values)) {
    AttemptOutcome outcome;
    outcome.failure = "SECRETS_TOO_LARGE";
    outcome.error = *problem;
    return finish(std::move(execution), started_ms, outcome, {}, secrets);
  }
  boost::system::error_code ec;
  json::value event = json::parse(execution.event_json, ec);
  if (ec || !event.is_object()) event = json::object{};
  config::ActionSpec spec = *action;  // the code this attempt runs, whatever is deployed meanwhile
  auto pool = pool_for(spec, secrets);
  ++pool->running;
  std::uint64_t invocation_id = ++invocations_;
  pool->pool->submit(
      invocation_id, invoke_frame(event.get_object(), invocation_id),
      [this, alive = std::weak_ptr<bool>(alive_), pool, spec = std::move(spec), execution = std::move(execution), started_ms,
       secrets](runtime::InvocationReport report) mutable {
        if (alive.expired()) return;
        --pool->running;
        if (std::find(retired_.begin(), retired_.end(), pool) != retired_.end()) {
          // Not from inside the pool's own callback: it may be freed.
          asio::post(io_, [this, alive] {
            if (!alive.expired()) drop_idle_retired_pools();
          });
        }
        using Outcome = runtime::InvocationResult::Outcome;
        auto cut_off = report.result.outcome == Outcome::Crashed || report.result.outcome == Outcome::NotStarted;
        if (stopped_ && cut_off) {
          // Killed by the shutdown, not by its own doing: it stays running in the store and runs
          // again at the next start.
          --running_;
          return;
        }
        std::vector<store::LogLineRecord> lines;
        for (auto& l : report.result.logs) lines.push_back({l.timestamp_ms, std::move(l.level), std::move(l.text)});
        finish(std::move(execution), started_ms, interpret_attempt(spec, report.result), std::move(lines),
               all_values(secrets, pool->secrets));
      });
}

void ActionRunner::finish(store::ActionExecutionRecord execution, std::int64_t started_ms, const AttemptOutcome& outcome,
                          std::vector<store::LogLineRecord> lines, const runtime::ExposedSecrets& secrets) {
  std::int64_t now = util::unix_now_ms();
  store::ActionAttemptRecord attempt;
  attempt.number = execution.attempts;
  attempt.started_ms = started_ms;
  attempt.finished_ms = now;
  attempt.duration_ms = outcome.duration_ms;
  attempt.memory_mb = outcome.memory_mb;
  attempt.error = secrets::redact(outcome.error, secrets);
  for (auto& l : lines) l.text = secrets::redact(l.text, secrets);
  attempt.lines = std::move(lines);
  json::object result = outcome_to_json(outcome);
  std::string summary;
  if (outcome.kind == Kind::Succeeded) {
    attempt.outcome = "SUCCEEDED";
    execution.state = "succeeded";
    execution.finished_ms = now;
    summary = "SUCCEEDED";
  } else if (outcome.kind == Kind::Retry) {
    if (execution.first_failure_ms == 0) execution.first_failure_ms = now;
    auto since = settings_.clock.to_schedule(std::chrono::milliseconds(now - execution.first_failure_ms));
    if (auto delay = next_retry_delay(execution.retries, since)) {
      attempt.outcome = "RETRY";
      attempt.retry_delay_ms = delay->count();
      execution.state = "queued";
      execution.retries += 1;
      execution.next_run_ms = now + settings_.clock.to_real(*delay).count();
      summary = fmt::format("RETRY in {} ({})", format_delay(*delay), outcome.failure);
    } else {
      attempt.outcome = "FAILED";
      execution.state = "failed";
      execution.finished_ms = now;
      result["failure"] = "RETRIES_EXHAUSTED";
      result["error"] = fmt::format("still failing after {} attempts over 3 days; the last error: {}", execution.attempts, outcome.error);
      summary = "FAILED (RETRIES_EXHAUSTED)";
    }
  } else {
    attempt.outcome = "FAILED";
    execution.state = "failed";
    execution.finished_ms = now;
    summary = fmt::format("FAILED ({})", outcome.failure);
  }
  // What the API and the logs show of an attempt's result: no secret value, wherever the code
  // put one (an output, a value quoted by the output rules).
  json::value shown = std::move(result);
  secrets::redact_json_strings(shown, secrets);
  execution.result_json = json::serialize(shown);
  metrics_.action_attempt(fmt::format("{}/{}", execution.account_id, execution.action), attempt.outcome, outcome.duration_ms / 1000);
  log_.write_line(fmt::format("{} - action {} {} attempt {}: {} in {:.1f} ms, {} MB", logs::iso_timestamp(started_ms), execution.action,
                              execution.callback_id, attempt.number, summary, outcome.duration_ms, outcome.memory_mb));
  for (const auto& l : attempt.lines) log_.write_line(logs::console_line(l.timestamp_ms, l.level, l.text));
  store_result(std::move(execution), std::move(attempt));
}

void ActionRunner::store_result(store::ActionExecutionRecord execution, store::ActionAttemptRecord attempt) {
  store_.post([this, &io = io_, alive = std::weak_ptr<bool>(alive_), execution = std::move(execution),
               attempt = std::move(attempt)](store::Store& s) mutable {
    std::string failed;
    try {
      s.finish_action_attempt(execution, attempt);
    } catch (const std::exception& e) {
      failed = e.what();
    }
    asio::post(io, [this, alive, failed, execution = std::move(execution), attempt = std::move(attempt)]() mutable {
      if (alive.expired()) return;
      if (failed.empty() || stopped_) return attempt_done();  // stopped: it stays running, and runs at the next start
      // A busy or full disk: keep the result and write it again shortly, so that the execution
      // neither stays "running" until a restart nor runs twice.
      fmt::print(stderr, "sprocket: the result of action execution {} could not be stored ({}); trying again in 1 s\n", execution.id,
                 failed);
      auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(1));
      timer->async_wait([this, alive, timer, execution = std::move(execution), attempt = std::move(attempt)](boost::system::error_code) mutable {
        if (!alive.expired()) store_result(std::move(execution), std::move(attempt));
      });
    });
  });
}

void ActionRunner::attempt_done() {
  --running_;
  if (draining_ && running_ == 0 && on_idle_) std::exchange(on_idle_, nullptr)();
  poll();
}

void ActionRunner::enqueue(std::int64_t account_id, const std::string& name, const json::object& given_event, EnqueueDone done) {
  const config::ActionSpec* action = find(account_id, name);
  if (!action) {
    std::vector<std::string> names;
    auto index = deployment_.index_of(account_id);
    for (const auto& a : actions_) {
      if (index && a.account_index == *index) names.push_back(a.name);
    }
    return done(EnqueueOutcome{404, fmt::format("account {} has no action named {}; it has: {}", account_id, name,
                                                names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")))});
  }
  if (const json::value* inputs = given_event.if_contains("inputFields")) {
    if (!inputs->is_object()) return done(EnqueueOutcome{400, "inputFields must be an object of property names and values"});
    if (inputs->get_object().size() > config::kMaxActionInputFields) {
      return done(EnqueueOutcome{400, fmt::format("{} input fields; HubSpot passes at most {}", inputs->get_object().size(),
                                                  config::kMaxActionInputFields)});
    }
  }
  store::ActionExecutionRecord execution;
  execution.account_id = account_id;
  execution.action = name;
  execution.callback_id = new_callback_id();
  execution.event_json = json::serialize(make_event(given_event, account_id, execution.callback_id));
  execution.created_ms = execution.next_run_ms = util::unix_now_ms();
  store_.post([this, &io = io_, alive = std::weak_ptr<bool>(alive_), execution = std::move(execution),
               done = std::move(done)](store::Store& s) mutable {
    EnqueueOutcome outcome;
    try {
      s.enqueue_action(execution);
      outcome.execution = std::move(execution);
    } catch (const std::exception& e) {
      outcome = EnqueueOutcome{500, fmt::format("the execution could not be stored: {}", e.what())};
    }
    asio::post(io, [this, alive, outcome = std::move(outcome), done = std::move(done)]() mutable {
      if (alive.expired()) return;
      done(std::move(outcome));
      poll();
    });
  });
}

void ActionRunner::drain(std::function<void()> idle) {
  draining_ = true;
  poll_timer_.cancel();
  if (running_ == 0) return idle();
  on_idle_ = std::move(idle);
}

void ActionRunner::stop() {
  if (stopped_) return;
  stopped_ = true;
  on_idle_ = nullptr;
  poll_timer_.cancel();
  sweep_timer_.cancel();
  lease_timer_.cancel();
  if (settings_.shared_queue) {
    // What this stop cuts off is let go at once: the other nodes take it back at their next
    // look instead of waiting for the lease to run out.
    store_.post([lease = store::ActionLease{settings_.node_id, 0}](store::Store& s) {
      try {
        s.renew_action_leases(lease);
      } catch (const std::exception&) {
        // Then the lease runs out by itself.
      }
    });
  }
  for (auto& [key, entry] : pools_) entry->pool->shutdown();
  for (auto& entry : retired_) entry->pool->shutdown();
}

}  // namespace sprocket::actions
