#include "config/json_with_positions.h"

#include <boost/json.hpp>
#include <charconv>
#include <cstdint>
#include <fmt/format.h>

namespace sprocket::config {
namespace {

constexpr int kMaxDepth = 200;

class PositionedParser {
 public:
  explicit PositionedParser(std::string_view text) : text_(text) {}

  Expected<JsonDocument, JsonSyntaxError> parse() {
    JsonDocument doc;
    document_ = &doc;
    skip_whitespace();
    if (at_end()) return fail("the file is empty; expected a JSON object");
    if (!parse_value("", doc.root, 0)) return Unexpected{error_};
    skip_whitespace();
    if (!at_end()) return fail("unexpected text after the end of the JSON value");
    return doc;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  Unexpected<JsonSyntaxError> fail(std::string message) {
    set_error(std::move(message));
    return Unexpected{error_};
  }
  bool set_error(std::string message) {
    if (error_.message.empty()) {
      error_.offset = pos_;
      error_.position = position_at_offset(text_, pos_);
      error_.message = std::move(message);
    }
    return false;
  }

  void skip_whitespace() {
    while (!at_end()) {
      char c = peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else {
        break;
      }
    }
  }

  std::string describe_here() const {
    if (at_end()) return "the end of the file";
    char c = peek();
    if (c == '\'') return "a single quote (JSON strings use double quotes)";
    if (c == '/') return "a comment (JSON allows no comments)";
    return fmt::format("'{}'", c);
  }

  bool parse_value(const std::string& pointer, boost::json::value& out, int depth) {
    if (depth > kMaxDepth) return set_error("the JSON is nested too deeply");
    skip_whitespace();
    if (at_end()) return set_error("unexpected end of file; expected a value");
    document_->value_positions.emplace(pointer, position_at_offset(text_, pos_));
    char c = peek();
    switch (c) {
      case '{': return parse_object(pointer, out, depth);
      case '[': return parse_array(pointer, out, depth);
      case '"': {
        std::string s;
        if (!parse_string(s)) return false;
        out = boost::json::string(s);
        return true;
      }
      case 't': return parse_literal("true", out, boost::json::value(true));
      case 'f': return parse_literal("false", out, boost::json::value(false));
      case 'n': return parse_literal("null", out, boost::json::value(nullptr));
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(out);
        return set_error(fmt::format("expected a value but found {}", describe_here()));
    }
  }

  bool parse_literal(std::string_view word, boost::json::value& out, boost::json::value v) {
    if (text_.substr(pos_, word.size()) != word) {
      return set_error(fmt::format("expected a value but found {}", describe_here()));
    }
    pos_ += word.size();
    out = std::move(v);
    return true;
  }

  bool parse_number(boost::json::value& out) {
    std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (at_end() || !(peek() >= '0' && peek() <= '9')) return set_error("invalid number");
    if (peek() == '0') {
      ++pos_;
    } else {
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
    }
    bool is_integer = true;
    if (!at_end() && peek() == '.') {
      is_integer = false;
      ++pos_;
      if (at_end() || !(peek() >= '0' && peek() <= '9')) return set_error("invalid number: digits must follow '.'");
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      is_integer = false;
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (at_end() || !(peek() >= '0' && peek() <= '9')) return set_error("invalid number: digits must follow the exponent");
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
    }
    std::string_view digits = text_.substr(start, pos_ - start);
    if (is_integer) {
      std::int64_t i = 0;
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), i);
      if (ec == std::errc() && p == digits.data() + digits.size()) {
        out = i;
        return true;
      }
    }
    // boost::json parses doubles exactly as JSON specifies; reuse it.
    boost::system::error_code ec;
    auto v = boost::json::parse(digits, ec);
    if (ec) return set_error("invalid number");
    out = v.is_double() ? v : boost::json::value(v.to_number<double>());
    return true;
  }

  static void append_utf8(std::string& s, std::uint32_t cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool parse_hex4(std::uint32_t& cp) {
    if (pos_ + 4 > text_.size()) return set_error("incomplete \\u escape");
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      char h = text_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= h - '0';
      else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
      else return set_error("invalid hexadecimal digit in \\u escape");
    }
    return true;
  }

  bool parse_string(std::string& out) {
    ++pos_;  // opening quote
    while (true) {
      if (at_end()) return set_error("unterminated string: a closing '\"' is missing");
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return set_error("control character (such as a line break) inside a string; escape it");
      }
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      if (at_end()) return set_error("unterminated escape sequence");
      char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!parse_hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF && text_.substr(pos_, 2) == "\\u") {
            pos_ += 2;
            std::uint32_t low = 0;
            if (!parse_hex4(low)) return false;
            if (low >= 0xDC00 && low <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              append_utf8(out, cp);
              cp = low;
            }
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --pos_;
          return set_error(fmt::format("invalid escape sequence '\\{}'", e));
      }
    }
  }

  bool parse_object(const std::string& pointer, boost::json::value& out, int depth) {
    ++pos_;  // '{'
    boost::json::object object;
    skip_whitespace();
    if (!at_end() && peek() == '}') {
      ++pos_;
      out = std::move(object);
      return true;
    }
    while (true) {
      skip_whitespace();
      if (at_end() || peek() != '"') {
        if (!at_end() && peek() == '}') return set_error("trailing comma before '}'");
        return set_error(fmt::format("expected a member name in double quotes but found {}", describe_here()));
      }
      std::size_t key_offset = pos_;
      TextPosition key_position = position_at_offset(text_, pos_);
      std::string key;
      if (!parse_string(key)) return false;
      std::string member_pointer = json_pointer_append(pointer, key);
      if (object.contains(key)) {
        pos_ = key_offset;
        return set_error(fmt::format("duplicate member \"{}\"; each name may appear once", key));
      }
      document_->key_positions.emplace(member_pointer, key_position);
      skip_whitespace();
      if (at_end() || peek() != ':') return set_error(fmt::format("expected ':' after \"{}\" but found {}", key, describe_here()));
      ++pos_;
      boost::json::value member;
      if (!parse_value(member_pointer, member, depth + 1)) return false;
      object.emplace(key, std::move(member));
      skip_whitespace();
      if (at_end()) return set_error("unexpected end of file; a closing '}' is missing");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        out = std::move(object);
        return true;
      }
      return set_error(fmt::format("expected ',' or '}}' after the value of \"{}\" but found {}", key, describe_here()));
    }
  }

  bool parse_array(const std::string& pointer, boost::json::value& out, int depth) {
    ++pos_;  // '['
    boost::json::array array;
    skip_whitespace();
    if (!at_end() && peek() == ']') {
      ++pos_;
      out = std::move(array);
      return true;
    }
    while (true) {
      skip_whitespace();
      if (!at_end() && peek() == ']') return set_error("trailing comma before ']'");
      boost::json::value element;
      if (!parse_value(json_pointer_append(pointer, std::to_string(array.size())), element, depth + 1)) return false;
      array.push_back(std::move(element));
      skip_whitespace();
      if (at_end()) return set_error("unexpected end of file; a closing ']' is missing");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        out = std::move(array);
        return true;
      }
      return set_error(fmt::format("expected ',' or ']' in an array but found {}", describe_here()));
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  JsonDocument* document_ = nullptr;
  JsonSyntaxError error_;
};

}  // namespace

TextPosition position_at_offset(std::string_view text, std::size_t offset) {
  TextPosition p;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++p.line;
      p.column = 1;
    } else {
      ++p.column;
    }
  }
  return p;
}

std::string json_pointer_append(const std::string& parent, std::string_view token) {
  std::string out = parent;
  out += '/';
  for (char c : token) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string field_of_pointer(const std::string& pointer) {
  std::string out;
  std::size_t i = 1;
  while (!pointer.empty() && i <= pointer.size()) {
    std::size_t next = pointer.find('/', i);
    std::string token = pointer.substr(i, next == std::string::npos ? std::string::npos : next - i);
    if (!out.empty()) out += '.';
    for (std::size_t k = 0; k < token.size(); ++k) {
      if (token[k] == '~' && k + 1 < token.size()) {
        out += token[k + 1] == '1' ? '/' : '~';
        ++k;
      } else {
        out += token[k];
      }
    }
    if (next == std::string::npos) break;
    i = next + 1;
  }
  return out;
}

ConfigError located_error(const JsonDocument& doc, const std::filesystem::path& file, const std::string& pointer,
                          std::string message, std::string fix) {
  TextPosition p = doc.position_of(pointer);
  return ConfigError{file, p.line, p.column, field_of_pointer(pointer), std::move(message), std::move(fix)};
}

TextPosition JsonDocument::position_of(const std::string& pointer) const {
  std::string p = pointer;
  while (true) {
    if (auto it = value_positions.find(p); it != value_positions.end()) return it->second;
    auto slash = p.rfind('/');
    if (slash == std::string::npos) return {};
    p.resize(slash);
  }
}

TextPosition JsonDocument::key_position_of(const std::string& pointer) const {
  if (auto it = key_positions.find(pointer); it != key_positions.end()) return it->second;
  return position_of(pointer);
}

Expected<JsonDocument, JsonSyntaxError> parse_json_with_positions(std::string_view text) {
  // A UTF-8 byte order mark is legal in files written by some editors.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return PositionedParser(text).parse();
}

}  // namespace sprocket::config
