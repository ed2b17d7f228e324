#pragma once
// "envprobe lists HOLDOUT_SECRET, which account 424242 has not set: sprocket secrets add …":
// said at serve, dev and deploy time, not at the first request that reads an empty variable.
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "accounts/deployment.h"
#include "config/catalog.h"
#include "secrets/secret_values.h"

namespace sprocket::cli {

using SecretNames = std::map<std::int64_t, std::set<std::string>>;  // account id -> the names it has set

// The names of the secrets set per account, kept current by the secrets service's callback (the
// event loop) and read by deploys (their own thread): names only, never values.
class SetSecrets {
 public:
  void update(const secrets::SecretValues& values);
  SecretNames names() const;

 private:
  mutable std::mutex mutex_;
  SecretNames names_;
};

// One warning per secret a function or action lists that neither its account (`set`) nor its
// folder's .env has; each starts with the serverless.json or actions.json that lists it.
std::vector<std::string> unset_secret_warnings(const config::Catalog& catalog, const accounts::Deployment& deployment,
                                               const SecretNames& set);

}  // namespace sprocket::cli
