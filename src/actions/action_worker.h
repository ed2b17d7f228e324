#pragma once
// Running one attempt of a workflow action in a worker: how to start the worker (Node.js or
// Python) and the event HubSpot sends; what its answer means is attempt_outcome.h.
#include <boost/json/object.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "actions/attempt_outcome.h"
#include "config/action_spec.h"
#include "runtime/dispatcher.h"
#include "runtime/worker.h"

namespace sprocket::actions {

inline constexpr std::chrono::milliseconds kActionTimeLimit = std::chrono::seconds(20);  // HubSpot's limits

// argv, environment and load frame of a worker running `action` with `secrets` (which reach it
// through the socket, never argv or the environment of the process).
runtime::WorkerRecipe action_worker_recipe(const config::ActionSpec& action, const runtime::RuntimeSettings& settings,
                                           const runtime::ExposedSecrets& secrets, bool network = true);

// HubSpot's event — {origin: {portalId, actionDefinitionId}, object: {objectType, objectId},
// inputFields, callbackId} — with what `given` holds over the defaults.
boost::json::object make_event(const boost::json::object& given, std::int64_t portal_id, const std::string& callback_id);
std::string new_callback_id();  // "ap-…", unique per execution
std::string invoke_frame(const boost::json::object& event, std::uint64_t invocation_id);

}  // namespace sprocket::actions
