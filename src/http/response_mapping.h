#pragma once
// HubSpot's response contract: a function's answer (normalised by the guest, see
// docs/protocol.md) becomes an HTTP response.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "util/expected.h"

namespace sprocket::http {

using Response = boost::beast::http::response<boost::beast::http::string_body>;

struct MappedResponse {
  Response response;
  std::vector<std::string> warnings;  // parts of the answer that were dropped, for the log
};

// `answer` holds statusCode, headers, multiValueHeaders, setCookie, body, bodyType
// ("none" | "text" | "json" | "base64"). Fails with a message for the log when the answer
// cannot be sent (a statusCode that is not a final status 200–599, an undecodable base64 body).
Expected<MappedResponse, std::string> map_function_response(const boost::json::object& answer);

bool is_valid_header_name(std::string_view name);
bool is_valid_header_value(std::string_view value);
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace sprocket::http
