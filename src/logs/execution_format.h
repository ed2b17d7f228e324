#pragma once
// Stored executions as `sprocket logs` and the admin API show them.
#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "store/store.h"

namespace sprocket::logs {

boost::json::object execution_to_json(const store::ExecutionRecord& record);
store::ExecutionRecord execution_from_json(const boost::json::object& object);

// HubSpot's `hs logs` layout: "<ISO> - SUCCESS - GET /path - Execution Time: 12ms - RequestId: ID", then
// the console lines (and, for errors, what went wrong). `compact` prints the header only.
std::string execution_text(const store::ExecutionRecord& record, bool compact = false);

// What `serve` prints for an execution on stderr: the header line, the console lines, and
// "REPORT RequestId: … Duration: … Queue: … [Max Memory Used: … MB] Cold Start: …".
std::vector<std::string> serve_lines(const store::ExecutionRecord& record);

}  // namespace sprocket::logs
