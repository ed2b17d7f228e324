#pragma once
// What the CLI says when a socket cannot be used: the address, why in plain words, and what to
// do, instead of Boost's text (which ends in "[system:111 at /usr/include/boost/asio/…]").
#include <boost/system/error_code.hpp>
#include <string>
#include <string_view>

namespace sprocket::cli {

// The system's reason, lower-cased, without Boost's location suffix: "connection refused".
std::string plain_reason(const boost::system::error_code& error);

// "cannot connect to http://HOST:PORT/: connection refused; is `sprocket serve` running there? (--server URL)"
std::string cannot_connect_message(std::string_view url, const boost::system::error_code& error);

// "cannot listen on ADDRESS: address already in use; stop the other server or pass OPTION HOST:PORT"
std::string cannot_listen_message(std::string_view address, std::string_view option, const boost::system::error_code& error);

}  // namespace sprocket::cli
