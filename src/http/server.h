#pragma once
// The HTTP/1.1 listener: reads requests (bounded), hands them to a RequestHandler, writes answers.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "http/request_handler.h"
#include "util/expected.h"

namespace sprocket::http {

struct ServerSettings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 picks a free port
  std::size_t body_limit = 6 * 1024 * 1024;  // HubSpot's 6 MB payload limit
  std::size_t header_limit = 64 * 1024;
  std::chrono::seconds keep_alive_timeout{60};
};

class HttpServer {
 public:
  // Binds at once; throws std::system_error when the address cannot be used.
  HttpServer(boost::asio::io_context& io, RequestHandler& handler, ServerSettings settings);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void start();
  // Stops accepting, closes idle connections, and calls `drained` once no request is in flight.
  void drain(std::function<void()> drained);

 private:
  struct Connection;
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve_connection(boost::asio::ip::tcp::socket socket);
  void request_finished();
  // Timeouts: one timer for all connections, instead of one per read and write.
  void arm_sweep();
  void sweep();

  boost::asio::io_context& io_;
  RequestHandler& handler_;
  ServerSettings settings_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::list<Connection*> connections_;
  boost::asio::steady_timer sweep_timer_;
  bool sweep_armed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for the sweep's handler
  std::size_t in_flight_ = 0;
  bool draining_ = false;
  std::function<void()> drained_;
};

// "127.0.0.1:8080", "[::1]:0", ":8080" (all interfaces) -> host and port.
Expected<std::pair<std::string, std::uint16_t>, std::string> parse_listen_address(std::string_view text);

}  // namespace sprocket::http
