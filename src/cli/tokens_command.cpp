#include "cli/tokens_command.h"

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fmt/format.h>

#include "admin/admin_token.h"
#include "cli/admin_client.h"
#include "cli/data_dir.h"
#include "logs/log_format.h"
#include "store/store_location.h"

namespace sprocket::cli {
namespace json = boost::json;

namespace {

// A data directory that cannot be used (exit 2, as for serve), rather than a failure on the way (exit 1).
struct DataDirProblem : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The store of the data directory, made ready as `serve` makes it.
std::unique_ptr<store::Store> open_tokens_store(const TokensOptions& o) {
  auto prepared = prepare_data_dir(o.data_dir);
  if (!prepared) throw DataDirProblem(prepared.error());
  for (const auto& note : *prepared) fmt::print(stderr, "sprocket: {}\n", note);
  return store::open_store(o.store, o.data_dir);
}

// Runs one tokens command on its store: an unusable data directory exits 2, any other failure 1.
template <class Command>
int with_tokens_store(const TokensOptions& o, Command command) {
  try {
    auto store = open_tokens_store(o);
    return command(*store);
  } catch (const DataDirProblem& e) {
    fmt::print(stderr, "sprocket: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "sprocket: {}\n", e.what());
    return 1;
  }
}

void print_tokens(const TokensOptions& o, const json::array& listed) {
  if (o.json) {
    fmt::print("{}\n", json::serialize(listed));
    return;
  }
  std::string text;
  for (const auto& t : listed) {
    const auto& token = t.as_object();
    text += fmt::format("{}\t{}\t{}\n", std::string_view(token.at("id").as_string()), token.at("account").as_int64(),
                        std::string_view(token.at("createdAt").as_string()));
  }
  fmt::print("{}", text);
}

// --server: the same through the node's admin API (GET and DELETE /api/v1/tokens).
int remote_tokens(const TokensOptions& o, bool revoke) {
  auto endpoint = admin_endpoint(o.server, o.data_dir);
  if (!endpoint) {
    fmt::print(stderr, "sprocket: {}\n", endpoint.error());
    return 2;
  }
  auto answer = revoke ? admin_json(*endpoint, "DELETE", "/api/v1/tokens/" + url_encode(o.id))
                       : admin_json(*endpoint, "GET", "/api/v1/tokens");
  if (!answer) {
    fmt::print(stderr, "sprocket: {}\n", answer.error());
    return 1;
  }
  if (revoke) {
    fmt::print(stderr, "sprocket: revoked {} (account {}); the node refuses it within a second\n", o.id, answer->at("account").as_int64());
  } else {
    print_tokens(o, answer->at("tokens").as_array());
  }
  return 0;
}

}  // namespace

int run_tokens_create(const TokensOptions& o) {
  return with_tokens_store(o, [&](store::Store& store) {
    std::string token = admin::new_token();
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::string hash = admin::token_hash(token);
    store.add_admin_token(hash, o.account_id, now);
    // Only its hash is stored: this is the one time the token can be read.
    fmt::print("{}\n", token);
    fmt::print(stderr, "sprocket: an admin token for account {}, id {} (shown once; a running server accepts it within a second; "
                       "`sprocket tokens revoke {}` ends it)\n",
               o.account_id, admin::token_id(hash), admin::token_id(hash));
    return 0;
  });
}

int run_tokens_list(const TokensOptions& o) {
  if (!o.server.empty()) return remote_tokens(o, false);
  return with_tokens_store(o, [&](store::Store& store) {
    json::array listed;
    for (const auto& t : store.admin_tokens()) {
      listed.push_back(json::object{{"id", admin::token_id(t.token_hash)}, {"account", t.account_id},
                                    {"createdAt", logs::iso_timestamp(t.created_ms)}});
    }
    print_tokens(o, listed);
    return 0;
  });
}

int run_tokens_revoke(const TokensOptions& o) {
  if (!o.server.empty()) return remote_tokens(o, true);
  return with_tokens_store(o, [&](store::Store& store) {
    for (const auto& t : store.admin_tokens()) {
      if (admin::token_id(t.token_hash) != o.id) continue;
      store.remove_admin_token(t.token_hash);
      fmt::print(stderr, "sprocket: revoked {} (account {}); a running server refuses it within a second\n", o.id, t.account_id);
      return 0;
    }
    fmt::print(stderr, "sprocket: no admin token has the id {} (`sprocket tokens list --data-dir {}` shows them); nothing was revoked\n",
               o.id, o.data_dir);
    return 1;
  });
}

}  // namespace sprocket::cli
