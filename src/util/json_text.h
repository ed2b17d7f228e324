#pragma once
// Small helpers for writing JSON text directly, where building a DOM would only be thrown away.
#include <string>
#include <string_view>

namespace sprocket::util {

void append_json_string(std::string& out, std::string_view text);  // quoted and escaped; invalid UTF-8 becomes U+FFFD

// `text` as well-formed UTF-8 without NUL bytes, as a database's text column takes it: each
// byte that is not part of a well-formed character becomes U+FFFD, and each NUL too.
std::string valid_utf8_text(std::string_view text);

}  // namespace sprocket::util
