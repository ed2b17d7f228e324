#include "config/dotenv.h"

#include <fstream>
#include <sstream>

namespace sprocket::config {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The names dotenv reads ([\w.-]+): a line whose name holds anything else (a space, a NUL, a
// quote) is not a variable to it, so it is none here either.
bool is_dotenv_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!word) return false;
  }
  return true;
}

}  // namespace

std::map<std::string, std::string> parse_dotenv(std::string_view text) {
  std::map<std::string, std::string> values;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (line.empty() || line.front() == '#') continue;
    if (line.substr(0, 7) == "export ") line = trim(line.substr(7));
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string key(trim(line.substr(0, eq)));
    std::string_view raw = trim(line.substr(eq + 1));
    std::string value;
    if (raw.size() >= 2 && (raw.front() == '"' || raw.front() == '\'' || raw.front() == '`')) {
      char quote = raw.front();
      std::size_t close = raw.find(quote, 1);
      // A quoted value may span lines, as dotenv allows.
      if (close == std::string_view::npos) {
        std::size_t rest_close = text.find(quote, pos);
        if (rest_close != std::string_view::npos) {
          value = std::string(raw.substr(1)) + "\n" + std::string(text.substr(pos, rest_close - pos));
          std::size_t next = text.find('\n', rest_close);
          pos = next == std::string_view::npos ? text.size() : next + 1;
        } else {
          value = std::string(raw);
        }
      } else {
        value = std::string(raw.substr(1, close - 1));
      }
      if (quote == '"') {
        std::string unescaped;
        for (std::size_t i = 0; i < value.size(); ++i) {
          if (value[i] == '\\' && i + 1 < value.size() && value[i + 1] == 'n') {
            unescaped += '\n';
            ++i;
          } else {
            unescaped += value[i];
          }
        }
        value = std::move(unescaped);
      }
    } else {
      std::size_t hash = raw.find(" #");
      value = std::string(trim(hash == std::string_view::npos ? raw : raw.substr(0, hash)));
    }
    if (is_dotenv_name(key)) values[key] = value;
  }
  return values;
}

std::map<std::string, std::string> read_dotenv_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_dotenv(buffer.str());
}

}  // namespace sprocket::config
