#pragma once
// Running one attempt of a workflow action in a worker: how to start the worker (Node.js or
// Python), the event HubSpot sends, and what the worker's answer means for the execution.
#include <boost/json/object.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "config/action_spec.h"
#include "runtime/dispatcher.h"
#include "runtime/worker.h"

namespace sprocket::actions {

inline constexpr std::chrono::milliseconds kActionTimeLimit = std::chrono::seconds(20);  // HubSpot's limits
inline constexpr int kActionMemoryMb = 128;

// argv, environment and load frame of a worker running `action` with `secrets` (which reach it
// through the socket, never argv or the environment of the process).
runtime::WorkerRecipe action_worker_recipe(const config::ActionSpec& action, const runtime::RuntimeSettings& settings,
                                           const runtime::ExposedSecrets& secrets, bool network = true);

// HubSpot's event — {origin: {portalId, actionDefinitionId}, object: {objectType, objectId},
// inputFields, callbackId} — with what `given` holds over the defaults.
boost::json::object make_event(const boost::json::object& given, std::int64_t portal_id, const std::string& callback_id);
std::string new_callback_id();  // "ap-…", unique per execution
std::string invoke_frame(const boost::json::object& event, std::uint64_t invocation_id);

// What an attempt came to.
struct AttemptOutcome {
  enum class Kind { Succeeded, Failed, Retry };
  Kind kind = Kind::Failed;
  std::string failure;  // Failed/Retry: THREW, RATE_LIMITED, TIMED_OUT, OUT_OF_MEMORY, CRASHED, INVALID_OUTPUT, …
  std::string error;    // a sentence (and the stack) a user can act on
  boost::json::object outputs;
  std::vector<std::string> problems;  // the output rules' findings
  std::vector<std::string> warnings;
  int memory_mb = 0;
  double duration_ms = 0;
};

AttemptOutcome interpret_attempt(const config::ActionSpec& action, const runtime::InvocationResult& result);

// The execution's result as the API shows it: {outputs, failure, error, problems, warnings}.
boost::json::object outcome_to_json(const AttemptOutcome& outcome);

}  // namespace sprocket::actions
