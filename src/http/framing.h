#pragma once
// Where a request's body ends (RFC 9112 §6): the checks that keep a request from being read one
// way here and another way by a proxy in front (request smuggling).
#include <boost/beast/http/fields.hpp>
#include <optional>
#include <string>

namespace sprocket::http {

// Why the header's framing is refused (the client gets 400 and the connection closes), or nothing.
std::optional<std::string> framing_error(const boost::beast::http::fields& header, unsigned version);

}  // namespace sprocket::http
