#pragma once
// A blocking connection to one Redis server (hiredis), for threads that may block: never the
// event loop. Errors name the server as `display` says it, never its password.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/expected.h"

struct redisContext;
struct redisReply;

namespace sprocket::accounts {

struct RedisLocation {
  std::string host;
  int port = 6379;
  int db = 0;
  std::optional<std::string> password;  // from the environment, never from the URL
  std::string display() const;          // redis://HOST:PORT/DB
};

// `redis://HOST[:PORT][/DB]`. A password in the URL is refused (argv is readable by every
// user); it comes from SPROCKET_REDIS_PASSWORD, or the file SPROCKET_REDIS_PASSWORD_FILE names.
Expected<RedisLocation, std::string> parse_redis_location(std::string_view url);
// What the environment says the password is; an unreadable password file is an error.
Expected<std::optional<std::string>, std::string> redis_password_from_environment();

struct RedisContextDeleter {
  void operator()(redisContext* c) const;
};
struct RedisReplyDeleter {
  void operator()(redisReply* r) const;
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

class RedisConnection {
 public:
  // Connects, authenticates and selects the database, each step within `timeout`.
  static Expected<RedisConnection, std::string> open(const RedisLocation& where, std::chrono::milliseconds timeout);
  // One command; an error reply is a value too (the caller looks at its type). A broken
  // connection is an error, after which this connection is of no further use.
  Expected<RedisReply, std::string> command(const std::vector<std::string>& argv);

 private:
  explicit RedisConnection(std::unique_ptr<redisContext, RedisContextDeleter> context, std::string display)
      : context_(std::move(context)), display_(std::move(display)) {}
  std::unique_ptr<redisContext, RedisContextDeleter> context_;
  std::string display_;
};

}  // namespace sprocket::accounts
