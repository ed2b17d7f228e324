#include "http/request_context.h"

#include <algorithm>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <functional>
#include <limits>
#include <unordered_map>

#include "util/json_text.h"

namespace sprocket::http {
namespace json = boost::json;
namespace beast_http = boost::beast::http;

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void append_params(std::string& out, const ParamMap& params) {
  out += '{';
  bool first = true;
  for (const auto& [name, values] : params) {
    if (!first) out += ',';
    first = false;
    util::append_json_string(out, name);
    out += ":[";
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) out += ',';
      util::append_json_string(out, values[i]);
    }
    out += ']';
  }
  out += '}';
}

bool is_json_media_type(std::string_view type) {
  return type == "application/json" || (type.size() > 5 && type.substr(type.size() - 5) == "+json");
}

// "line 2, column 8 (byte 14)" for the byte at `offset`.
std::string position_of(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  int line = 1, column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return fmt::format("line {}, column {} (byte {})", line, column, offset);
}

// Parses a request body as one JSON value. Boost.JSON's default depth limit (32) refuses
// ordinary documents, so the limit is ours. Its parser (and a value's copy and destructor)
// recurse once per level: at the limit, building a context takes about 100 KB of stack, and
// the event loop runs on the main thread's 8 MB (DeepestJsonBodiesFitInASmallStack).
Expected<json::value, RequestError> parse_json_body(std::string_view text) {
  json::parse_options options;
  options.max_depth = kMaxJsonBodyDepth;
  json::stream_parser parser(json::storage_ptr(), options);
  boost::system::error_code ec;
  std::size_t consumed = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec == json::error::too_deep) {
    return Unexpected{RequestError{400, fmt::format("The request body nests JSON more than {} levels deep (at {}); the limit is "
                                                    "{} levels. Send a flatter document.",
                                                    kMaxJsonBodyDepth, position_of(text, consumed), kMaxJsonBodyDepth)}};
  }
  if (ec) {
    return Unexpected{RequestError{400, fmt::format("The request body is not valid JSON: {} at {}. "
                                                    "Send valid JSON with Content-Type: application/json.",
                                                    ec.message(), position_of(text, consumed))}};
  }
  return parser.release();
}

// Finds the entries of a vector of (name, value) pairs by name: by a linear search while there
// are few (the usual request: quickest), through a hash index past that, so that a lookup costs
// the same however many entries came before. Searching linearly per field took 5 s for an
// 80,000-field form, and 70 ms for 64 KiB of tiny headers, on the event loop.
template <class Value>
class NamedEntries {
 public:
  using Entries = std::vector<std::pair<std::string, Value>>;

  explicit NamedEntries(Entries& entries) : entries_(entries) { index_new_entries(); }

  Value* find(std::string_view name) {
    if (indexed_ == 0) {
      auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first == name; });
      return it == entries_.end() ? nullptr : &it->second;
    }
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second].second;
  }

  // For a name that find() did not find.
  void add(std::string name, Value value) {
    entries_.emplace_back(std::move(name), std::move(value));
    index_new_entries();
  }

 private:
  static constexpr std::size_t kSearchedLinearly = 16;

  void index_new_entries() {
    if (entries_.size() <= kSearchedLinearly) return;
    for (; indexed_ < entries_.size(); ++indexed_) index_.emplace(entries_[indexed_].first, indexed_);
  }

  // Heterogeneous lookup: a string_view finds a std::string key without a copy.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
  };
  Entries& entries_;
  std::size_t indexed_ = 0;
  std::unordered_map<std::string, std::size_t, NameHash, std::equal_to<>> index_;  // name → its place in entries_
};

// Adds query-string and form fields to a ParamMap in arrival order, each in the same time
// however many came before. Stops at the first field past `max_fields`.
class ParamCollector {
 public:
  ParamCollector(ParamMap& params, std::size_t max_fields) : params_(params), max_fields_(max_fields) {
    for (const auto& [name, values] : params) fields_ += values.size();
  }

  // False when the text holds more fields than the limit leaves room for.
  bool add_urlencoded(std::string_view text) {
    while (!text.empty()) {
      std::size_t amp = text.find('&');
      std::string_view pair = text.substr(0, amp);
      text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
      if (pair.empty()) continue;
      if (fields_ >= max_fields_) return false;
      ++fields_;
      std::size_t eq = pair.find('=');
      std::string name = percent_decode(pair.substr(0, eq), true);
      std::string value = eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true);
      if (auto* values = params_.find(name)) {
        values->push_back(std::move(value));
      } else {
        params_.add(std::move(name), {std::move(value)});
      }
    }
    return true;
  }

 private:
  NamedEntries<std::vector<std::string>> params_;
  const std::size_t max_fields_;
  std::size_t fields_ = 0;
};

RequestError too_many_params() {
  return RequestError{413,
                      fmt::format("The request has more than {} query-string and form fields; the limit is {} fields per "
                                  "request. Send larger data as a JSON body.",
                                  kMaxRequestParams, kMaxRequestParams),
                      "TOO_MANY_PARAMETERS"};
}

std::string_view strip_bom(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return text;
}

std::string_view trim_json_whitespace(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

void append_headers(std::string& out, const Request& request, const ContextInputs& inputs) {
  // Lower-cased names; repeated headers joined as RFC 9110 allows (cookies with "; ").
  std::vector<std::pair<std::string, std::string>> entries;
  entries.reserve(16);
  NamedEntries<std::string> headers(entries);
  for (const auto& field : request) {
    std::string name = lower(field.name_string());
    if (std::string* joined = headers.find(name)) {
      *joined += name == "cookie" ? "; " : ", ";
      *joined += field.value();
    } else {
      headers.add(std::move(name), std::string(field.value()));
    }
  }
  // The client address: the TCP peer, unless a trusted proxy in front says otherwise.
  std::string client(inputs.remote_address);
  std::string* forwarded = headers.find("x-forwarded-for");
  if (inputs.trust_proxy) {
    if (std::string* true_client = headers.find("true-client-ip")) {
      client = *true_client;
    } else if (forwarded) {
      std::string_view first = *forwarded;
      first = trim(first.substr(0, first.find(',')));
      if (!first.empty()) client = std::string(first);
    }
  }
  if (std::string* true_client = headers.find("true-client-ip")) {
    *true_client = client;
  } else {
    headers.add("true-client-ip", client);
  }
  if ((forwarded = headers.find("x-forwarded-for"))) {
    *forwarded += ", ";
    *forwarded += inputs.remote_address;
  } else {
    headers.add("x-forwarded-for", std::string(inputs.remote_address));
  }
  out += '{';
  bool first = true;
  for (const auto& [name, value] : entries) {
    if (!first) out += ',';
    first = false;
    util::append_json_string(out, name);
    out += ':';
    util::append_json_string(out, value);
  }
  out += '}';
}

void append_limits(std::string& out, const Limits& limits) {
  out += fmt::format("{{\"executionsRemaining\":{},\"timeRemaining\":{}}}", limits.executions_remaining,
                     limits.time_remaining_ms);
}

}  // namespace

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += c;  // a stray '%' stays as it is, as browsers' decoders do
    }
  }
  return out;
}

void parse_urlencoded_into(ParamMap& params, std::string_view text) {
  ParamCollector collector(params, std::numeric_limits<std::size_t>::max());
  collector.add_urlencoded(text);
}

std::string media_type(const Request& request) {
  auto it = request.find(beast_http::field::content_type);
  if (it == request.end()) return {};
  std::string_view value = it->value();
  return lower(trim(value.substr(0, value.find(';'))));
}

Expected<std::string, RequestError> build_endpoint_context(const Request& request, const ContextInputs& inputs) {
  ParamMap params;
  ParamCollector collector(params, kMaxRequestParams);
  std::string_view target = request.target();
  if (auto q = target.find('?'); q != std::string_view::npos && !collector.add_urlencoded(target.substr(q + 1))) {
    return Unexpected{too_many_params()};
  }

  std::string type = media_type(request);
  std::string_view body_json = "{}";
  if (type == "application/x-www-form-urlencoded") {
    if (!collector.add_urlencoded(request.body())) return Unexpected{too_many_params()};
  } else if (is_json_media_type(type)) {
    std::string_view text = trim_json_whitespace(strip_bom(request.body()));
    if (!text.empty()) {
      if (auto parsed = parse_json_body(text); !parsed) return Unexpected{std::move(parsed.error())};
      body_json = text;  // valid JSON text: passed on as it came, exactly as JSON.parse will read it
    }
  }

  std::string out;
  out.reserve(256 + request.body().size() + request.target().size() * 2);
  out += "{\"accountId\":";
  out += std::to_string(inputs.account_id);
  out += ",\"method\":";
  util::append_json_string(out, request.method_string());
  out += ",\"endpoint\":";
  util::append_json_string(out, inputs.endpoint);
  out += ",\"params\":";
  append_params(out, params);
  out += ",\"body\":";
  out += body_json;
  out += ",\"headers\":";
  append_headers(out, request, inputs);
  out += ",\"contact\":null,\"limits\":";
  append_limits(out, inputs.limits);
  out += '}';
  return out;
}

Expected<AppFunctionCall, RequestError> build_app_function_context(const Request& request, const ContextInputs& inputs) {
  std::string_view text = trim_json_whitespace(strip_bom(request.body()));
  if (text.empty()) {
    return Unexpected{RequestError{400, "The request body is empty; send {\"serverlessFunction\": \"NAME\", \"parameters\": {…}} as JSON"}};
  }
  auto parsed = parse_json_body(text);
  if (!parsed) return Unexpected{std::move(parsed.error())};
  const json::value& body = *parsed;
  if (!body.is_object()) {
    return Unexpected{RequestError{400, "The request body must be a JSON object: {\"serverlessFunction\": \"NAME\", \"parameters\": {…}}"}};
  }
  const auto& object = body.get_object();
  const json::value* name = object.if_contains("serverlessFunction");
  if (!name || !name->is_string() || name->get_string().empty()) {
    return Unexpected{RequestError{400, "The request body names no function: set \"serverlessFunction\" to the function's name in serverless.json"}};
  }
  AppFunctionCall call;
  call.function_name = std::string(name->get_string());
  json::object context;
  context["accountId"] = inputs.account_id;
  context["portalId"] = inputs.account_id;
  for (const char* key : {"parameters", "event", "user"}) {
    if (const json::value* v = object.if_contains(key)) context[key] = *v;
  }
  const json::value* properties = object.if_contains("propertiesToSend");
  context["propertiesToSend"] = properties ? *properties : json::value(json::object());
  call.context = std::move(context);
  return call;
}

}  // namespace sprocket::http
