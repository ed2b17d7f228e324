#include "cli/secret_warnings.h"

#include <fmt/format.h>

namespace sprocket::cli {

void SetSecrets::update(const secrets::SecretValues& values) {
  SecretNames names;
  for (const auto& [account, secrets] : values) {
    for (const auto& entry : secrets) names[account].insert(entry.first);
  }
  std::lock_guard lock(mutex_);
  names_ = std::move(names);
}

SecretNames SetSecrets::names() const {
  std::lock_guard lock(mutex_);
  return names_;
}

namespace {

bool has(const SecretNames& set, std::int64_t account, const std::string& name) {
  auto it = set.find(account);
  return it != set.end() && it->second.count(name) > 0;
}

bool in_dotenv(const config::Catalog& catalog, const std::filesystem::path& folder, const std::string& name) {
  auto it = catalog.dotenv_by_folder.find(folder);
  return it != catalog.dotenv_by_folder.end() && it->second.count(name) > 0;
}

// Shaped as serverless.json's own warnings ("FILE:LINE:COLUMN: warning: …"), so that a deploy
// names the file as it is in the uploaded folder.
std::string warning(const std::string& where, const std::string& who, const std::string& secret, std::int64_t account) {
  return fmt::format("{}: warning: {} lists {}, which account {} has not set: sprocket secrets add {} --account {}", where, who,
                     secret, account, secret, account);
}

}  // namespace

std::vector<std::string> unset_secret_warnings(const config::Catalog& catalog, const accounts::Deployment& deployment,
                                               const SecretNames& set) {
  std::vector<std::string> warnings;
  for (const auto& f : catalog.functions) {
    std::int64_t account = deployment.accounts[f.account_index].id;
    for (const auto& secret : f.secrets) {
      if (!has(set, account, secret) && !in_dotenv(catalog, f.folder, secret)) {
        warnings.push_back(warning(fmt::format("{}:{}:{}", f.serverless_json.string(), f.declared_line, f.declared_column), f.name, secret, account));
      }
    }
  }
  for (const auto& a : catalog.actions) {
    std::int64_t account = deployment.accounts[a.account_index].id;
    for (const auto& secret : a.secrets) {
      if (!has(set, account, secret) && !in_dotenv(catalog, a.folder, secret)) {
        warnings.push_back(warning((a.folder / "actions.json").string(), a.name, secret, account));
      }
    }
  }
  return warnings;
}

}  // namespace sprocket::cli
