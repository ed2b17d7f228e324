#pragma once
// How both engines keep execution records and log lines: as JSON text, a page of records per
// row, with the keys that find a request id's page. Internal to store/: the format on disk is
// the same in SQLite and PostgreSQL, so `sprocket store migrate` copies pages as they are.
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/store.h"

namespace sprocket::store {

// Lines as JSON: [[timestamp_ms, "LEVEL", "text"], …].
std::string encode_lines(const std::vector<LogLineRecord>& lines);
std::vector<LogLineRecord> lines_from_json(const boost::json::value& v);
std::vector<LogLineRecord> decode_lines(const std::string& text);  // unreadable text: no lines

// The key of a request id in execution_request_keys: its first 16 hex digits (a UUIDv7's
// millisecond time, version and per-millisecond counter: unique, and in time order), or a hash
// of an id of another shape.
std::int64_t request_key(std::string_view id);
// The smallest key a UUIDv7 request id made at `unix_ms` can have.
std::int64_t request_key_at(std::int64_t unix_ms);

// One record of a page, appended to `out` as a JSON array.
void append_record(std::string& out, const ExecutionRecord& r);
std::optional<ExecutionRecord> decode_record(const boost::json::value& v);
bool matches(const ExecutionRecord& r, const ExecutionQuery& q);

// One row of execution_pages and what its lookup tables get: records already have their ids.
struct ExecutionPage {
  std::int64_t id = 0;  // the last record's id
  std::int64_t first_id = 0;
  std::int64_t min_started_ms = 0;
  std::int64_t max_started_ms = 0;
  std::string records;                                            // a JSON array of append_record
  std::vector<std::pair<std::string_view, std::int64_t>> functions;  // (function or path, account), once each: views into the records
  std::vector<std::int64_t> request_keys;                         // once each
};
ExecutionPage make_page(const std::vector<ExecutionRecord>& records);  // records: not empty, and outliving the page

// Reads a page's records that match `q`, appending to `out` until it holds `q.limit`: oldest
// first when following (`after_id`), else newest first. False once the limit is reached.
bool take_matching_records(const std::string& page_text, const ExecutionQuery& q, std::vector<ExecutionRecord>& out);

// The columns of an action execution, in the order read_execution reads them.
inline constexpr const char* kExecutionColumns =
    "SELECT id, account_id, action, callback_id, event, state, attempts, created_ms, next_run_ms, first_failure_ms, finished_ms, "
    "result, retries, lease_owner, lease_expires_ms FROM action_executions";

// One row of kExecutionColumns; `Row` is each engine's cursor: integer(col), text(col).
template <class Row>
ActionExecutionRecord read_execution(const Row& row) {
  ActionExecutionRecord e;
  e.id = row.integer(0);
  e.account_id = row.integer(1);
  e.action = row.text(2);
  e.callback_id = row.text(3);
  e.event_json = row.text(4);
  e.state = row.text(5);
  e.attempts = static_cast<int>(row.integer(6));
  e.created_ms = row.integer(7);
  e.next_run_ms = row.integer(8);
  e.first_failure_ms = row.integer(9);
  e.finished_ms = row.integer(10);
  e.result_json = row.text(11);
  e.retries = static_cast<int>(row.integer(12));
  e.lease_owner = row.text(13);
  e.lease_expires_ms = row.integer(14);
  return e;
}

}  // namespace sprocket::store
