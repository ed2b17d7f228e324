#include "cli/actions_command.h"

#include <filesystem>
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <boost/json.hpp>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "actions/action_worker.h"
#include "actions/output_rules.h"
#include "config/action_spec.h"
#include "cli/admin_client.h"
#include "config/dotenv.h"
#include "logs/log_format.h"
#include "runtime/dispatcher.h"
#include "runtime/worker.h"
#include "secrets/secret_values.h"
#include "util/request_id.h"

namespace sprocket::cli {
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> find_actions_folders(const std::string& path) {
  std::error_code ec;
  std::vector<fs::path> folders;
  if (fs::is_regular_file(fs::path(path) / "actions.json", ec)) {
    folders.push_back(path);
  } else {
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (it->is_directory(ec) && (name == "node_modules" || name.front() == '.')) {
        it.disable_recursion_pending();
        continue;
      }
      if (name == "actions.json") folders.push_back(it->path().parent_path());
    }
  }
  return folders;
}

// What `actions test` prints is redacted as a queued execution's attempt is: the values in
// .env are real secrets, and a terminal's output gets pasted into tickets and chats.
void redact_attempt(actions::AttemptOutcome& outcome, std::vector<runtime::LogLine>& lines, const runtime::ExposedSecrets& secrets) {
  for (auto& line : lines) secrets::redact_in_place(line.text, secrets);
  secrets::redact_in_place(outcome.error, secrets);
  for (auto& problem : outcome.problems) secrets::redact_in_place(problem, secrets);
  for (auto& warning : outcome.warnings) secrets::redact_in_place(warning, secrets);
  boost::json::value outputs = std::move(outcome.outputs);
  secrets::redact_json_strings(outputs, secrets);
  outcome.outputs = std::move(outputs.as_object());
}

}  // namespace

Expected<boost::json::object, std::string> read_event_file(const std::string& file) {
  if (file.empty()) return boost::json::object{};
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  boost::json::value given = boost::json::parse(text.str(), ec);
  if (!in || ec || !given.is_object()) {
    return Unexpected{fmt::format("{} must hold a JSON object such as {{\"inputFields\": {{\"email\": \"a@b.c\"}}}}", file)};
  }
  const boost::json::value* inputs = given.get_object().if_contains("inputFields");
  if (inputs && inputs->is_object() && inputs->get_object().size() > config::kMaxActionInputFields) {
    return Unexpected{fmt::format("{} has {} input fields; HubSpot passes at most {}", file, inputs->get_object().size(),
                                  config::kMaxActionInputFields)};
  }
  return std::move(given.get_object());
}

int run_actions_check(const std::string& path) {
  auto folders = find_actions_folders(path);
  if (folders.empty()) {
    fmt::print(stderr, "sprocket: no actions.json under {}; see docs/actions.md for the format\n", path);
    return 2;
  }
  int status = 0;
  for (const auto& folder : folders) {
    auto actions = config::load_actions_folder(folder);
    if (!actions) {
      fmt::print(stderr, "{}\n", config::format_errors(actions.error()));
      status = 2;
      continue;
    }
    for (const auto& a : *actions) {
      fmt::print("{}  {}  {}  inputs: {}  outputs: {}\n", a.name, a.language == config::ActionLanguage::Node ? "node" : "python",
                 fs::relative(a.file, folder).string(), a.input_fields.size(), a.output_fields.size());
    }
  }
  return status;
}

int run_actions_test(const ActionTestOptions& o) {
  namespace json = boost::json;
  std::optional<config::ActionSpec> action;
  for (const auto& folder : find_actions_folders(o.path)) {
    auto loaded = config::load_actions_folder(folder);
    if (!loaded) {
      fmt::print(stderr, "{}\n", config::format_errors(loaded.error()));
      return 2;
    }
    for (auto& a : *loaded) {
      if (a.name == o.name) action = std::move(a);
    }
  }
  if (!action) {
    fmt::print(stderr, "sprocket: no action named {} in the actions.json files under {}\n", o.name, o.path);
    return 2;
  }
  auto given = read_event_file(o.event_file);
  if (!given) {
    fmt::print(stderr, "sprocket: {}\n", given.error());
    return 2;
  }
  json::object event = actions::make_event(*given, o.account_id, actions::new_callback_id());
  // Secrets for a local test come from the folder's .env, as for functions.
  auto dotenv = config::read_dotenv_file(action->folder / ".env");
  runtime::ExposedSecrets secrets;
  for (const auto& name : action->secrets) {
    if (auto it = dotenv.find(name); it != dotenv.end()) secrets.emplace_back(name, it->second);
  }
  std::map<std::string, std::string> values(secrets.begin(), secrets.end());
  if (auto problem = actions::secret_budget_problem(*action, values)) {
    fmt::print(stderr, "sprocket: {}\n", *problem);
    return 2;
  }
  runtime::RuntimeSettings settings;
  runtime::GuestInstall guest;
  guest.node = o.node;
  guest.guest_dir = runtime::default_guest_dir();
  settings.launcher = runtime::make_direct_launcher(guest);
  auto recipe = actions::action_worker_recipe(*action, settings, secrets);

  // The memory limit holds here as in a queued run: a memory cgroup where one can be made,
  // else the worker's resident memory is polled (as `serve --memory-enforcement rss` does).
  std::string no_cgroups_reason;
  auto cgroups = runtime::MemoryCgroups::create(no_cgroups_reason);
  std::unique_ptr<runtime::WorkerCgroup> cgroup;
  if (cgroups) cgroup = cgroups->make_worker_cgroup("test", static_cast<std::size_t>(actions::kActionMemoryMb) * 1024 * 1024);

  boost::asio::io_context io;
  std::optional<runtime::InvocationResult> result;
  std::optional<std::string> load_error;
  std::shared_ptr<runtime::Worker> worker;
  boost::asio::steady_timer rss_poll(io);
  std::function<void()> poll_rss = [&] {
    rss_poll.expires_after(std::chrono::milliseconds(100));
    rss_poll.async_wait([&](boost::system::error_code ec) {
      if (ec || !worker) return;
      worker->enforce_rss_limit();
      poll_rss();
    });
  };
  auto started_at = std::chrono::steady_clock::now();
  auto frame = std::make_shared<const std::string>(actions::invoke_frame(event, 1));
  try {
    worker = runtime::Worker::launch(
        io, *settings.launcher, recipe.image, recipe.load_frame, std::move(cgroup), actions::kActionMemoryMb,
        [&](std::optional<std::string> error) {
          if (error) {
            load_error = error;
            return;
          }
          worker->invoke(frame, 1, actions::kActionTimeLimit, [&](runtime::InvocationResult r) {
            result = std::move(r);
            worker->terminate();
          });
        },
        [&](runtime::Worker&) {
          rss_poll.cancel();
          io.stop();
        },
        nullptr);
    if (!cgroups) poll_rss();
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: cannot start the action's worker: {}\n", e.what());
    return 2;
  }
  io.run();
  double total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_at).count();
  if (load_error || !result) {
    fmt::print("Status: FAILED\n{}\n",
               load_error ? secrets::redact(*load_error, secrets) : std::string("the action's process ended without an answer"));
    return 1;
  }
  auto outcome = actions::interpret_attempt(*action, *result);
  redact_attempt(outcome, result->logs, secrets);
  for (const auto& line : result->logs) fmt::print("{}\n", logs::console_line(line.timestamp_ms, line.level, line.text));
  using Kind = actions::AttemptOutcome::Kind;
  std::string status = outcome.kind == Kind::Succeeded ? "SUCCESS"
                       : outcome.kind == Kind::Retry   ? "FAILED (" + outcome.failure + ": a queued execution would be retried)"
                       : outcome.failure == "FAIL_CONTINUE" ? "FAILED (FAIL_CONTINUE: the workflow continues)"
                       : outcome.failure == "THREW"         ? "FAILED (the code threw)"
                                                            : "FAILED (" + outcome.failure + ")";
  fmt::print("Status: {}\nOutputs: {}\n", status, json::serialize(outcome.outputs));
  for (const auto& p : outcome.problems) fmt::print("  {}\n", p);
  for (const auto& w : outcome.warnings) fmt::print("  warning: {}\n", w);
  if (outcome.kind != Kind::Succeeded && outcome.problems.empty() && outcome.failure != "FAIL_CONTINUE") fmt::print("  {}\n", outcome.error);
  fmt::print("Memory: {} MB   Run time: {:.0f} ms (with the worker's start: {:.0f} ms)\n", outcome.memory_mb, outcome.duration_ms, total_ms);
  return outcome.kind == Kind::Succeeded ? 0 : 1;
}

namespace {

namespace json = boost::json;

std::string account_query(const ActionRunOptions& o) { return o.account_id ? fmt::format("?account={}", o.account_id) : ""; }

void print_execution(const json::object& e) {
  auto text = [&](const json::object& o, const char* key) {
    const json::value* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  std::string state = text(e, "state");
  std::string failure = text(e, "failure");
  fmt::print("Execution {} of {} ({})\nState: {}{}\n", json::serialize(e.at("id")), text(e, "action"), text(e, "callbackId"), state,
             failure.empty() ? "" : " (" + failure + ")");
  if (state == "queued" && !text(e, "nextAttemptAt").empty()) fmt::print("Next attempt: {}\n", text(e, "nextAttemptAt"));
  if (const json::value* outputs = e.if_contains("outputs"); outputs && outputs->is_object()) {
    fmt::print("Outputs: {}\n", json::serialize(*outputs));
  }
  if (!text(e, "error").empty()) fmt::print("Error: {}\n", text(e, "error"));
  for (const char* key : {"problems", "warnings"}) {
    if (const json::value* list = e.if_contains(key); list && list->is_array()) {
      for (const auto& item : list->get_array()) {
        if (item.is_string()) fmt::print("  {}{}\n", std::string_view(key) == "warnings" ? "warning: " : "", std::string_view(item.get_string()));
      }
    }
  }
  const json::value* attempts = e.if_contains("attempts");
  if (!attempts || !attempts->is_array()) return;
  for (const auto& value : attempts->get_array()) {
    if (!value.is_object()) continue;
    const auto& a = value.get_object();
    std::string delay;
    if (const json::value* d = a.if_contains("retryDelayMs"); d && d->is_number()) {
      delay = fmt::format(", retry after {} s", d->to_number<std::int64_t>() / 1000);
    }
    double ms = a.if_contains("durationMs") && a.at("durationMs").is_number() ? a.at("durationMs").to_number<double>() : 0;
    fmt::print("Attempt {} at {}: {} in {:.0f} ms{}\n", json::serialize(a.at("number")), text(a, "startedAt"), text(a, "outcome"), ms, delay);
    if (const json::value* lines = a.if_contains("logs"); lines && lines->is_array()) {
      for (const auto& l : lines->get_array()) {
        if (!l.is_object()) continue;
        fmt::print("  {} {} {}\n", text(l.get_object(), "timestamp"), text(l.get_object(), "level"), text(l.get_object(), "message"));
      }
    }
    if (text(a, "outcome") != "SUCCEEDED" && !text(a, "error").empty()) fmt::print("  {}\n", text(a, "error"));
  }
}

Expected<json::object, std::string> fetch_execution(const AdminEndpoint& endpoint, const ActionRunOptions& o, std::int64_t id) {
  return admin_json(endpoint, "GET", fmt::format("/api/v1/actions/executions/{}{}", id, account_query(o)));
}

int finish_with(const json::object& e, const ActionRunOptions& o) {
  if (o.json) fmt::print("{}\n", json::serialize(e));
  else print_execution(e);
  const json::value* state = e.if_contains("state");
  return state && state->is_string() && state->get_string() == "succeeded" ? 0 : 1;
}

}  // namespace

int run_actions_run(const ActionRunOptions& o) {
  auto given = read_event_file(o.event_file);
  if (!given) {
    fmt::print(stderr, "sprocket: {}\n", given.error());
    return 2;
  }
  auto endpoint = admin_endpoint(o.server, o.data_dir);
  if (!endpoint) {
    fmt::print(stderr, "sprocket: {}\n", endpoint.error());
    return 2;
  }
  auto queued = admin_json(*endpoint, "POST", fmt::format("/api/v1/actions/{}/executions{}", o.name, account_query(o)),
                           json::serialize(*given), 202);
  if (!queued) {
    fmt::print(stderr, "sprocket: the node refused the execution: {}\n", queued.error());
    return 2;
  }
  std::int64_t id = queued->at("id").to_number<std::int64_t>();
  if (!o.wait) {
    if (o.json) fmt::print("{}\n", json::serialize(*queued));
    else fmt::print("queued execution {} ({}); see it with: sprocket actions show {}\n", id, std::string_view(queued->at("callbackId").get_string()), id);
    return 0;
  }
  // Following an execution through its retries can take days at HubSpot's pace: poll gently.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(o.wait_seconds * 1000));
  auto pause = std::chrono::milliseconds(50);
  while (true) {
    auto e = fetch_execution(*endpoint, o, id);
    if (!e) {
      fmt::print(stderr, "sprocket: {}\n", e.error());
      return 2;
    }
    std::string state(e->at("state").get_string());
    if (state == "succeeded" || state == "failed") return finish_with(*e, o);
    if (o.wait_seconds > 0 && std::chrono::steady_clock::now() >= deadline) {
      fmt::print(stderr, "sprocket: execution {} is still {} after {} s\n", id, state, o.wait_seconds);
      finish_with(*e, o);
      return 3;
    }
    std::this_thread::sleep_for(pause);  // a CLI waiting on a server, not a test
    pause = std::min(pause * 2, std::chrono::milliseconds(1000));
  }
}

int run_actions_executions(const ActionRunOptions& o) {
  auto endpoint = admin_endpoint(o.server, o.data_dir);
  if (!endpoint) {
    fmt::print(stderr, "sprocket: {}\n", endpoint.error());
    return 2;
  }
  std::string target = fmt::format("/api/v1/actions/executions?limit={}", o.limit);
  if (o.account_id) target += fmt::format("&account={}", o.account_id);
  if (!o.name.empty()) target += "&action=" + url_encode(o.name);
  if (!o.state.empty()) target += "&state=" + o.state;
  auto body = admin_json(*endpoint, "GET", target);
  const json::value* list = body ? body->if_contains("executions") : nullptr;
  if (!list || !list->is_array()) {
    fmt::print(stderr, "sprocket: {}\n", body ? std::string("the node answered without an executions list") : body.error());
    return 2;
  }
  if (o.json) {
    fmt::print("{}\n", json::serialize(*list));
    return 0;
  }
  auto text = [](const json::object& e, const char* key) {
    const json::value* v = e.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string("-");
  };
  for (const auto& value : list->get_array()) {
    const auto& e = value.get_object();
    std::string state = text(e, "state");
    if (state == "failed") state += " (" + text(e, "failure") + ")";
    if (state == "queued" && text(e, "nextAttemptAt") != "-") state += " until " + text(e, "nextAttemptAt");
    fmt::print("{:>6}  {}  {:<20} {:<40} attempts: {}  {}\n", json::serialize(e.at("id")), text(e, "createdAt"), text(e, "action"),
               text(e, "callbackId"), json::serialize(e.at("attemptCount")), state);
  }
  return 0;
}

int run_actions_show(const ActionRunOptions& o) {
  auto endpoint = admin_endpoint(o.server, o.data_dir);
  if (!endpoint) {
    fmt::print(stderr, "sprocket: {}\n", endpoint.error());
    return 2;
  }
  auto e = fetch_execution(*endpoint, o, o.execution_id);
  if (!e) {
    fmt::print(stderr, "sprocket: {}\n", e.error());
    return 2;
  }
  return finish_with(*e, o);
}

}  // namespace sprocket::cli
