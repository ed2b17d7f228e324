#include "accounts/deployment.h"

#include <algorithm>
#include <fmt/format.h>
#include <set>

namespace sprocket::accounts {
namespace fs = std::filesystem;
using config::ConfigError;
using config::ConfigErrors;

namespace {

void check_counts(const Account& account, const config::Catalog& catalog, const std::vector<fs::path>& paths, ConfigErrors& errors) {
  std::size_t endpoints = std::count_if(catalog.functions.begin(), catalog.functions.end(), [](const auto& f) { return f.route.has_value(); });
  std::set<std::string> secrets;
  for (const auto& f : catalog.functions) secrets.insert(f.secrets.begin(), f.secrets.end());
  fs::path where = paths.empty() ? fs::path() : paths.front();
  if (endpoints > static_cast<std::size_t>(account.limits.max_endpoints)) {
    errors.push_back(ConfigError{where, 0, 0, "",
                                 fmt::format("account {} would serve {} endpoints; the limit is {} endpoints per account", account.id,
                                             endpoints, account.limits.max_endpoints),
                                 "remove endpoints, or raise limits.maxEndpoints in the configuration file"});
  }
  if (secrets.size() > static_cast<std::size_t>(account.limits.max_secrets)) {
    errors.push_back(ConfigError{where, 0, 0, "",
                                 fmt::format("account {} uses {} distinct secrets; the limit is {} secrets per account", account.id,
                                             secrets.size(), account.limits.max_secrets),
                                 "share secrets between functions, or raise limits.maxSecrets in the configuration file"});
  }
}

// Where a function or action being replaced came from, as a deployer knows it: a deployment by
// name and version, or a folder the node serves in place by its name alone (the holder of an
// account's scoped token has no business with the node's layout).
std::string origin_of(std::int64_t deployed_version, const fs::path& folder, std::size_t account_index,
                      const std::vector<DeployedSource>& deployed) {
  for (const auto& source : deployed) {
    if (deployed_version > 0 && source.account_index == account_index && source.version == deployed_version) {
      return fmt::format("{} version {}", source.name, source.version);
    }
  }
  return fmt::format("the node's folder {}", folder.filename().string());
}

}  // namespace

std::size_t Deployment::account_for_host(std::string_view host) const {
  if (by_domain.empty() || host.empty()) return 0;
  if (host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  std::string key(host);
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
  auto it = by_domain.find(key);
  return it == by_domain.end() ? 0 : it->second;
}

std::optional<std::size_t> Deployment::index_of(std::int64_t account_id) const {
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    if (accounts[i].id == account_id) return i;
  }
  return std::nullopt;
}

Expected<Deployment, ConfigErrors> load_deployment(const ServerConfig& config, std::int64_t default_account_id,
                                                   const std::vector<fs::path>& paths) {
  std::vector<AccountConfig> wanted;
  AccountConfig default_account{default_account_id, {}, paths, config.default_limits};
  for (const auto& a : config.accounts) {
    if (a.id == default_account_id) {
      default_account.domains = a.domains;
      default_account.limits = a.limits;
      default_account.paths.insert(default_account.paths.end(), a.paths.begin(), a.paths.end());
    } else {
      wanted.push_back(a);
    }
  }
  wanted.insert(wanted.begin(), default_account);

  Deployment deployment;
  ConfigErrors errors;
  for (std::size_t index = 0; index < wanted.size(); ++index) {
    const auto& want = wanted[index];
    Account account;
    account.id = want.id;
    account.domains = want.domains;
    account.paths = want.paths;
    account.limits = want.limits;
    account.budget = std::make_unique<ExecutionBudget>(want.limits.execution_seconds_per_minute, want.limits.executions_per_minute);
    for (const auto& domain : want.domains) {
      auto [it, inserted] = deployment.by_domain.emplace(domain, index);
      if (!inserted && it->second != index) {
        errors.push_back(ConfigError{{}, 0, 0, "", fmt::format("domain {} is given to accounts {} and {}", domain,
                                                                wanted[it->second].id, want.id),
                                     "give each domain to one account"});
      }
    }
    deployment.accounts.push_back(std::move(account));
  }
  if (!errors.empty()) return Unexpected{errors};
  return deployment;
}

Expected<config::Catalog, ConfigErrors> load_functions(const Deployment& deployment, const std::vector<DeployedSource>& deployed,
                                                       std::vector<Takeover>* takeovers) {
  config::Catalog all;
  ConfigErrors errors;
  for (std::size_t index = 0; index < deployment.accounts.size(); ++index) {
    const auto& account = deployment.accounts[index];
    config::Catalog catalog;
    if (!account.paths.empty()) {
      auto loaded = config::load_catalog(account.paths);
      if (!loaded) {
        errors.insert(errors.end(), loaded.error().begin(), loaded.error().end());
        continue;
      }
      catalog = std::move(*loaded);
    }
    // Deployed sources, in activation order: a later one takes over the paths it shares.
    for (std::size_t source_index = 0; source_index < deployed.size(); ++source_index) {
      const auto& source = deployed[source_index];
      if (source.account_index != index) continue;
      auto loaded = config::load_catalog({source.folder});
      if (!loaded) {
        errors.insert(errors.end(), loaded.error().begin(), loaded.error().end());
        continue;
      }
      for (auto& f : loaded->functions) {
        auto clash = std::find_if(catalog.functions.begin(), catalog.functions.end(), [&](const config::FunctionSpec& other) {
          return f.route ? other.route == f.route : (other.is_app_function() && other.name == f.name);
        });
        if (clash != catalog.functions.end()) {
          if (takeovers) {
            std::string taken = f.route ? "now answers " + *f.route : std::string("replaces the app function of that name");
            takeovers->push_back({source_index, fmt::format("{} of {} {} (it was {} of {})", f.name, source.name, taken, clash->name,
                                                            origin_of(clash->deployed_version, clash->serverless_json.parent_path(),
                                                                      index, deployed))});
          }
          catalog.functions.erase(clash);
        }
        f.deployed_version = source.version;
        catalog.functions.push_back(std::move(f));
      }
      for (auto& a : loaded->actions) {
        auto clash = std::find_if(catalog.actions.begin(), catalog.actions.end(), [&](const config::ActionSpec& other) { return other.name == a.name; });
        if (clash != catalog.actions.end()) {
          if (takeovers) {
            takeovers->push_back({source_index, fmt::format("action {} of {} replaces the one of {}", a.name, source.name,
                                                            origin_of(clash->deployed_version, clash->folder, index, deployed))});
          }
          catalog.actions.erase(clash);
        }
        a.deployed_version = source.version;
        catalog.actions.push_back(std::move(a));
      }
      catalog.warnings.insert(catalog.warnings.end(), loaded->warnings.begin(), loaded->warnings.end());
      catalog.dotenv_by_folder.merge(loaded->dotenv_by_folder);
    }
    check_counts(account, catalog, account.paths, errors);
    for (auto& f : catalog.functions) {
      f.account_index = index;
      all.functions.push_back(std::move(f));
    }
    for (auto& a : catalog.actions) {
      a.account_index = index;
      all.actions.push_back(std::move(a));
    }
    all.warnings.insert(all.warnings.end(), catalog.warnings.begin(), catalog.warnings.end());
    all.dotenv_by_folder.merge(catalog.dotenv_by_folder);
  }
  if (!errors.empty()) return Unexpected{errors};
  return all;
}

}  // namespace sprocket::accounts
