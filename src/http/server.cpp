#include "http/server.h"

#include "http/gateway.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <array>
#include <charconv>
#include <fmt/format.h>

namespace sprocket::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using asio::ip::tcp;

struct HttpServer::Connection {
  tcp::socket* socket = nullptr;
  bool busy = false;
  // When the read or write in progress is given up (the sweep shuts the socket down); max: no limit.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// How often the sweep looks for connections past their deadline: timeouts are in seconds.
constexpr auto kSweepInterval = std::chrono::seconds(1);

// The status line and the header fields of `response`, ready to go before its body. Beast's
// serializer does the same through layers of buffer sequences that cost the event loop more
// than the bytes do.
std::string response_head(const Response& response) {
  std::string head;
  head.reserve(256);
  head += response.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  head += std::to_string(response.result_int());
  head += ' ';
  head.append(response.reason());
  head += "\r\n";
  for (const auto& field : response.base()) {
    head.append(field.name_string());
    head += ": ";
    head.append(field.value());
    head += "\r\n";
  }
  head += "\r\n";
  return head;
}

Response plain_error(unsigned status, std::string_view category, std::string message) {
  // Errors found before a request exists have no request id of their own; make one anyway so
  // that every response carries one.
  static util::RequestIdGenerator ids;
  std::string id = ids.next();
  Response response = error_response(status, category, message, id);
  response.set("X-Request-Id", id);
  response.set(beast_http::field::access_control_allow_origin, "*");
  return response;
}

}  // namespace

Expected<std::pair<std::string, std::uint16_t>, std::string> parse_listen_address(std::string_view text) {
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Unexpected{fmt::format("\"{}\" is not HOST:PORT; write IPv6 addresses as [::1]:8080", text)};
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return Unexpected{fmt::format("\"{}\" is not HOST:PORT, e.g. 127.0.0.1:8080", text)};
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (host.empty()) host = "0.0.0.0";
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port > 65535) {
    return Unexpected{fmt::format("\"{}\" is not a port number from 0 to 65535", port_text)};
  }
  return std::pair{host, static_cast<std::uint16_t>(port)};
}

HttpServer::HttpServer(asio::io_context& io, RequestHandler& handler, ServerSettings settings)
    : io_(io), handler_(handler), settings_(std::move(settings)), acceptor_(io), sweep_timer_(io) {
  tcp::endpoint endpoint(asio::ip::make_address(settings_.host), settings_.port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

tcp::endpoint HttpServer::local_endpoint() const { return acceptor_.local_endpoint(); }

void HttpServer::start() { asio::co_spawn(io_, accept_loop(), asio::detached); }

asio::awaitable<void> HttpServer::accept_loop() {
  while (!draining_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || draining_) break;
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    socket.set_option(tcp::no_delay(true));
    asio::co_spawn(io_, serve_connection(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> HttpServer::serve_connection(tcp::socket socket) {
  boost::system::error_code ignored;
  std::string remote = socket.remote_endpoint(ignored).address().to_string();
  Connection connection{&socket, false};
  // Guards, because the coroutine can also end by being destroyed (a handler dropped without an
  // answer): the registration and the in-flight count must not outlive it.
  struct Registration {
    std::list<Connection*>& list;
    std::list<Connection*>::iterator it;
    ~Registration() { list.erase(it); }
  } registration{connections_, connections_.insert(connections_.end(), &connection)};
  arm_sweep();
  struct InFlight {
    HttpServer& server;
    bool active = false;
    void begin() {
      ++server.in_flight_;
      active = true;
    }
    void end() {
      if (std::exchange(active, false)) server.request_finished();
    }
    ~InFlight() {
      if (active) --server.in_flight_;
    }
  } in_flight{*this};
  beast::flat_buffer buffer;
  auto expires_after = [&](std::chrono::steady_clock::duration limit) { connection.deadline = std::chrono::steady_clock::now() + limit; };
  auto expires_never = [&] { connection.deadline = std::chrono::steady_clock::time_point::max(); };

  auto write_response = [&](const Response& response) -> asio::awaitable<boost::system::error_code> {
    std::string head = response_head(response);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(response.body())};
    auto [error, written] = co_await asio::async_write(socket, buffers, use_tuple);
    co_return error;
  };
  auto write_and_close = [&](Response response) -> asio::awaitable<void> {
    response.keep_alive(false);
    response.prepare_payload();
    expires_after(std::chrono::seconds(10));
    co_await write_response(response);
  };

  while (!draining_) {
    beast_http::request_parser<beast_http::string_body> parser;
    parser.body_limit(settings_.body_limit);
    parser.header_limit(static_cast<std::uint32_t>(settings_.header_limit));
    expires_after(settings_.keep_alive_timeout);
    auto [header_error, header_bytes] = co_await beast_http::async_read_header(socket, buffer, parser, use_tuple);
    if (header_error) {
      if (header_error == beast_http::error::body_limit) {
        // Content-Length alone already says too much: refuse before reading a byte of the body.
        co_await write_and_close(plain_error(413, "PAYLOAD_TOO_LARGE",
                                             fmt::format("The request body exceeds the limit of {} bytes (6 MB)", settings_.body_limit)));
      } else if (header_error == beast_http::error::header_limit) {
        co_await write_and_close(plain_error(431, "HEADERS_TOO_LARGE", fmt::format("The request headers exceed {} bytes", settings_.header_limit)));
      } else if (header_error.category() == beast_http::make_error_code(beast_http::error::bad_target).category() &&
                 header_error != beast_http::error::end_of_stream && header_error != beast_http::error::partial_message) {
        co_await write_and_close(plain_error(400, "MALFORMED_REQUEST", "The request is not valid HTTP/1.1: " + header_error.message()));
      }
      break;
    }
    connection.busy = true;
    auto& header = parser.get();
    if (parser.content_length() && *parser.content_length() > settings_.body_limit) {
      // Refuse before reading a byte of the body.
      co_await write_and_close(plain_error(413, "PAYLOAD_TOO_LARGE",
                                           fmt::format("The request body is {} bytes; the limit is {} bytes (6 MB)",
                                                       *parser.content_length(), settings_.body_limit)));
      break;
    }
    auto expect = header.find(beast_http::field::expect);
    if (expect != header.end() && beast::iequals(expect->value(), "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      co_await asio::async_write(socket, asio::buffer(kContinue), use_tuple);
    }
    if (!parser.is_done()) {
      auto [body_error, body_bytes] = co_await beast_http::async_read(socket, buffer, parser, use_tuple);
      if (body_error) {
        if (body_error == beast_http::error::body_limit) {
          co_await write_and_close(plain_error(413, "PAYLOAD_TOO_LARGE",
                                               fmt::format("The request body exceeds the limit of {} bytes (6 MB)", settings_.body_limit)));
        } else if (body_error != beast_http::error::end_of_stream && body_error != asio::error::eof &&
                   body_error != asio::error::operation_aborted) {
          co_await write_and_close(plain_error(400, "MALFORMED_REQUEST", "The request body could not be read: " + body_error.message()));
        }
        break;
      }
    }

    Request request = parser.release();
    if (auto stream_reply = handler_.stream(request)) {
      // A stream ends with the connection: headers now, then the body as it comes.
      auto& header = stream_reply->header;
      header.version(request.version());
      header.keep_alive(false);
      header.set(beast_http::field::connection, "close");
      expires_never();
      beast::tcp_stream stream(std::move(socket));
      beast_http::response_serializer<beast_http::string_body> serializer(header);
      stream.expires_never();
      auto [header_error, n] = co_await beast_http::async_write_header(stream, serializer, use_tuple);
      if (!header_error) co_await stream_reply->body(stream);
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    bool keep_alive = request.keep_alive();
    bool is_head = request.method() == beast_http::verb::head;
    unsigned version = request.version();
    in_flight.begin();
    expires_never();  // the function's own time limit bounds the wait
    auto executor = co_await asio::this_coro::executor;
    Response response = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Response)>(
        [&](auto handler) {
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          handler_.handle(std::move(request), remote, [shared, executor](Response r) {
            // Resume the connection from the event loop, never from inside handle().
            asio::post(executor, [shared, r = std::move(r)]() mutable { (*shared)(std::move(r)); });
          });
        },
        asio::use_awaitable);
    keep_alive = keep_alive && !draining_;
    response.version(version);
    response.keep_alive(keep_alive);
    if (is_head) {
      std::size_t size = response.body().size();
      response.body().clear();
      response.content_length(size);
    } else {
      response.prepare_payload();
    }
    expires_after(std::chrono::seconds(30));
    auto write_error = co_await write_response(response);
    connection.busy = false;
    in_flight.end();
    if (write_error || !keep_alive) break;
  }
  socket.shutdown(tcp::socket::shutdown_send, ignored);
}

void HttpServer::arm_sweep() {
  if (sweep_armed_) return;
  sweep_armed_ = true;
  sweep_timer_.expires_after(kSweepInterval);
  sweep_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted || alive.expired()) return;  // the server is going away
    sweep_armed_ = false;
    sweep();
  });
}

void HttpServer::sweep() {
  auto now = std::chrono::steady_clock::now();
  for (auto* connection : connections_) {
    if (connection->deadline <= now) {
      // Shut down, not cancel: a cancel finds nothing to cancel when the operation has just
      // completed or is between two reads of a composed one, and the timeout would be lost.
      // After a shutdown every read and write on the socket fails, and the coroutine ends.
      boost::system::error_code ignored;
      connection->socket->shutdown(tcp::socket::shutdown_both, ignored);
    }
  }
  // An idle server with no connections sleeps: the sweep comes back with the next connection.
  if (!connections_.empty()) arm_sweep();
}

void HttpServer::request_finished() {
  --in_flight_;
  if (draining_ && in_flight_ == 0 && drained_) {
    auto drained = std::move(drained_);
    drained_ = nullptr;
    asio::post(io_, std::move(drained));
  }
}

void HttpServer::drain(std::function<void()> drained) {
  draining_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto* connection : connections_) {
    if (!connection->busy) connection->socket->cancel(ignored);  // idle keep-alive: end it now
  }
  if (in_flight_ == 0) {
    asio::post(io_, std::move(drained));
  } else {
    drained_ = std::move(drained);
  }
}

}  // namespace sprocket::http
