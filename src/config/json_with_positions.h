#pragma once
// Strict JSON parsing that remembers where every value starts, so configuration errors can
// name the line and column of the offending field (boost::json keeps no positions).
#include <boost/json/value.hpp>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/config_error.h"
#include "util/expected.h"

namespace sprocket::config {

struct TextPosition {
  int line = 1;    // 1-based
  int column = 1;  // 1-based, in bytes
};

struct JsonDocument {
  boost::json::value root;
  // JSON pointer (RFC 6901) of each value -> where that value starts in the text.
  std::unordered_map<std::string, TextPosition> value_positions;
  // JSON pointer of each object member -> where its key starts.
  std::unordered_map<std::string, TextPosition> key_positions;

  TextPosition position_of(const std::string& pointer) const;      // value, else nearest parent
  TextPosition key_position_of(const std::string& pointer) const;  // key, else value position
};

struct JsonSyntaxError {
  TextPosition position;
  std::size_t offset = 0;
  std::string message;
};

Expected<JsonDocument, JsonSyntaxError> parse_json_with_positions(std::string_view text);

TextPosition position_at_offset(std::string_view text, std::size_t offset);
std::string json_pointer_append(const std::string& parent, std::string_view token);
// "/endpoints/events~1update/method" -> "endpoints.events/update.method", as errors name fields.
std::string field_of_pointer(const std::string& pointer);

// An error about the value at `pointer` in `file`, located and named.
ConfigError located_error(const JsonDocument& doc, const std::filesystem::path& file, const std::string& pointer,
                          std::string message, std::string fix);

}  // namespace sprocket::config
