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
#include <map>
#include <memory>
#include <string>

#include "http/request_handler.h"
#include "metrics/metrics.h"
#include "util/expected.h"

namespace sprocket::http {

struct ServerSettings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 picks a free port
  std::size_t body_limit = 6 * 1024 * 1024;  // HubSpot's 6 MB payload limit
  std::size_t header_limit = 64 * 1024;
  std::chrono::seconds keep_alive_timeout{60};
  // Open connections; at the cap a new one replaces the longest-idle one, or is refused (503).
  std::size_t max_connections = 10000;
  // Bytes of responses written to clients that have not read them yet, over all connections.
  std::size_t max_unsent_response_bytes = 64 * 1024 * 1024;
  // Bytes of request bodies being received, over all connections: each reserves its
  // Content-Length (the body limit when chunked) until its body is in, as the parser does.
  std::size_t max_receiving_body_bytes = 64 * 1024 * 1024;
  std::string name = "gateway";  // in log lines and metric labels
  // sprocket's own lines (a newline is appended), and the counters; either may be empty.
  std::function<void(std::string_view)> log = nullptr;
  metrics::Metrics* metrics = nullptr;
  // When accept() finds no descriptor free: frees one elsewhere (the admin listener asks the
  // gateway, which holds most of them) and says whether it could; empty: this server's own
  // longest-idle connection.
  std::function<bool()> free_a_descriptor = nullptr;
};

class HttpServer {
 public:
  // Binds at once; throws std::system_error when the address cannot be used.
  HttpServer(boost::asio::io_context& io, RequestHandler& handler, ServerSettings settings);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  std::size_t open_connections() const { return idle_.size() + busy_.size(); }
  std::size_t unsent_response_bytes() const { return unsent_bytes_; }
  void start();
  // Stops accepting, closes idle connections, and calls `drained` once no request is in flight.
  void drain(std::function<void()> drained);
  // Closes the connection idle for longest, freeing its descriptor now; false: every one is busy.
  bool close_longest_idle();

 private:
  struct Connection;
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve_connection(boost::asio::ip::tcp::socket socket);
  void request_finished();
  // Timeouts: one timer for all connections, instead of one per read and write.
  void arm_sweep();
  void sweep();
  // Connections are kept in two lists; the idle one is in the order they became idle.
  void move_to(Connection& connection, std::list<Connection*>& list);
  void unlist(Connection& connection);
  // Closes `connection` at once (its descriptor is free when this returns); its coroutine ends.
  void close_now(Connection& connection);
  void refuse(boost::asio::ip::tcp::socket& socket);
  boost::asio::awaitable<void> pause_accepting();
  // Makes room for `bytes` more unsent response bytes by closing the connections whose clients
  // have read nothing for the longest; false when that cannot make enough.
  bool make_room_for(std::size_t bytes);
  void release_unsent(Connection& connection);
  // A counter and a log line (the first of each kind, then at most one every 10 s).
  void report(std::string_view event, std::string message);

  boost::asio::io_context& io_;
  RequestHandler& handler_;
  ServerSettings settings_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::list<Connection*> idle_, busy_;
  std::size_t unsent_bytes_ = 0;
  std::size_t receiving_body_bytes_ = 0;
  // Over the body budget: closes the upload idle for longest (it has sent nothing for a while;
  // its reservation is freed as its coroutine ends), and says whether there was one.
  bool close_longest_stalled_upload();
  struct Reported {
    std::chrono::steady_clock::time_point last{};
    std::uint64_t unreported = 0;
  };
  std::map<std::string, Reported, std::less<>> reported_;
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
