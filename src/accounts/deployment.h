#pragma once
// Everything one node serves: its accounts (HubSpot portals) and their functions.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "accounts/execution_budget.h"
#include "accounts/limits.h"
#include "accounts/server_config.h"
#include "config/catalog.h"

namespace sprocket::accounts {

struct Account {
  std::int64_t id = 0;
  std::vector<std::string> domains;
  AccountLimits limits;
  std::unique_ptr<ExecutionBudget> budget;
};

struct Deployment {
  std::vector<Account> accounts;  // [0] is the default account: it gets every unknown Host
  config::Catalog catalog;        // every account's functions; FunctionSpec::account_index

  std::size_t account_for_host(std::string_view host) const;  // Host header, port allowed
  std::unordered_map<std::string, std::size_t> by_domain;
};

// The default account serves `paths` (the command line's); the configuration file may add
// accounts of its own. Each account's catalog is validated alone (paths are per account) and
// against its limits on endpoints and secrets.
Expected<Deployment, config::ConfigErrors> load_deployment(const ServerConfig& config, std::int64_t default_account_id,
                                                           const std::vector<std::filesystem::path>& paths);

}  // namespace sprocket::accounts
