#pragma once
// The optional server configuration file (`serve --config sprocket.json`): accounts, the
// domains that lead to them, what they serve, and their limits. See docs/configuration.md.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "accounts/limits.h"
#include "config/config_error.h"
#include "util/expected.h"

namespace sprocket::accounts {

struct AccountConfig {
  std::int64_t id = 0;
  std::vector<std::string> domains;           // Host header values (without port), lower case
  std::vector<std::filesystem::path> paths;   // what it serves, resolved against the config file
  AccountLimits limits;
};

struct ServerConfig {
  AccountLimits default_limits;
  std::vector<AccountConfig> accounts;
};

Expected<ServerConfig, config::ConfigErrors> parse_server_config(const std::filesystem::path& file, std::string_view text);
Expected<ServerConfig, config::ConfigErrors> load_server_config(const std::filesystem::path& file);

}  // namespace sprocket::accounts
