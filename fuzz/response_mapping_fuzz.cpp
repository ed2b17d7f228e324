// A function's answer, as any user code could shape it (the guest normalises it, but a hostile
// function can forge the frame): HubSpot's response contract maps it to an HTTP response. That
// response, written as the server writes it, must be exactly one well-formed HTTP response
// (no header or response splitting) with the status the mapping chose.
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <sstream>

#include "fuzz_support.h"
#include "http/response_mapping.h"
#include "runtime/worker_frames.h"

namespace {
using namespace sprocket;
namespace beast_http = boost::beast::http;
namespace json = boost::json;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  boost::system::error_code ec;
  json::value answer = runtime::parse_worker_json(fuzz::as_text(data, size), ec);
  if (ec || !answer.is_object()) return 0;
  auto mapped = http::map_function_response(answer.get_object());
  if (!mapped) {
    if (mapped.error().empty()) fuzz::fail("a refused answer without a reason");
    return 0;
  }
  http::Response& response = mapped->response;
  for (const auto& field : response) {
    if (!http::is_valid_header_name(field.name_string()) || !http::is_valid_header_value(field.value())) {
      fuzz::fail("an invalid header was kept: " + std::string(field.name_string()));
    }
  }
  unsigned status = response.result_int();
  if (status < 200 || status > 599) fuzz::fail("a status that is not final: " + std::to_string(status));

  for (bool keep_alive : {true, false}) {  // as server.cpp writes it
    http::Response copy = response;
    copy.version(11);
    copy.keep_alive(keep_alive);
    copy.prepare_payload();
    std::ostringstream out;
    out << copy;
    std::string wire = out.str();

    beast_http::response_parser<beast_http::string_body> parser;
    parser.eager(true);
    parser.body_limit(wire.size());
    std::size_t used = parser.put(boost::asio::buffer(wire), ec);
    if (ec || !parser.is_done()) fuzz::fail("the response does not parse back: " + ec.message() + "\n" + wire.substr(0, 2000));
    if (used != wire.size()) fuzz::fail("the response has bytes after its end (response splitting):\n" + wire.substr(0, 2000));
    if (parser.get().result_int() != status) fuzz::fail("the status changed on the wire");
    if (parser.get().body() != response.body()) fuzz::fail("the body changed on the wire");
  }
  return 0;
}
