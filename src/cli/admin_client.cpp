#include "cli/admin_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>

#include "cli/network_errors.h"
#include "cli/profile.h"

namespace sprocket::cli {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using asio::ip::tcp;

Expected<AdminEndpoint, std::string> admin_endpoint_with_token(const std::string& server_url, std::string token) {
  std::string rest = server_url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  else if (rest.find("://") != std::string::npos) return Unexpected{std::string("--server must be an http:// URL of the admin listener")};
  rest = rest.substr(0, rest.find('/'));
  auto colon = rest.rfind(':');
  AdminEndpoint e;
  e.host = colon == std::string::npos ? rest : rest.substr(0, colon);
  e.port = colon == std::string::npos ? "80" : rest.substr(colon + 1);
  if (e.host.empty()) return Unexpected{fmt::format("\"{}\" names no host", server_url)};
  e.token = std::move(token);
  return e;
}

Expected<AdminEndpoint, std::string> admin_endpoint(const std::string& server_url, const std::string& data_dir) {
  auto e = admin_endpoint_with_token(server_url, "");
  if (!e) return e;
  const char* token = std::getenv("SPROCKET_TOKEN");
  if (token && *token) {
    e->token = token;
    return e;
  }
  // The profile's token goes only to the server it was given for.
  auto profile = load_profile(selected_profile());
  if (!profile) return Unexpected{profile.error()};
  if (*profile && normalized_server((*profile)->server) == normalized_server(server_url)) {
    e->token = (*profile)->token;
    return e;
  }
  if (!data_dir.empty()) {
    std::ifstream in(std::filesystem::path(data_dir) / "admin.token");
    if (std::getline(in, e->token) && !e->token.empty()) return e;
  }
  return Unexpected{std::string("no admin token for this server: `sprocket login --server URL` keeps one, or set SPROCKET_TOKEN "
                                "to the server's admin token (DATA_DIR/admin.token on the server)")};
}

namespace {

beast_http::request<beast_http::string_body> make_request(const AdminEndpoint& e, beast_http::verb verb, const std::string& target,
                                                          const std::string& body, const std::string& content_type = "application/json") {
  beast_http::request<beast_http::string_body> req{verb, target, 11};
  req.set(beast_http::field::host, e.host + ":" + e.port);
  req.set(beast_http::field::authorization, "Bearer " + e.token);
  req.set(beast_http::field::user_agent, "sprocket-cli");
  if (!body.empty()) {
    req.set(beast_http::field::content_type, content_type);
    req.body() = body;
  }
  req.prepare_payload();
  return req;
}

std::string url_of(const AdminEndpoint& e) { return fmt::format("http://{}:{}/", e.host, e.port); }

// Connected, or why not in words a user can act on (the exceptions' text names Boost's files).
Expected<void*, std::string> connect(beast::tcp_stream& stream, const AdminEndpoint& e) {
  boost::system::error_code ec;
  tcp::resolver resolver(stream.get_executor());
  auto addresses = resolver.resolve(e.host, e.port, ec);
  if (!ec) stream.connect(addresses, ec);
  if (ec) return Unexpected{cannot_connect_message(url_of(e), ec)};
  return nullptr;
}

std::string lost_connection(const AdminEndpoint& e, const boost::system::error_code& ec) {
  return fmt::format("the connection to {} failed before the answer was complete: {}", url_of(e), plain_reason(ec));
}

}  // namespace

Expected<HttpReply, TransportError> admin_exchange(const AdminEndpoint& e, const std::string& method, const std::string& target,
                                                   const std::string& body, const std::string& content_type) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  if (auto connected = connect(stream, e); !connected) return Unexpected{TransportError{connected.error(), false}};
  boost::system::error_code ec;
  auto req = make_request(e, beast_http::string_to_verb(method), target, body, content_type);
  beast_http::write(stream, req, ec);
  beast::flat_buffer buffer;
  beast_http::response_parser<beast_http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (!ec) beast_http::read(stream, buffer, parser, ec);
  if (ec) return Unexpected{TransportError{lost_connection(e, ec), true}};
  auto res = parser.release();
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return HttpReply{res.result_int(), std::move(res.body())};
}

Expected<HttpReply, std::string> admin_request(const AdminEndpoint& e, const std::string& method, const std::string& target,
                                               const std::string& body, const std::string& content_type) {
  auto reply = admin_exchange(e, method, target, body, content_type);
  if (!reply) return Unexpected{reply.error().message};
  return std::move(*reply);
}

Expected<void*, std::string> admin_follow(const AdminEndpoint& e, const std::string& target,
                                          const std::function<bool(const std::string&)>& on_data) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  if (auto connected = connect(stream, e); !connected) return Unexpected{connected.error()};
  boost::system::error_code ec;
  auto req = make_request(e, beast_http::verb::get, target, "");
  beast_http::write(stream, req, ec);
  beast::flat_buffer buffer;
  beast_http::response_parser<beast_http::empty_body> header_parser;
  if (!ec) beast_http::read_header(stream, buffer, header_parser, ec);
  if (ec) return Unexpected{lost_connection(e, ec)};
  if (header_parser.get().result_int() != 200) {
    // The refusal's reason is in its JSON body.
    beast_http::response_parser<beast_http::string_body> body_parser(std::move(header_parser));
    boost::system::error_code body_error;
    beast_http::read(stream, buffer, body_parser, body_error);
    HttpReply reply{body_parser.get().result_int(), body_parser.get().body()};
    return Unexpected{fmt::format("the admin API answered {}: {}", reply.status, error_message(reply))};
  }
  std::string pending(static_cast<const char*>(buffer.data().data()), buffer.size());
  char chunk[4096];
  while (true) {
    std::size_t end;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      std::string event = pending.substr(0, end);
      pending.erase(0, end + 2);
      if (event.rfind("data: ", 0) == 0 && !on_data(event.substr(6))) return nullptr;
    }
    std::size_t n = stream.socket().read_some(asio::buffer(chunk), ec);
    // The server never ends a follow stream while it runs: an end means it stopped or died.
    if (ec == asio::error::eof) return Unexpected{std::string("the server ended the log stream (it stopped or restarted)")};
    if (ec) return Unexpected{lost_connection(e, ec)};
    pending.append(chunk, n);
  }
}

std::string error_message(const HttpReply& reply) {
  boost::system::error_code ec;
  auto v = boost::json::parse(reply.body, ec);
  if (!ec && v.is_object()) {
    if (auto* m = v.get_object().if_contains("message"); m && m->is_string()) return std::string(m->get_string());
  }
  return reply.body.empty() ? fmt::format("HTTP {}", reply.status) : reply.body;
}

Expected<boost::json::object, std::string> admin_json(const AdminEndpoint& endpoint, const std::string& method, const std::string& target,
                                                      const std::string& body, unsigned expected_status) {
  auto reply = admin_request(endpoint, method, target, body);
  if (!reply) return Unexpected{reply.error()};
  boost::system::error_code ec;
  auto value = boost::json::parse(reply->body, ec);
  if (reply->status != expected_status || ec || !value.is_object()) return Unexpected{error_message(*reply)};
  return std::move(value.get_object());
}

std::string url_encode(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

}  // namespace sprocket::cli
