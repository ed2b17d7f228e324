#pragma once
// Where a request's body ends (RFC 9112 §6): the checks that keep a request from being read one
// way here and another way by a proxy in front (request smuggling).
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sprocket::http {

// Why the header's framing is refused (the client gets 400 and the connection closes), or nothing.
std::optional<std::string> framing_error(const boost::beast::http::fields& header, unsigned version);

// A request's Host refused (RFC 9112 §3.2: an HTTP/1.1 request without one, a repeated one, or
// one that is not a single host[:port]): the account is chosen by it, and a proxy in front that
// read another of several values would send one account's traffic to another's functions.
std::optional<std::string> host_error(const boost::beast::http::fields& header, unsigned version);

// Why the raw header block (to the empty line, as received, with or without the request line) is refused, or nothing:
// a Transfer-Encoding or Content-Length continued on a folded line (obs-fold, RFC 9112 §5.2).
// Beast unfolds such a field into one value, so only the bytes as they came show the fold.
std::optional<std::string> folded_framing_error(std::string_view header_block);

// An absolute-form request target ("http://host:port/path?query", RFC 9112 §3.2.2) split into
// its authority and the origin-form target ("/path?query"); nothing for any other form. An
// origin server must accept it, and take the host from it rather than from Host.
struct AbsoluteTarget {
  std::string authority;
  std::string origin_form;
};
std::optional<AbsoluteTarget> split_absolute_form(std::string_view target);

// What the server does with a request's header before routing it: an absolute-form target
// becomes origin-form with its host as the only Host; then host_error.
std::optional<std::string> resolve_host(boost::beast::http::request_header<>& header);

// Chunk extensions (RFC 9112 §7.1.1) carry nothing sprocket uses, but each costs parsing: at most
// this many bytes of them per request, so a body's wire size stays near its 6 MB of content.
inline constexpr std::size_t kMaxChunkExtensionBytes = 16 * 1024;

}  // namespace sprocket::http
