#pragma once
// Where a request's body ends (RFC 9112 §6): the checks that keep a request from being read one
// way here and another way by a proxy in front (request smuggling).
#include <boost/beast/http/fields.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sprocket::http {

// Why the header's framing is refused (the client gets 400 and the connection closes), or nothing.
std::optional<std::string> framing_error(const boost::beast::http::fields& header, unsigned version);

// Why the raw header block (to the empty line, as received, with or without the request line) is refused, or nothing:
// a Transfer-Encoding or Content-Length continued on a folded line (obs-fold, RFC 9112 §5.2).
// Beast unfolds such a field into one value, so only the bytes as they came show the fold.
std::optional<std::string> folded_framing_error(std::string_view header_block);

// Chunk extensions (RFC 9112 §7.1.1) carry nothing sprocket uses, but each costs parsing: at most
// this many bytes of them per request, so a body's wire size stays near its 6 MB of content.
inline constexpr std::size_t kMaxChunkExtensionBytes = 16 * 1024;

}  // namespace sprocket::http
