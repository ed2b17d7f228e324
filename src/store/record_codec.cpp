#include "store/record_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <set>

#include "util/json_text.h"

namespace sprocket::store {

std::string encode_lines(const std::vector<LogLineRecord>& lines) {
  std::string out = "[";
  for (const auto& l : lines) {
    if (out.size() > 1) out += ',';
    out += '[';
    out += std::to_string(l.timestamp_ms);
    out += ',';
    util::append_json_string(out, l.level);
    out += ',';
    util::append_json_string(out, l.text);
    out += ']';
  }
  out += ']';
  return out;
}

std::vector<LogLineRecord> lines_from_json(const boost::json::value& v) {
  std::vector<LogLineRecord> lines;
  if (!v.is_array()) return lines;
  for (const auto& e : v.get_array()) {
    if (!e.is_array() || e.get_array().size() != 3) continue;
    const auto& a = e.get_array();
    if (!a[0].is_number() || !a[1].is_string() || !a[2].is_string()) continue;
    lines.push_back({a[0].to_number<std::int64_t>(), std::string(a[1].get_string()), std::string(a[2].get_string())});
  }
  return lines;
}

std::vector<LogLineRecord> decode_lines(const std::string& text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  return ec ? std::vector<LogLineRecord>{} : lines_from_json(v);
}

// The key of a request id in execution_request_keys: its first 16 hex digits (a UUIDv7's
// millisecond time, version and per-millisecond counter: unique, and in time order), or a hash
// of an id of another shape.
std::int64_t request_key(std::string_view id) {
  std::uint64_t key = 0;
  int digits = 0;
  for (char c : id) {
    if (c == '-') continue;
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (v < 0) {
      digits = -1;
      break;
    }
    key = key << 4 | static_cast<std::uint64_t>(v);
    if (++digits == 16) break;
  }
  if (digits != 16) {
    key = 1469598103934665603ULL;  // FNV-1a
    for (unsigned char c : id) key = (key ^ c) * 1099511628211ULL;
  }
  return static_cast<std::int64_t>(key & 0x7FFFFFFFFFFFFFFFULL);
}

// The smallest key a UUIDv7 request id made at `unix_ms` can have.
std::int64_t request_key_at(std::int64_t unix_ms) { return std::max<std::int64_t>(0, unix_ms) << 16; }

// One record of a page: [id, request_id, account_id, function, method, path, http_status,
// status, execution_ms, queue_ms, memory_mb, cold_start, started_ms, error, lines].
void append_record(std::string& out, const ExecutionRecord& r) {
  out += '[';
  out += std::to_string(r.id);
  out += ',';
  util::append_json_string(out, r.request_id);
  out += ',';
  out += std::to_string(r.account_id);
  out += ',';
  util::append_json_string(out, r.function);
  out += ',';
  util::append_json_string(out, r.method);
  out += ',';
  util::append_json_string(out, r.path);
  out += fmt::format(",{},", r.http_status);
  util::append_json_string(out, r.status);
  auto finite = [](double v) { return std::isfinite(v) ? v : 0.0; };  // JSON has no inf or nan
  out += fmt::format(",{},{},{},{},{},", finite(r.execution_ms), finite(r.queue_ms), r.memory_mb, r.cold_start ? 1 : 0, r.started_ms);
  util::append_json_string(out, r.error);
  out += ',';
  out += encode_lines(r.lines);
  out += ']';
}

std::optional<ExecutionRecord> decode_record(const boost::json::value& v) {
  if (!v.is_array() || v.get_array().size() != 15) return std::nullopt;
  const auto& a = v.get_array();
  auto text = [&](std::size_t i) { return a[i].is_string() ? std::string(a[i].get_string()) : std::string(); };
  auto integer = [&](std::size_t i) { return a[i].is_number() ? a[i].to_number<std::int64_t>() : 0; };
  auto real = [&](std::size_t i) { return a[i].is_number() ? a[i].to_number<double>() : 0.0; };
  ExecutionRecord r;
  r.id = integer(0);
  r.request_id = text(1);
  r.account_id = integer(2);
  r.function = text(3);
  r.method = text(4);
  r.path = text(5);
  r.http_status = static_cast<int>(integer(6));
  r.status = text(7);
  r.execution_ms = real(8);
  r.queue_ms = real(9);
  r.memory_mb = static_cast<int>(integer(10));
  r.cold_start = integer(11) != 0;
  r.started_ms = integer(12);
  r.error = text(13);
  r.lines = lines_from_json(a[14]);
  return r;
}

bool matches(const ExecutionRecord& r, const ExecutionQuery& q) {
  if (q.account_id && r.account_id != *q.account_id) return false;
  if (q.function && r.function != *q.function && r.path != *q.function) return false;
  if (q.request_id && r.request_id != *q.request_id) return false;
  if (q.since_ms && r.started_ms < *q.since_ms) return false;
  if (q.after_id && r.id <= *q.after_id) return false;
  return true;
}

ExecutionPage make_page(const std::vector<ExecutionRecord>& records) {
  ExecutionPage page;
  page.id = records.back().id;
  page.first_id = records.front().id;
  page.min_started_ms = page.max_started_ms = records.front().started_ms;
  page.records = "[";
  page.records.reserve(records.size() * 200);
  std::set<std::pair<std::string_view, std::int64_t>> functions;
  std::set<std::int64_t> keys;
  for (const auto& r : records) {
    if (page.records.size() > 1) page.records += ',';
    append_record(page.records, r);
    page.min_started_ms = std::min(page.min_started_ms, r.started_ms);
    page.max_started_ms = std::max(page.max_started_ms, r.started_ms);
    functions.emplace(r.function, r.account_id);
    functions.emplace(r.path, r.account_id);
    keys.insert(request_key(r.request_id));
  }
  page.records += ']';
  page.functions.assign(functions.begin(), functions.end());
  page.request_keys.assign(keys.begin(), keys.end());
  return page;
}

bool take_matching_records(const std::string& page_text, const ExecutionQuery& q, std::vector<ExecutionRecord>& out) {
  boost::system::error_code ec;
  auto page = boost::json::parse(page_text, ec);
  if (ec || !page.is_array()) return out.size() < q.limit;
  auto& list = page.get_array();
  auto take = [&](const boost::json::value& v) {
    auto r = decode_record(v);
    if (r && matches(*r, q)) out.push_back(std::move(*r));
    return out.size() < q.limit;
  };
  if (q.after_id) {
    for (auto it = list.begin(); it != list.end() && take(*it); ++it) {
    }
  } else {
    for (auto it = list.rbegin(); it != list.rend() && take(*it); ++it) {
    }
  }
  return out.size() < q.limit;
}

}  // namespace sprocket::store
