#pragma once
// A small blocking HTTP client for the admin API, for the CLI's --server mode.
#include <boost/json/object.hpp>
#include <functional>
#include <string_view>
#include <string>

#include "util/expected.h"

namespace sprocket::cli {

struct AdminEndpoint {
  std::string host;
  std::string port;
  std::string token;  // sent as a Bearer header; never in an error message
};

struct HttpReply {
  unsigned status = 0;
  std::string body;
};

// "http://host:port" (trailing path ignored) plus the token from SPROCKET_TOKEN, else from the
// selected profile when it is for this server (cli/profile.h), else from DATA_DIR/admin.token
// (the token a local server made).
Expected<AdminEndpoint, std::string> admin_endpoint(const std::string& server_url, const std::string& data_dir);
Expected<AdminEndpoint, std::string> admin_endpoint_with_token(const std::string& server_url, std::string token);

// Why a request got no answer, and whether the node may have acted on it anyway: once connected,
// (part of) the request may have reached it before the connection broke.
struct TransportError {
  std::string message;
  bool maybe_received = false;
};

Expected<HttpReply, TransportError> admin_exchange(const AdminEndpoint& endpoint, const std::string& method, const std::string& target,
                                                   const std::string& body, const std::string& content_type);

Expected<HttpReply, std::string> admin_request(const AdminEndpoint& endpoint, const std::string& method, const std::string& target,
                                               const std::string& body = "", const std::string& content_type = "application/json");

// GET a server-sent-events stream; `on_data` receives each event's data until it returns false.
Expected<void*, std::string> admin_follow(const AdminEndpoint& endpoint, const std::string& target,
                                          const std::function<bool(const std::string&)>& on_data);

// The "message" of a JSON error body, or the body itself.
std::string error_message(const HttpReply& reply);

// A request whose answer is `expected_status` with a JSON object; anything else is an error a
// user can read (the server's message, or why it could not be reached).
Expected<boost::json::object, std::string> admin_json(const AdminEndpoint& endpoint, const std::string& method, const std::string& target,
                                                      const std::string& body = "", unsigned expected_status = 200);

std::string url_encode(std::string_view value);  // for a query parameter

}  // namespace sprocket::cli
