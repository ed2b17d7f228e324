#include "cli/actions_command.h"

#include <filesystem>
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <optional>
#include <sstream>

#include "actions/action_spec.h"
#include "config/dotenv.h"
#include "logs/log_format.h"
#include "runtime/dispatcher.h"
#include "runtime/worker.h"
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

}  // namespace

int run_actions_check(const std::string& path) {
  auto folders = find_actions_folders(path);
  if (folders.empty()) {
    fmt::print(stderr, "sprocket: no actions.json under {}; see docs/actions.md for the format\n", path);
    return 2;
  }
  int status = 0;
  for (const auto& folder : folders) {
    auto actions = actions::load_actions_folder(folder);
    if (!actions) {
      fmt::print(stderr, "{}\n", config::format_errors(actions.error()));
      status = 2;
      continue;
    }
    for (const auto& a : *actions) {
      fmt::print("{}  {}  {}  inputs: {}  outputs: {}\n", a.name, a.language == actions::Language::Node ? "node" : "python",
                 fs::relative(a.file, folder).string(), a.input_fields.size(), a.output_fields.size());
    }
  }
  return status;
}

int run_actions_test(const ActionTestOptions& o) {
  namespace json = boost::json;
  std::optional<actions::ActionSpec> action;
  for (const auto& folder : find_actions_folders(o.path)) {
    auto loaded = actions::load_actions_folder(folder);
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
  // The event HubSpot sends, with what the file gives over defaults.
  json::object event{{"origin", {{"portalId", o.account_id}, {"actionDefinitionId", 1}}},
                     {"object", {{"objectType", "CONTACT"}, {"objectId", 1}}},
                     {"inputFields", json::object{}},
                     {"callbackId", "ap-" + util::RequestIdGenerator().next()}};
  if (!o.event_file.empty()) {
    std::ifstream in(o.event_file);
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    json::value given = json::parse(text.str(), ec);
    if (!in || ec || !given.is_object()) {
      fmt::print(stderr, "sprocket: {} must hold a JSON object such as {{\"inputFields\": {{\"email\": \"a@b.c\"}}}}\n", o.event_file);
      return 2;
    }
    for (auto& [k, v] : given.get_object()) event[k] = v;
  }
  const json::value* inputs = event.if_contains("inputFields");
  if (inputs && inputs->is_object() && inputs->get_object().size() > actions::kMaxInputFields) {
    fmt::print(stderr, "sprocket: {} input fields; HubSpot passes at most {}\n", inputs->get_object().size(), actions::kMaxInputFields);
    return 2;
  }
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
  config::FunctionSpec spec;
  spec.name = action->name;
  spec.file = action->file;
  spec.folder = action->folder;
  accounts::AccountLimits limits;
  limits.memory_mb = 128;  // HubSpot: 128 MB and 20 s per action execution
  runtime::RuntimeSettings settings;
  settings.node_executable = o.node;
  settings.node_guest_dir = runtime::default_node_guest_dir();
  auto recipe = runtime::node_worker_recipe(spec, settings, limits, secrets);
  if (action->language == actions::Language::Python) {
    // The same frames and load message; the real interpreter, not a user-level shim (7 ms to
    // start instead of 77).
    recipe.process.argv = {"/usr/bin/python3", (settings.node_guest_dir.parent_path() / "python" / "bootstrap.py").string()};
    recipe.process.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"};
  }

  boost::asio::io_context io;
  std::optional<runtime::InvocationResult> result;
  std::optional<std::string> load_error;
  std::shared_ptr<runtime::Worker> worker;
  auto started_at = std::chrono::steady_clock::now();
  std::string frame = runtime::begin_frame();
  frame += json::serialize(json::object{{"type", "invoke"}, {"id", 1}, {"mode", "action"}, {"event", event}});
  runtime::finish_frame(frame);
  try {
    worker = runtime::Worker::launch(
        io, recipe.process, recipe.load_frame, nullptr, limits.memory_mb,
        [&](std::optional<std::string> error) {
          if (error) {
            load_error = error;
            return;
          }
          worker->invoke(std::make_shared<const std::string>(frame), std::chrono::seconds(20), [&](runtime::InvocationResult r) {
            result = std::move(r);
            worker->terminate();
          });
        },
        [&](runtime::Worker&) { io.stop(); }, nullptr);
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: cannot start Node.js: {}\n", e.what());
    return 2;
  }
  io.run();
  double total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_at).count();
  if (load_error || !result) {
    fmt::print("Status: FAILED\n{}\n", load_error ? *load_error : std::string("the action's process ended without an answer"));
    return 1;
  }
  for (const auto& line : result->logs) fmt::print("{}\n", logs::console_line(line.timestamp_ms, line.level, line.text));
  std::string status = "SUCCESS";
  std::vector<std::string> notes;
  json::object outputs;
  using Outcome = runtime::InvocationResult::Outcome;
  if (result->outcome == Outcome::Answered) {
    const json::value* text = result->frame.if_contains("valueJson");
    boost::system::error_code ec;
    json::value value = text && text->is_string() ? json::parse(text->get_string(), ec) : json::value();
    const json::value* fields = value.is_object() ? value.get_object().if_contains("outputFields") : nullptr;
    if (fields && fields->is_object()) outputs = fields->get_object();
    auto check = actions::check_outputs(*action, outputs);
    if (check.failure) status = "FAILED (" + *check.failure + ")";
    else if (check.fail_continue) status = "FAILED (FAIL_CONTINUE: the workflow continues)";
    notes = check.problems;
    for (auto& w : check.warnings) notes.push_back("warning: " + w);
  } else if (result->outcome == Outcome::Threw) {
    const json::value* error = result->frame.if_contains("error");
    const json::value* stack = error && error->is_object() ? error->get_object().if_contains("stack") : nullptr;
    status = "FAILED (the code threw)";
    notes.push_back(stack && stack->is_string() ? std::string(stack->get_string()) : "an error");
  } else {
    status = "FAILED";
    notes.push_back(result->detail);
  }
  const json::value* rss = result->frame.if_contains("maxRssKb");
  fmt::print("Status: {}\nOutputs: {}\n", status, json::serialize(outputs));
  for (const auto& n : notes) fmt::print("  {}\n", n);
  fmt::print("Memory: {} MB   Run time: {:.0f} ms (with the worker's start: {:.0f} ms)\n",
             rss && rss->is_number() ? (rss->to_number<std::int64_t>() + 1023) / 1024 : 0, result->execution_ms, total_ms);
  return status == "SUCCESS" ? 0 : 1;
}

}  // namespace sprocket::cli
