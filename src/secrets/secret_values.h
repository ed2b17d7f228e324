#pragma once
// Decrypted secret values by account, as the server holds them in memory.
#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "secrets/secret_box.h"
#include "store/store.h"

namespace sprocket::secrets {

using AccountSecrets = std::map<std::string, std::string>;
using SecretValues = std::map<std::int64_t, AccountSecrets>;  // account id -> name -> value

// Records that fail to decrypt (another key, tampering) are skipped and named in `problems`.
SecretValues decrypt_all(const std::vector<store::SecretRecord>& records, const SecretBox& box, std::vector<std::string>& problems);

// Replaces every occurrence of each value in `text` with [REDACTED:NAME]. Values shorter than
// kMinRedactedLength are left alone: redacting "1" or "on" would garble every line.
std::string redact(std::string_view text, const std::vector<std::pair<std::string, std::string>>& secrets);
// The same, in place: no copy when there is nothing to redact (the common case, on every log line).
void redact_in_place(std::string& text, const std::vector<std::pair<std::string, std::string>>& secrets);
// The same for every string in a JSON value (outputs, results); keys are left as they are.
void redact_json_strings(boost::json::value& value, const std::vector<std::pair<std::string, std::string>>& secrets);
inline constexpr std::size_t kMinRedactedLength = 4;

}  // namespace sprocket::secrets
