#include "http/framing.h"

#include <boost/beast/core/string.hpp>
#include <fmt/format.h>
#include <string_view>
#include <vector>

namespace sprocket::http {
namespace beast_http = boost::beast::http;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The elements of a comma-separated field value, across every line of the field; RFC 9110
// §5.6.1 lets a recipient ignore empty elements ("chunked, ,").
std::vector<std::string_view> list_elements(const beast_http::fields& header, beast_http::field name) {
  std::vector<std::string_view> elements;
  for (auto [it, end] = header.equal_range(name); it != end; ++it) {
    std::string_view value = it->value();
    while (true) {
      auto comma = value.find(',');
      std::string_view element = trim(value.substr(0, comma));
      if (!element.empty()) elements.push_back(element);
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  return elements;
}

bool is_framing_field(std::string_view name) {
  name = trim(name);
  return boost::beast::iequals(name, "Transfer-Encoding") || boost::beast::iequals(name, "Content-Length");
}

}  // namespace

std::optional<std::string> folded_framing_error(std::string_view header_block) {
  // The common case, no fold anywhere, costs two searches.
  if (header_block.find("\n ") == std::string_view::npos && header_block.find("\n\t") == std::string_view::npos) {
    return std::nullopt;
  }
  // Every line is read as a field line: Beast may have consumed the request line already (a
  // header that came in pieces), and a request line never starts a field that matters here.
  std::string_view field;  // the name of the field the current line belongs to
  while (!header_block.empty()) {
    auto end = header_block.find('\n');
    std::string_view line = header_block.substr(0, end);
    header_block.remove_prefix(end == std::string_view::npos ? header_block.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the end of the header section
    if (line.front() != ' ' && line.front() != '\t') {
      field = line.substr(0, line.find(':'));
      continue;
    }
    if (is_framing_field(field)) {
      // A proxy that does not unfold reads this field (and so the body's end) differently.
      return fmt::format("the {} header is folded over more than one line (obsolete line folding, RFC 9112 §5.2); "
                         "send it on one line",
                         trim(field));
    }
  }
  return std::nullopt;
}

std::optional<std::string> framing_error(const beast_http::fields& header, unsigned version) {
  bool has_transfer_encoding = header.count(beast_http::field::transfer_encoding) > 0;
  bool has_content_length = header.count(beast_http::field::content_length) > 0;
  if (has_transfer_encoding) {
    // HTTP/1.0 has no transfer codings: a 1.0 message with one has faulty framing (RFC 9112 §6.1).
    if (version < 11) return "Transfer-Encoding is not allowed in an HTTP/1.0 request; send Content-Length instead";
    // sprocket decodes no coding but chunked, and chunked is applied once, last (RFC 9112
    // §6.1, §6.3): anything else would leave the body's end for this server and a proxy in
    // front of it to read differently.
    auto codings = list_elements(header, beast_http::field::transfer_encoding);
    if (codings.size() != 1 || !boost::beast::iequals(codings.front(), "chunked")) {
      std::string given;
      for (auto [it, end] = header.equal_range(beast_http::field::transfer_encoding); it != end; ++it) {
        if (!given.empty()) given += ", ";
        given.append(it->value());
      }
      if (given.size() > 100) given = given.substr(0, 100) + "...";
      return fmt::format("Transfer-Encoding \"{}\" is not supported; the only transfer coding accepted is a single \"chunked\"",
                         given);
    }
    // Allowed by RFC 9112 §6.3 (Transfer-Encoding wins) but a classic smuggling vector: refused,
    // as Envoy does by default.
    if (has_content_length) return "A request may not carry both Transfer-Encoding and Content-Length; send one of them";
  }
  if (has_content_length) {
    // One field with one decimal value: "5, 5" and repeated fields are refused even when the
    // values agree (RFC 9112 §6.3 allows either; nginx refuses them too).
    if (header.count(beast_http::field::content_length) > 1) return "The request carries Content-Length more than once; send it once";
    std::string_view value = trim(header[beast_http::field::content_length]);
    bool digits = !value.empty();
    for (char c : value) digits = digits && c >= '0' && c <= '9';
    if (!digits) return fmt::format("Content-Length \"{}\" is not a single decimal number of bytes", value);
  }
  return std::nullopt;
}

std::optional<AbsoluteTarget> split_absolute_form(std::string_view target) {
  std::size_t scheme = boost::beast::iequals(target.substr(0, 7), "http://") ? 7 : boost::beast::iequals(target.substr(0, 8), "https://") ? 8 : 0;
  if (scheme == 0) return std::nullopt;
  std::string_view rest = target.substr(scheme);
  std::size_t path = rest.find_first_of("/?");
  AbsoluteTarget split{std::string(rest.substr(0, path)), path == std::string_view::npos ? "/" : std::string(rest.substr(path))};
  if (split.origin_form.front() == '?') split.origin_form.insert(0, "/");
  return split;
}

std::optional<std::string> host_error(const beast_http::fields& header, unsigned version) {
  std::size_t hosts = header.count(beast_http::field::host);
  if (hosts > 1) return "The request carries Host more than once; send it once";
  if (hosts == 0) {
    if (version >= 11) return "An HTTP/1.1 request must carry a Host header";
    return std::nullopt;  // HTTP/1.0 has no Host: the default account
  }
  std::string_view value = trim(header[beast_http::field::host]);
  // A list or a folded field ("a, b", "a b"): not one host.
  if (value.find_first_of(", \t") != std::string_view::npos) {
    if (value.size() > 100) value = value.substr(0, 100);
    return fmt::format("Host \"{}\" is not a single host[:port]", value);
  }
  return std::nullopt;
}

std::optional<std::string> resolve_host(beast_http::request_header<>& header) {
  if (auto absolute = split_absolute_form(header.target())) {
    // The target's host replaces any Host sent with it (RFC 9112 §3.2.2).
    header.set(beast_http::field::host, absolute->authority);
    header.target(absolute->origin_form);
  }
  return host_error(header, header.version());
}

}  // namespace sprocket::http
