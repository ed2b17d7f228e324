#include "cli/served_accounts.h"

#include <filesystem>

#include "accounts/server_config.h"
#include "config/catalog.h"

namespace sprocket::cli {
namespace fs = std::filesystem;

Expected<accounts::Deployment, std::string> load_served_accounts(
    const ServedFolders& folders, const std::function<void(accounts::AccountLimits&)>& adjust_limits) {
  accounts::ServerConfig server_config;
  if (!folders.config_file.empty()) {
    auto loaded = accounts::load_server_config(folders.config_file);
    if (!loaded) return Unexpected{config::format_errors(loaded.error())};
    server_config = std::move(*loaded);
  }
  if (adjust_limits) {
    adjust_limits(server_config.default_limits);
    for (auto& account : server_config.accounts) adjust_limits(account.limits);
  }
  std::vector<fs::path> paths(folders.paths.begin(), folders.paths.end());
  // Without a PATH: the current folder when it holds functions; else only what is deployed.
  if (paths.empty() && folders.config_file.empty() && config::discover_functions_folders({"."})) paths.push_back(".");
  auto deployment = accounts::load_deployment(server_config, folders.account_id, paths);
  if (!deployment) return Unexpected{config::format_errors(deployment.error())};
  return std::move(*deployment);
}

}  // namespace sprocket::cli
