#include "secrets/secret_values.h"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace sprocket::secrets {

SecretValues decrypt_all(const std::vector<store::SecretRecord>& records, const SecretBox& box, std::vector<std::string>& problems) {
  SecretValues values;
  for (const auto& r : records) {
    auto plain = box.unseal({r.nonce, r.ciphertext});
    if (!plain) {
      problems.push_back(fmt::format("secret {} of account {} cannot be decrypted with this data directory's key (secret.key): it was sealed "
                                     "with another key; nodes that share a store must share one key file (docs/scale-out.md)", r.name, r.account_id));
      continue;
    }
    values[r.account_id][r.name] = std::move(*plain);
  }
  return values;
}

void redact_in_place(std::string& text, const std::vector<std::pair<std::string, std::string>>& secrets) {
  for (const auto& [name, value] : secrets) {
    if (value.size() < kMinRedactedLength) continue;
    std::string marker = "[REDACTED:" + name + "]";
    for (std::size_t at = text.find(value); at != std::string::npos; at = text.find(value, at + marker.size())) {
      text.replace(at, value.size(), marker);
    }
  }
}

std::string redact(std::string_view original, const std::vector<std::pair<std::string, std::string>>& secrets) {
  std::string text(original);
  redact_in_place(text, secrets);
  return text;
}

void redact_json_strings(boost::json::value& v, const std::vector<std::pair<std::string, std::string>>& secrets) {
  if (v.is_string()) {
    std::string redacted = redact(v.get_string(), secrets);
    if (redacted != v.get_string()) v = redacted;
  } else if (v.is_array()) {
    for (auto& item : v.get_array()) redact_json_strings(item, secrets);
  } else if (v.is_object()) {
    // Keys too: `{[secret]: …}` would otherwise print the secret as a name.
    auto& object = v.get_object();
    bool renamed = false;
    for (auto& member : object) {
      redact_json_strings(member.value(), secrets);
      renamed = renamed || redact(member.key(), secrets) != member.key();
    }
    if (renamed) {
      boost::json::object redacted;
      for (auto& member : object) redacted[redact(member.key(), secrets)] = std::move(member.value());
      object = std::move(redacted);
    }
  }
}

}  // namespace sprocket::secrets
