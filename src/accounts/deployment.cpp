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
    if (want.paths.empty() && index > 0) {
      errors.push_back(ConfigError{{}, 0, 0, "", fmt::format("account {} serves nothing", want.id),
                                   "list the folders it serves in \"paths\""});
    }
    if (!want.paths.empty()) {
      auto catalog = config::load_catalog(want.paths);
      if (!catalog) {
        errors.insert(errors.end(), catalog.error().begin(), catalog.error().end());
      } else {
        check_counts(account, *catalog, want.paths, errors);
        for (auto& f : catalog->functions) {
          f.account_index = index;
          deployment.catalog.functions.push_back(std::move(f));
        }
        deployment.catalog.warnings.insert(deployment.catalog.warnings.end(), catalog->warnings.begin(), catalog->warnings.end());
        deployment.catalog.dotenv_by_folder.merge(catalog->dotenv_by_folder);
      }
    }
    deployment.accounts.push_back(std::move(account));
  }
  if (!errors.empty()) return Unexpected{errors};
  return deployment;
}

}  // namespace sprocket::accounts
