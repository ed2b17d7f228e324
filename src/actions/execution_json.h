#pragma once
// A queued action execution as the admin API shows it (docs/admin-api.md).
#include <boost/json/object.hpp>

#include "store/store.h"

namespace sprocket::actions {

// {id, accountId, action, callbackId, state, attemptCount, createdAt, nextAttemptAt, finishedAt,
//  event, outputs, failure, error, problems, warnings, attempts: [{number, outcome, …, logs}]}
boost::json::object execution_to_json(const store::ActionExecutionRecord& execution);

}  // namespace sprocket::actions
