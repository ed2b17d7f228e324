#include "cli/network_errors.h"

#include <boost/asio/error.hpp>
#include <cctype>
#include <fmt/format.h>

namespace sprocket::cli {
namespace errc = boost::system::errc;
namespace asio_error = boost::asio::error;

std::string plain_reason(const boost::system::error_code& error) {
  std::string reason = error.message();
  if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
  return reason;
}

std::string cannot_connect_message(std::string_view url, const boost::system::error_code& error) {
  std::string hint;
  if (error == asio_error::connection_refused || error == asio_error::timed_out || error == asio_error::host_unreachable ||
      error == asio_error::network_unreachable) {
    hint = "; is `sprocket serve` running there? (--server URL)";
  } else if (error == asio_error::host_not_found || error == asio_error::host_not_found_try_again) {
    hint = "; check the host name in --server URL";
  } else if (error == asio_error::eof || error == asio_error::connection_reset) {
    hint = "; is that the admin listener (--admin-listen) of `sprocket serve`?";
  }
  return fmt::format("cannot connect to {}: {}{}", url, plain_reason(error), hint);
}

std::string cannot_listen_message(std::string_view address, std::string_view option, const boost::system::error_code& error) {
  std::string hint;
  if (error == asio_error::address_in_use) {
    hint = fmt::format("; stop the other server or pass {} HOST:PORT", option);
  } else if (error == asio_error::access_denied) {
    hint = fmt::format("; ports below 1024 need privileges: pass {} HOST:PORT with a higher port", option);
  } else if (error == errc::address_not_available) {
    hint = fmt::format("; that address is not one of this machine's: pass {} with one of its addresses, or 127.0.0.1", option);
  } else if (error == errc::invalid_argument) {
    // make_address() does not resolve names.
    hint = fmt::format("; {} takes an IP address (127.0.0.1, 0.0.0.0, [::1]), not a host name", option);
  }
  return fmt::format("cannot listen on {}: {}{}", address, plain_reason(error), hint);
}

}  // namespace sprocket::cli
