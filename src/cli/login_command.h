#pragma once
// `sprocket login --server URL [--token-stdin]` and `sprocket logout`: keep a node's admin URL
// and token in a profile (cli/profile.h) for the remote commands.
#include <string>

namespace sprocket::cli {

struct LoginOptions {
  std::string server;       // the admin API
  bool token_stdin = false; // read the token from standard input (else a prompt on a terminal)
};

// Checks the token against GET /api/v1/whoami before saving anything.
int run_login(const LoginOptions& options);
int run_logout();

}  // namespace sprocket::cli
