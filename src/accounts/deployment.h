#pragma once
// Everything one node serves: its accounts (HubSpot portals) and their functions.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
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
  std::vector<std::filesystem::path> paths;  // folders it serves as they are (not deployed)
  AccountLimits limits;
  std::unique_ptr<AccountBudget> budget;  // local by default; serve --budget may replace it (budget_backend.h)
};

// The accounts one node serves. Stable for the life of the process: the functions they serve
// change (a deploy, a reload) but their budgets and limits carry on.
struct Deployment {
  std::vector<Account> accounts;  // [0] is the default account: it gets every unknown Host
  std::unordered_map<std::string, std::size_t> by_domain;

  std::size_t account_for_host(std::string_view host) const;  // Host header, port allowed
  std::optional<std::size_t> index_of(std::int64_t account_id) const;
};

// The default account serves `paths` (the command line's); the configuration file may add
// accounts of its own.
Expected<Deployment, config::ConfigErrors> load_deployment(const ServerConfig& config, std::int64_t default_account_id,
                                                           const std::vector<std::filesystem::path>& paths);

// Folders an account serves besides its own paths: deployed sources, oldest activation first.
struct DeployedSource {
  std::size_t account_index = 0;
  std::string name;
  std::int64_t version = 0;
  std::filesystem::path folder;
};

// A path (or an app function's or action's name) that a deployed source took from an earlier
// one, said in a deployer's terms: deployments by name and version, never the node's folders.
struct Takeover {
  std::size_t source = 0;  // the index in `deployed` of the source that took it
  std::string what;        // "hello of beta now answers /hs/serverless/shared (it was hello of alpha version 1)"
};

// Every account's functions, validated: each account's paths alone (two functions on one path
// is an error there), then its deployed sources, where a later activation takes a path from an
// earlier one (HubSpot: "the most recently deployed endpoint function will take precedence");
// `takeovers` says what was taken. Limits on endpoints and secrets are checked per account.
Expected<config::Catalog, config::ConfigErrors> load_functions(const Deployment& deployment,
                                                               const std::vector<DeployedSource>& deployed,
                                                               std::vector<Takeover>* takeovers = nullptr);

}  // namespace sprocket::accounts
