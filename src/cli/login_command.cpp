#include "cli/login_command.h"

#include <termios.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <iostream>
#include <iterator>

#include "cli/admin_client.h"
#include "cli/profile.h"

namespace sprocket::cli {
namespace json = boost::json;

namespace {

// From standard input or a prompt that does not echo: a token in argv is in the process list
// for every user of the machine to read, and in shell histories.
std::optional<std::string> read_token(const LoginOptions& o) {
  std::string token;
  if (!o.token_stdin) {
    if (!::isatty(STDIN_FILENO)) {
      fmt::print(stderr, "sprocket: standard input is not a terminal to prompt on: pipe the token in with --token-stdin "
                         "(sprocket login --server {} --token-stdin < token-file)\n", o.server);
      return std::nullopt;
    }
    // Echo goes off before the prompt shows: a token typed (or pasted) the moment it appears is not echoed.
    termios old{};
    ::tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    fmt::print(stderr, "Admin token for {} (not shown): ", o.server);
    std::fflush(stderr);
    std::getline(std::cin, token);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    fmt::print(stderr, "\n");
  } else {
    token.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) {
    fmt::print(stderr, "sprocket: the token is empty; nothing was saved\n");
    return std::nullopt;
  }
  return token;
}

}  // namespace

int run_login(const LoginOptions& o) {
  auto token = read_token(o);
  if (!token) return 2;
  // The endpoint with the token given, not one from SPROCKET_TOKEN or a data directory.
  auto endpoint = admin_endpoint_with_token(o.server, *token);
  if (!endpoint) {
    fmt::print(stderr, "sprocket: --server {}: {}\n", o.server, endpoint.error());
    return 2;
  }
  auto reply = admin_request(*endpoint, "GET", "/api/v1/whoami");
  if (!reply) {
    fmt::print(stderr, "sprocket: {}; nothing was saved\n", reply.error());
    return 1;
  }
  if (reply->status == 401) {
    fmt::print(stderr, "sprocket: {} refused this token (401); nothing was saved. The node's token is in DATA_DIR/admin.token; "
                       "`sprocket tokens create --account ID` makes one for one account\n", o.server);
    return 1;
  }
  boost::system::error_code ec;
  auto who = json::parse(reply->body, ec);
  if (reply->status != 200 || ec || !who.is_object()) {
    fmt::print(stderr, "sprocket: {} answered {} to GET /api/v1/whoami ({}); is it a sprocket admin API? nothing was saved\n", o.server,
               reply->status, error_message(*reply));
    return 1;
  }
  Profile profile{selected_profile(), normalized_server(o.server), *token, std::nullopt};
  const auto* account = who.get_object().if_contains("account");
  if (account && account->is_int64()) profile.account = account->get_int64();
  auto saved = save_profile(profile);
  if (!saved) {
    fmt::print(stderr, "sprocket: {}\n", saved.error());
    return 1;
  }
  std::string scope = profile.account ? fmt::format("a token for account {} only, the default --account", *profile.account)
                                      : std::string("the node's admin token, every account");
  fmt::print(stderr, "sprocket: logged in to {} ({}); profile {} saved in {} (mode 0600)\n", profile.server, scope, profile.name,
             saved->string());
  return 0;
}

int run_logout() {
  std::string name = selected_profile();
  auto removed = remove_profile(name);
  if (!removed) {
    fmt::print(stderr, "sprocket: {}\n", removed.error());
    return 1;
  }
  if (!*removed) {
    fmt::print(stderr, "sprocket: there is no profile {} in {}; nothing to do\n", name, profiles_file().string());
    return 1;
  }
  fmt::print(stderr, "sprocket: profile {} removed from {}; its token still works until it is revoked (`sprocket tokens revoke`)\n",
             name, profiles_file().string());
  return 0;
}

}  // namespace sprocket::cli
