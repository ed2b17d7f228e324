#pragma once
// What a worker's answer to one attempt of a workflow action means: succeeded (its outputs
// checked against HubSpot's rules), failed, or to be retried. Apart from starting workers, so
// that the fuzz targets reach it without a dispatcher.
#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "config/action_spec.h"
#include "runtime/worker.h"

namespace sprocket::actions {

inline constexpr int kActionMemoryMb = 128;

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
