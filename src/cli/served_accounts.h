#pragma once
// What `serve PATH… [--config FILE]` serves, loaded the way serve loads it: shared by `serve`,
// `dev` and `functions list`, so that the list never disagrees with what is served.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "accounts/deployment.h"
#include "util/expected.h"

namespace sprocket::cli {

struct ServedFolders {
  std::vector<std::string> paths;  // empty: the current folder when it holds functions
  std::string config_file;         // --config: accounts, their domains, paths and limits
  std::int64_t account_id = 123456;
};

// The accounts and their folders, validated; `adjust_limits` changes every account's limits
// (serve's command-line overrides). The error is formatted for a user (file, line, fix).
Expected<accounts::Deployment, std::string> load_served_accounts(
    const ServedFolders& folders, const std::function<void(accounts::AccountLimits&)>& adjust_limits = {});

}  // namespace sprocket::cli
