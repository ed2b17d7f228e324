#include "http/response_mapping.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <fmt/format.h>
#include <iterator>

namespace sprocket::http {
namespace json = boost::json;
namespace beast_http = boost::beast::http;

namespace {

// The shortest digits that read back as `magnitude`, and where its decimal point goes:
// magnitude = 0.DIGITS × 10^point.
struct DecimalDigits {
  std::string digits;
  int point = 0;
};

DecimalDigits shortest_digits(double magnitude) {
  char text[32];
  auto written = std::to_chars(std::begin(text), std::end(text), magnitude, std::chars_format::scientific);
  std::string_view scientific(text, static_cast<std::size_t>(written.ptr - text));  // "1.2345e+20"
  std::size_t e = scientific.find('e');
  DecimalDigits out;
  for (char c : scientific.substr(0, e)) {
    if (c != '.') out.digits += c;
  }
  std::from_chars(scientific.data() + e + (scientific[e + 1] == '+' ? 2 : 1), scientific.data() + scientific.size(), out.point);
  out.point += 1;
  return out;
}

// A header value the function gave as a number, written as JavaScript's String(n) writes it
// (what Node's res.setHeader sends): plain decimals from 1e-6 up to 1e21, whole numbers in
// full, exponents outside ("1e+21", "1.5e-7"). No cast to an integer type: for a number such
// as 1e300 that is undefined behaviour.
std::string javascript_number_text(double d) {
  if (std::isnan(d)) return "NaN";
  if (d == 0) return "0";  // -0 too
  std::string out = d < 0 ? "-" : "";
  if (std::isinf(d)) return out + "Infinity";
  auto [digits, point] = shortest_digits(std::fabs(d));
  int count = static_cast<int>(digits.size());
  if (count <= point && point <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(point - count), '0');
  } else if (0 < point && point <= 21) {
    out += digits.substr(0, static_cast<std::size_t>(point));
    out += '.';
    out += digits.substr(static_cast<std::size_t>(point));
  } else if (-6 < point && point <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-point), '0');
    out += digits;
  } else {
    out += digits[0];
    if (count > 1) out += '.' + digits.substr(1);
    out += fmt::format("e{}{}", point - 1 >= 0 ? "+" : "-", std::abs(point - 1));
  }
  return out;
}

// Framing is the gateway's job; a function cannot set these.
bool is_framing_header(std::string_view name) {
  auto eq = [&](std::string_view other) {
    return name.size() == other.size() && std::equal(name.begin(), name.end(), other.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == b;
           });
  };
  return eq("content-length") || eq("transfer-encoding") || eq("connection") || eq("keep-alive") || eq("upgrade");
}

std::optional<std::string> header_text(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string: return std::string(v.get_string());
    case json::kind::int64:
    case json::kind::uint64: return json::serialize(v);
    case json::kind::double_: return javascript_number_text(v.get_double());
    case json::kind::bool_: return v.get_bool() ? "true" : "false";
    default: return std::nullopt;
  }
}

void add_header(Response& response, std::vector<std::string>& warnings, std::string_view name, const json::value& value) {
  if (value.is_null()) return;
  if (value.is_array()) {
    for (const auto& element : value.get_array()) add_header(response, warnings, name, element);
    return;
  }
  auto text = header_text(value);
  if (!text) {
    warnings.push_back(fmt::format("header \"{}\" was dropped: its value must be a string, number or boolean", name));
    return;
  }
  if (!is_valid_header_name(name)) {
    warnings.push_back(fmt::format("header \"{}\" was dropped: the name is not a valid HTTP header name", name));
    return;
  }
  if (!is_valid_header_value(*text)) {
    warnings.push_back(fmt::format("header \"{}\" was dropped: its value contains a line break or control character", name));
    return;
  }
  if (is_framing_header(name)) {
    warnings.push_back(fmt::format("header \"{}\" was ignored: sprocket sets message framing itself", name));
    return;
  }
  response.insert(name, *text);
}

Expected<unsigned, std::string> read_status(const json::value* v) {
  if (!v || v->is_null()) return 200u;
  double number = -1;
  if (v->is_number()) {
    number = v->to_number<double>();
  } else if (v->is_string()) {
    std::string s(v->get_string());
    try {
      std::size_t used = 0;
      number = std::stod(s, &used);
      if (used != s.size()) number = -1;
    } catch (...) {
      number = -1;
    }
  }
  // The range is checked before the cast: converting an out-of-range double is undefined behaviour.
  bool whole = number >= 100 && number <= 599 && number == std::floor(number);
  if (whole && number >= 200) return static_cast<unsigned>(number);
  if (whole) {
    // 1xx statuses are for the server's own use (100 Continue, 101 Switching Protocols); sent as the
    // final answer, a client would wait for another response or switch protocols.
    return Unexpected{fmt::format("statusCode {} is an informational (1xx) status, which a function cannot send; "
                                  "answer with a final status from 200 to 599",
                                  static_cast<unsigned>(number))};
  }
  return Unexpected{fmt::format("statusCode must be a whole number from 200 to 599, but the function returned {}", json::serialize(*v))};
}

}  // namespace

bool is_valid_header_name(std::string_view name) {
  if (name.empty()) return false;
  static constexpr std::string_view kTokenSpecials = "!#$%&'*+-.^_`|~";
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kTokenSpecials.find(c) != std::string_view::npos;
  });
}

bool is_valid_header_value(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7F;
  });
}

std::optional<std::string> decode_base64(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ') continue;
    int v = value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

Expected<MappedResponse, std::string> map_function_response(const json::object& answer) {
  MappedResponse mapped;
  Response& response = mapped.response;
  auto status = read_status(answer.if_contains("statusCode"));
  if (!status) return Unexpected{status.error()};
  response.result(*status);

  if (const json::value* headers = answer.if_contains("headers"); headers && headers->is_object()) {
    for (const auto& h : headers->get_object()) add_header(response, mapped.warnings, h.key(), h.value());
  }
  if (const json::value* multi = answer.if_contains("multiValueHeaders"); multi && multi->is_object()) {
    for (const auto& h : multi->get_object()) add_header(response, mapped.warnings, h.key(), h.value());
  }
  // HubSpot's documented top-level "Set-Cookie" (a string, or an array of them).
  if (const json::value* cookie = answer.if_contains("setCookie")) add_header(response, mapped.warnings, "Set-Cookie", *cookie);

  const json::value* type = answer.if_contains("bodyType");
  std::string_view body_type = type && type->is_string() ? std::string_view(type->get_string()) : "none";
  const json::value* body = answer.if_contains("body");
  std::string_view body_text = body && body->is_string() ? std::string_view(body->get_string()) : std::string_view();
  bool has_content_type = response.find(beast_http::field::content_type) != response.end();
  if (body_type == "text") {
    response.body() = body_text;
    if (!has_content_type) response.set(beast_http::field::content_type, "text/html; charset=utf-8");
  } else if (body_type == "json") {
    response.body() = body_text;
    if (!has_content_type) response.set(beast_http::field::content_type, "application/json; charset=utf-8");
  } else if (body_type == "base64") {
    auto decoded = decode_base64(body_text);
    if (!decoded) return Unexpected{std::string("isBase64Encoded is true, but the body is not valid base64")};
    response.body() = std::move(*decoded);
    if (!has_content_type) response.set(beast_http::field::content_type, "application/octet-stream");
  }
  if (*status == 204 || *status == 304) response.body().clear();
  return mapped;
}

}  // namespace sprocket::http
