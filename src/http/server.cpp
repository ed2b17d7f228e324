#include "http/server.h"

#include "http/framing.h"
#include "http/gateway.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <fmt/format.h>
#include <vector>

namespace sprocket::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using asio::ip::tcp;

struct HttpServer::Connection {
  tcp::socket* socket = nullptr;
  // When the read or write in progress is given up (the sweep shuts the socket down); max: no limit.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::list<Connection*>* list = nullptr;  // idle_ or busy_; null once closed by the server
  std::list<Connection*>::iterator position;
  bool closed = false;  // by the server, to make room: the coroutine only ends
  std::size_t unsent = 0;  // bytes of the response being written, counted in unsent_bytes_
  std::chrono::steady_clock::time_point last_progress{};  // when its client last took some of them
  std::size_t body_reserved = 0;  // of receiving_body_bytes_: its request body being read
};

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// How often the sweep looks for connections past their deadline: timeouts are in seconds.
constexpr auto kSweepInterval = std::chrono::seconds(1);
// A client that has taken none of its response for this long may be closed when the node runs
// out of room for unsent responses; one reading slowly but steadily never is.
constexpr auto kStalledReader = std::chrono::milliseconds(500);
// Room for a response's status line and headers beside its body, in the unsent-bytes count.
constexpr std::size_t kHeadAllowance = 1024;
// A connection's read buffer that grew for a large request is given back when it is idle.
constexpr std::size_t kIdleBufferBytes = 64 * 1024;
constexpr auto kReportInterval = std::chrono::seconds(10);
// What one read asks for. A connection's read buffer holds at most the header limit plus one
// read: Beast needs a chunk-size line and the trailer section whole in the buffer and bounds
// neither, so without this a client sending one endless chunk extension grew the gateway by
// as much as it sent until the keep-alive timeout (300 MB from one connection, measured).
constexpr std::size_t kReadSize = 64 * 1024;

using RequestParser = beast_http::request_parser<beast_http::string_body>;

struct ReadResult {
  boost::system::error_code error;
  std::optional<std::string> refused;  // what Beast would accept (or crash on) but sprocket refuses
};

// What to read: the header alone (framing is checked before any of the body is read), or the rest.
enum class ReadPart { Header, Body };

// Feeds `parser` from the connection until `part` is in, as beast::http::async_read_header and
// async_read do, but here in the coroutine, for two things Beast's own loops cannot give:
// - the header block's bytes as they came, before they are consumed: Beast unfolds folded lines,
//   and a folded Transfer-Encoding or Content-Length must be refused, which its fields no
//   longer show;
// - Beast stores fields of at most 64 KiB and throws past it. The header limit keeps headers
//   under that, but nothing bounds a trailer field but the read buffer: thrown inside Beast's
//   completion handler, the exception left io_context::run() and ended the process.
asio::awaitable<ReadResult> read_part(tcp::socket& socket, beast::flat_buffer& buffer, RequestParser& parser, ReadPart part) {
  ReadResult result;
  auto done = [&] { return part == ReadPart::Header ? parser.is_header_done() : parser.is_done(); };
  parser.eager(part == ReadPart::Body);
  while (!done()) {
    if (buffer.size() > 0) {
      auto data = buffer.data();
      std::size_t used = 0;
      try {
        used = parser.put(data, result.error);
      } catch (const std::length_error&) {
        result.refused = "a trailer field of its chunked body is over 65,533 bytes; send shorter trailers (sprocket ignores them)";
        co_return result;
      }
      if (part == ReadPart::Header && used > 0) {
        // Beast may take a header in pieces (the request line, then the fields that are whole),
        // but a field always with its folded lines: each piece can be looked at on its own.
        result.refused = folded_framing_error(std::string_view(static_cast<const char*>(data.data()), used));
      }
      buffer.consume(used);
      if (result.refused || (result.error && result.error != beast_http::error::need_more)) co_return result;
      result.error = {};
      if (done()) break;
    }
    std::size_t room = std::min(kReadSize, buffer.max_size() - buffer.size());
    if (room == 0) {
      // A header that fills the buffer is past its limit (the parser says so first; this is a
      // backstop); in a body, a chunk-size line or the trailer section is.
      result.error = part == ReadPart::Header ? beast_http::error::header_limit : beast_http::error::buffer_overflow;
      co_return result;
    }
    auto [read_error, bytes] = co_await socket.async_read_some(buffer.prepare(room), use_tuple);
    buffer.commit(bytes);
    if (read_error == asio::error::eof) {
      // As Beast reports it: a clean close between requests, or a request cut short.
      if (!parser.got_some()) {
        result.error = beast_http::error::end_of_stream;
      } else {
        parser.put_eof(result.error);
        if (!result.error && !done()) result.error = beast_http::error::partial_message;
      }
      co_return result;
    }
    if (read_error) {
      result.error = read_error;
      co_return result;
    }
  }
  co_return result;
}

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

// What the client is told when its body cannot be read: which limit, and what to send instead.
std::string body_read_error(const boost::system::error_code& error, std::size_t extension_bytes, std::size_t buffer_limit) {
  if (error == beast_http::error::buffer_overflow) {
    return fmt::format("The request body could not be read: a chunk-size line or the trailer section is over {} bytes; "
                       "send shorter chunk extensions and trailers",
                       buffer_limit);
  }
  if (error == beast_http::error::bad_chunk_extension && extension_bytes > kMaxChunkExtensionBytes) {
    return fmt::format("The request body could not be read: its chunk extensions are over {} bytes together; "
                       "send the body without them (sprocket ignores them)",
                       kMaxChunkExtensionBytes);
  }
  return "The request body could not be read: " + error.message();
}

Response plain_error(unsigned status, std::string_view category, std::string message) {
  Response response = error_response(status, category, message, "");  // a new request id
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
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_buffer_space ||
          ec == asio::error::no_memory) {
        // Out of descriptors despite the cap (something else took them): the pending client
        // stays in the backlog, so accepting again at once would spin. Free one, or wait.
        report("accept_failed", fmt::format("cannot accept a connection: {}; {} connections are open (the limit is {})",
                                            ec.message(), open_connections(), settings_.max_connections));
        bool freed = settings_.free_a_descriptor ? settings_.free_a_descriptor() : close_longest_idle();
        if (!freed) co_await pause_accepting();
      }
      continue;  // keep serving the connections we have
    }
    if (open_connections() >= settings_.max_connections && !close_longest_idle()) {
      refuse(socket);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(io_, serve_connection(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> HttpServer::pause_accepting() {
  asio::steady_timer pause(io_, std::chrono::milliseconds(100));
  co_await pause.async_wait(use_tuple);
}

void HttpServer::report(std::string_view event, std::string message) {
  if (settings_.metrics) settings_.metrics->connection_event(settings_.name, event);
  auto& reported = reported_[std::string(event)];
  auto now = std::chrono::steady_clock::now();
  if (reported.last != std::chrono::steady_clock::time_point{} && now - reported.last < kReportInterval) {
    ++reported.unreported;
    return;
  }
  if (reported.unreported > 0) message += fmt::format(" ({} more like this since the last such line)", reported.unreported);
  reported.last = now;
  reported.unreported = 0;
  if (settings_.log) settings_.log(fmt::format("sprocket: WARN [{}] {}", settings_.name, message));
}

void HttpServer::move_to(Connection& connection, std::list<Connection*>& list) {
  if (connection.closed) return;
  if (connection.list) {
    list.splice(list.end(), *connection.list, connection.position);
  } else {
    connection.position = list.insert(list.end(), &connection);
  }
  connection.list = &list;
}

void HttpServer::unlist(Connection& connection) {
  if (!connection.list) return;
  connection.list->erase(connection.position);
  connection.list = nullptr;
}

void HttpServer::close_now(Connection& connection) {
  boost::system::error_code ignored;
  connection.closed = true;
  unlist(connection);
  release_unsent(connection);
  // close, not shutdown: the descriptor must be free now, not when the coroutine unwinds.
  connection.socket->close(ignored);
}

bool HttpServer::close_longest_stalled_upload() {
  for (auto* connection : idle_) {  // longest idle first
    if (connection->body_reserved > 0) {
      close_now(*connection);
      return true;
    }
  }
  return false;
}

bool HttpServer::close_longest_idle() {
  if (idle_.empty()) return false;
  close_now(*idle_.front());
  report("idle_closed", fmt::format("{} of at most {} connections open (--max-connections), or no descriptor free: the "
                                    "longest-idle one was closed to admit a new one",
                                    open_connections() + 1, settings_.max_connections));
  return true;
}

void HttpServer::refuse(tcp::socket& socket) {
  report("refused", fmt::format("a connection was refused with 503: all {} connections (the limit, --max-connections) are busy",
                                settings_.max_connections));
  Response response = plain_error(503, "TOO_MANY_CONNECTIONS",
                                  fmt::format("The server has {} connections open, its limit, and none of them is idle. Retry shortly.",
                                              settings_.max_connections));
  response.set(beast_http::field::retry_after, "1");
  response.keep_alive(false);
  response.prepare_payload();
  std::string text = response_head(response) + response.body();
  // A new socket's send buffer is empty: the few hundred bytes go at once, or not at all.
  boost::system::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(asio::buffer(text), ignored);
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

void HttpServer::release_unsent(Connection& connection) {
  unsent_bytes_ -= connection.unsent;
  connection.unsent = 0;
}

bool HttpServer::make_room_for(std::size_t bytes) {
  auto fits = [&] { return unsent_bytes_ + bytes <= settings_.max_unsent_response_bytes; };
  if (fits()) return true;
  auto stalled_before = std::chrono::steady_clock::now() - kStalledReader;
  std::vector<Connection*> stalled;
  for (auto* connection : busy_) {
    if (connection->unsent > 0 && connection->last_progress <= stalled_before) stalled.push_back(connection);
  }
  std::sort(stalled.begin(), stalled.end(), [](auto* a, auto* b) { return a->last_progress < b->last_progress; });
  for (auto* connection : stalled) {
    if (fits()) break;
    std::size_t held = connection->unsent;
    close_now(*connection);
    report("slow_reader_closed",
           fmt::format("a connection whose client had read nothing of its response for {} ms was closed, freeing {} bytes: "
                       "responses waiting for their clients reached the limit of {} bytes (--max-unsent-response-mb)",
                       std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - connection->last_progress).count(),
                       held, settings_.max_unsent_response_bytes));
  }
  return fits();
}

asio::awaitable<void> HttpServer::serve_connection(tcp::socket socket) {
  boost::system::error_code ignored;
  std::string remote = socket.remote_endpoint(ignored).address().to_string();
  Connection connection;
  connection.socket = &socket;
  // Guards, because the coroutine can also end by being destroyed (a handler dropped without an
  // answer): the registration, the unsent bytes and the in-flight count must not outlive it.
  struct Registration {
    HttpServer& server;
    Connection& connection;
    ~Registration() {
      server.unlist(connection);
      server.release_unsent(connection);
    }
  } registration{*this, connection};
  move_to(connection, idle_);
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
  beast::flat_buffer buffer(settings_.header_limit + kReadSize);
  auto expires_after = [&](std::chrono::steady_clock::duration limit) { connection.deadline = std::chrono::steady_clock::now() + limit; };
  auto expires_never = [&] { connection.deadline = std::chrono::steady_clock::time_point::max(); };

  // Written a piece at a time as the client takes it, so that a client that takes nothing is
  // known (last_progress) when room for unsent responses runs out.
  auto write_response = [&](const Response& response) -> asio::awaitable<boost::system::error_code> {
    std::string head = response_head(response);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(response.body())};
    beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest(buffers);
    release_unsent(connection);
    connection.unsent = head.size() + response.body().size();
    unsent_bytes_ += connection.unsent;
    connection.last_progress = std::chrono::steady_clock::now();
    boost::system::error_code error;
    while (beast::buffer_bytes(rest) > 0) {
      auto [write_error, written] = co_await socket.async_write_some(rest, use_tuple);
      if (write_error) {
        error = write_error;
        break;
      }
      rest.consume(written);
      connection.last_progress = std::chrono::steady_clock::now();
    }
    release_unsent(connection);
    co_return error;
  };
  auto write_and_close = [&](Response response) -> asio::awaitable<void> {
    response.keep_alive(false);
    response.prepare_payload();
    expires_after(std::chrono::seconds(10));
    co_await write_response(response);
  };

  while (!draining_) {
    RequestParser parser;
    parser.body_limit(settings_.body_limit);
    parser.header_limit(static_cast<std::uint32_t>(settings_.header_limit));
    std::size_t extension_bytes = 0;
    auto count_extensions = [&](std::uint64_t, beast::string_view extensions, boost::system::error_code& ec) {
      extension_bytes += extensions.size();
      if (extension_bytes > kMaxChunkExtensionBytes) ec = beast_http::error::bad_chunk_extension;
    };
    parser.on_chunk_header(count_extensions);  // held by reference: it lives as long as the parser
    expires_after(settings_.keep_alive_timeout);
    auto [header_error, folded] = co_await read_part(socket, buffer, parser, ReadPart::Header);
    if (connection.closed) break;
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
    // Still the client's turn until its body is in: such a connection is as idle as one that
    // trickles its headers, and the first to go when the cap is reached (a client that sends
    // "Content-Length: 10" and 3 bytes must not hold a slot).
    auto& header = parser.get();
    if (folded) {
      co_await write_and_close(plain_error(400, "MALFORMED_REQUEST", "The request's framing is ambiguous: " + *folded));
      break;
    }
    if (auto refused = framing_error(header.base(), header.version())) {
      // Read no body: where it ends is exactly what is in doubt (request smuggling).
      co_await write_and_close(plain_error(400, "MALFORMED_REQUEST", "The request's framing is ambiguous: " + *refused));
      break;
    }
    if (auto refused = resolve_host(header)) {
      co_await write_and_close(plain_error(400, "MALFORMED_REQUEST", *refused));
      break;
    }
    if (parser.content_length() && *parser.content_length() > settings_.body_limit) {
      // Refuse before reading a byte of the body.
      co_await write_and_close(plain_error(413, "PAYLOAD_TOO_LARGE",
                                           fmt::format("The request body is {} bytes; the limit is {} bytes (6 MB)",
                                                       *parser.content_length(), settings_.body_limit)));
      break;
    }
    if (!parser.is_done()) {
      // The parser reserves room for the whole body at once: bounded over all connections, or
      // a few thousand clients that each send a Content-Length of 6 MB and then stall hold
      // gigabytes. The reservation lasts until the body is in (or the read fails).
      std::size_t reserve = parser.content_length() ? static_cast<std::size_t>(*parser.content_length()) : settings_.body_limit;
      if (receiving_body_bytes_ + reserve > settings_.max_receiving_body_bytes) {
        bool closed_one = close_longest_stalled_upload();
        report("body_refused", fmt::format("a request body of {} bytes was refused with 503: {} bytes of request bodies are being "
                                           "received, the limit is {} (--max-receiving-body-mb){}",
                                           reserve, receiving_body_bytes_, settings_.max_receiving_body_bytes,
                                           closed_one ? "; the longest-stalled upload was closed" : ""));
        Response busy = plain_error(503, "SERVER_BUSY", "The server is receiving as many request bodies as it holds at once. Retry shortly.");
        busy.set(beast_http::field::retry_after, "1");
        co_await write_and_close(std::move(busy));
        break;
      }
      struct BodyReservation {
        HttpServer& server;
        Connection& connection;
        ~BodyReservation() {
          server.receiving_body_bytes_ -= connection.body_reserved;
          connection.body_reserved = 0;
        }
      } reservation{*this, connection};
      connection.body_reserved = reserve;
      receiving_body_bytes_ += reserve;
      // Invite the body only now that it will be read, not before a 503 that refuses it; never
      // for HTTP/1.0, whose clients know no 1xx (RFC 9110 §10.1.1), nor when no body follows.
      auto expect = header.find(beast_http::field::expect);
      if (header.version() >= 11 && expect != header.end() && beast::iequals(expect->value(), "100-continue")) {
        static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await asio::async_write(socket, asio::buffer(kContinue), use_tuple);
      }
      // Beast adds a chunked body's trailer fields to the header; a trailer must not act as one
      // (RFC 9110 §6.5.1: a Content-Type or X-Forwarded-For that a proxy in front never looked
      // at would change how the body is read or what the function is told), so they are dropped.
      std::optional<beast_http::fields> header_section;
      if (parser.chunked()) header_section = header.base();
      auto [body_error, refused] = co_await read_part(socket, buffer, parser, ReadPart::Body);
      if (refused) {
        co_await write_and_close(plain_error(400, "MALFORMED_REQUEST", "The request body could not be read: " + *refused));
        break;
      }
      if (body_error) {
        if (body_error == beast_http::error::body_limit) {
          co_await write_and_close(plain_error(413, "PAYLOAD_TOO_LARGE",
                                               fmt::format("The request body exceeds the limit of {} bytes (6 MB)", settings_.body_limit)));
        } else if (body_error != beast_http::error::end_of_stream && body_error != asio::error::eof &&
                   body_error != asio::error::operation_aborted) {
          co_await write_and_close(plain_error(400, "MALFORMED_REQUEST", body_read_error(body_error, extension_bytes, buffer.max_size())));
        }
        break;
      }
      if (header_section) static_cast<beast_http::fields&>(header) = std::move(*header_section);
    }

    move_to(connection, busy_);
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
    std::size_t unsent = (is_head ? 0 : response.body().size()) + kHeadAllowance;
    if (!make_room_for(unsent)) {
      // Every client holding room is still reading: this answer goes, not one being read.
      auto id = response.find("X-Request-Id");
      std::string request_id = id != response.end() ? std::string(id->value()) : std::string();
      report("response_refused",
             fmt::format("a response of {} bytes (request {}) was replaced by a 503: responses waiting for their clients hold "
                         "{} bytes, the limit (--max-unsent-response-mb), and none of those clients has stalled",
                         response.body().size(), request_id.empty() ? "-" : request_id, unsent_bytes_));
      response = plain_error(503, "SERVER_BUSY",
                             fmt::format("The server holds {} MB of responses that its clients have not read yet, its limit. "
                                         "Retry shortly.",
                                         settings_.max_unsent_response_bytes >> 20));
      if (!request_id.empty()) response.set("X-Request-Id", request_id);
      response.set(beast_http::field::retry_after, "1");
    }
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
    in_flight.end();
    if (write_error || !keep_alive || connection.closed) break;
    move_to(connection, idle_);
    if (buffer.size() == 0 && buffer.capacity() > kIdleBufferBytes) buffer.shrink_to_fit();
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
  for (auto* list : {&busy_, &idle_}) {
    for (auto* connection : *list) {
      if (connection->deadline <= now) {
        // Shut down, not cancel: a cancel finds nothing to cancel when the operation has just
        // completed or is between two reads of a composed one, and the timeout would be lost.
        // After a shutdown every read and write on the socket fails, and the coroutine ends.
        boost::system::error_code ignored;
        connection->socket->shutdown(tcp::socket::shutdown_both, ignored);
      }
    }
  }
  // An idle server with no connections sleeps: the sweep comes back with the next connection.
  if (open_connections() > 0) arm_sweep();
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
  for (auto* connection : idle_) connection->socket->cancel(ignored);  // idle keep-alive: end it now
  if (in_flight_ == 0) {
    asio::post(io_, std::move(drained));
  } else {
    drained_ = std::move(drained);
  }
}

}  // namespace sprocket::http
