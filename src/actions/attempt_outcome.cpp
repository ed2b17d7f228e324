#include "actions/attempt_outcome.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "actions/output_rules.h"

namespace sprocket::actions {
namespace json = boost::json;
using Outcome = runtime::InvocationResult::Outcome;

AttemptOutcome interpret_attempt(const config::ActionSpec& action, const runtime::InvocationResult& result) {
  AttemptOutcome out;
  out.duration_ms = result.execution_ms;
  out.memory_mb = static_cast<int>((result.max_rss_kb + 1023) / 1024);
  auto failed = [&](std::string failure, std::string error) {
    out.kind = AttemptOutcome::Kind::Failed;
    out.failure = std::move(failure);
    out.error = std::move(error);
    return out;
  };
  switch (result.outcome) {
    case Outcome::Answered: {
      const json::value* text = result.frame.if_contains("valueJson");
      boost::system::error_code ec;
      json::value value = text && text->is_string() ? runtime::parse_worker_json(text->get_string(), ec) : json::value();
      if (ec == json::error::too_deep) {
        return failed("INVALID_OUTPUT", fmt::format("the action's result nests JSON more than {} levels deep", runtime::kMaxWorkerJsonDepth));
      }
      if (ec) return failed("INVALID_OUTPUT", "the action's result is not valid JSON (NaN or Infinity in an output, or a lone UTF-16 surrogate such as \\ud800?)");
      const json::value* fields = value.is_object() ? value.get_object().if_contains("outputFields") : nullptr;
      if (fields && fields->is_object()) out.outputs = fields->get_object();
      auto check = check_outputs(action, out.outputs);
      out.problems = std::move(check.problems);
      out.warnings = std::move(check.warnings);
      if (check.failure) return failed(*check.failure, fmt::format("the outputs break HubSpot's rules: {}", fmt::join(out.problems, "; ")));
      if (check.fail_continue) return failed("FAIL_CONTINUE", "the action set hs_execution_state to FAIL_CONTINUE: it failed, and the workflow continues");
      out.kind = AttemptOutcome::Kind::Succeeded;
      return out;
    }
    case Outcome::Threw: {
      const json::value* error = result.frame.if_contains("error");
      const json::object* e = error && error->is_object() ? &error->get_object() : nullptr;
      const json::value* stack = e ? e->if_contains("stack") : nullptr;
      std::string text = stack && stack->is_string() ? std::string(stack->get_string()) : "the code threw an error";
      const json::value* retry = e ? e->if_contains("retry") : nullptr;
      if (retry && retry->is_string()) {
        out.kind = AttemptOutcome::Kind::Retry;
        out.failure = "RATE_LIMITED";
        out.error = fmt::format("{} — retried, as HubSpot retries rate limits and 429/5XX answers\n{}", std::string_view(retry->get_string()), text);
        return out;
      }
      return failed("THREW", text);
    }
    case Outcome::TimedOut:
      return failed("TIMED_OUT", result.detail);  // "Task timed out after 20.00 seconds"
    case Outcome::OutOfMemory:
      return failed("OUT_OF_MEMORY", fmt::format("Memory limit of {} MB exceeded", kActionMemoryMb));
    case Outcome::QueueFull:
    case Outcome::QueueTimeout:
    case Outcome::NotStarted:
      return failed("NOT_STARTED", "no worker could run it: " + result.detail);
    case Outcome::Crashed:
      if (result.frame.contains("loadError")) return failed("LOAD_ERROR", "the action's code could not be loaded: " + result.detail);
      break;
  }
  return failed("CRASHED", "the action's process ended without an answer: " + result.detail);
}

json::object outcome_to_json(const AttemptOutcome& o) {
  json::array problems, warnings;
  for (const auto& p : o.problems) problems.emplace_back(p);
  for (const auto& w : o.warnings) warnings.emplace_back(w);
  return json::object{{"outputs", o.outputs},
                      {"failure", o.failure.empty() ? json::value(nullptr) : json::value(o.failure)},
                      {"error", o.error.empty() ? json::value(nullptr) : json::value(o.error)},
                      {"problems", problems},
                      {"warnings", warnings}};
}

}  // namespace sprocket::actions
