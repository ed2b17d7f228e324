#pragma once
// What an HttpServer serves: the function gateway, or the admin API.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <functional>
#include <optional>
#include <string>

#include "http/request_context.h"
#include "http/response_mapping.h"

namespace sprocket::http {

class RequestHandler {
 public:
  using Respond = std::function<void(Response)>;
  // Writes a streamed body (server-sent events) after the server has sent `header`.
  struct Stream {
    Response header;
    std::function<boost::asio::awaitable<void>(boost::beast::tcp_stream&)> body;
  };

  virtual ~RequestHandler() = default;
  // `respond` is called exactly once, possibly before handle() returns.
  virtual void handle(Request request, std::string remote_address, Respond respond) = 0;
  // A request this handler answers with a stream instead (checked before handle()).
  virtual std::optional<Stream> stream(const Request& request) { return std::nullopt; }
};

}  // namespace sprocket::http
