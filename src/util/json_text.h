#pragma once
// Small helpers for writing JSON text directly, where building a DOM would only be thrown away.
#include <string>
#include <string_view>

namespace sprocket::util {

void append_json_string(std::string& out, std::string_view text);  // quoted and escaped; invalid UTF-8 becomes U+FFFD

}  // namespace sprocket::util
