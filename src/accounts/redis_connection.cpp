#include "accounts/redis_connection.h"

#include <hiredis/hiredis.h>

#include <charconv>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

namespace sprocket::accounts {

void RedisContextDeleter::operator()(redisContext* c) const { redisFree(c); }
void RedisReplyDeleter::operator()(redisReply* r) const { freeReplyObject(r); }

std::string RedisLocation::display() const { return fmt::format("redis://{}:{}/{}", host, port, db); }

namespace {
std::optional<int> parse_int(std::string_view s, int low, int high) {
  int value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || value < low || value > high) return std::nullopt;
  return value;
}
}  // namespace

Expected<RedisLocation, std::string> parse_redis_location(std::string_view url) {
  constexpr std::string_view scheme = "redis://";
  constexpr std::string_view form = "--budget takes local or redis://HOST:PORT[/DB]";
  if (url.substr(0, scheme.size()) != scheme) return Unexpected{fmt::format("{}, not \"{}\"", form, url)};
  std::string_view rest = url.substr(scheme.size());
  // Say nothing of what stood before the @: it may be the password.
  if (rest.find('@') != std::string_view::npos) {
    return Unexpected{std::string("--budget: a Redis password in the URL is refused (a command line is readable by every user "
                                  "of the machine); set SPROCKET_REDIS_PASSWORD, or SPROCKET_REDIS_PASSWORD_FILE to a file "
                                  "holding it, and give the URL without it")};
  }
  RedisLocation where;
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      auto number = parse_int(db, 0, 1 << 20);
      if (!number) return Unexpected{fmt::format("--budget: the database in {} must be a number (redis://HOST:PORT/0)", url)};
      where.db = *number;
    }
  }
  if (authority.empty()) return Unexpected{fmt::format("{}: the URL names no host", form)};
  std::string_view host = authority;
  if (authority.front() == '[') {  // [::1]:6379
    auto close = authority.find(']');
    if (close == std::string_view::npos) return Unexpected{fmt::format("--budget: {} opens a [ it does not close", url)};
    host = authority.substr(1, close - 1);
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() != ':') return Unexpected{fmt::format("{}, not \"{}\"", form, url)};
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    authority.remove_prefix(colon);
  } else {
    authority = {};
  }
  if (!authority.empty()) {
    auto port = parse_int(authority.substr(1), 1, 65535);
    if (!port) return Unexpected{fmt::format("--budget: the port in {} must be a number from 1 to 65535", url)};
    where.port = *port;
  }
  if (host.empty()) return Unexpected{fmt::format("{}: the URL names no host", form)};
  where.host = std::string(host);
  return where;
}

Expected<std::optional<std::string>, std::string> redis_password_from_environment() {
  if (const char* value = std::getenv("SPROCKET_REDIS_PASSWORD"); value && *value) return std::optional<std::string>(value);
  const char* file = std::getenv("SPROCKET_REDIS_PASSWORD_FILE");
  if (!file || !*file) return std::optional<std::string>();
  std::ifstream in(file);
  if (!in) return Unexpected{fmt::format("cannot read the Redis password file {} (SPROCKET_REDIS_PASSWORD_FILE)", file)};
  std::stringstream text;
  text << in.rdbuf();
  std::string password = text.str();
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
  return std::optional<std::string>(std::move(password));
}

Expected<RedisConnection, std::string> RedisConnection::open(const RedisLocation& where, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  std::unique_ptr<redisContext, RedisContextDeleter> context(redisConnectWithTimeout(where.host.c_str(), where.port, tv));
  if (!context) return Unexpected{fmt::format("cannot connect to {}: out of memory", where.display())};
  if (context->err) return Unexpected{fmt::format("cannot connect to {}: {}", where.display(), context->errstr)};
  if (redisSetTimeout(context.get(), tv) != REDIS_OK) {
    return Unexpected{fmt::format("cannot set a time-out on the connection to {}", where.display())};
  }
  RedisConnection connection(std::move(context), where.display());
  auto expect_ok = [&](std::vector<std::string> argv, std::string_view what) -> std::optional<std::string> {
    auto reply = connection.command(argv);
    if (!reply) return reply.error();
    if ((*reply)->type == REDIS_REPLY_ERROR) {
      return fmt::format("{} refused {}: {}", where.display(), what, std::string((*reply)->str, (*reply)->len));
    }
    return std::nullopt;
  };
  if (where.password) {
    if (auto problem = expect_ok({"AUTH", *where.password}, "the password (SPROCKET_REDIS_PASSWORD or _FILE)")) return Unexpected{*problem};
  }
  if (where.db != 0) {
    if (auto problem = expect_ok({"SELECT", std::to_string(where.db)}, fmt::format("database {}", where.db))) return Unexpected{*problem};
  }
  return connection;
}

Expected<RedisReply, std::string> RedisConnection::command(const std::vector<std::string>& argv) {
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  pointers.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const auto& a : argv) {
    pointers.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto* raw = static_cast<redisReply*>(redisCommandArgv(context_.get(), static_cast<int>(argv.size()), pointers.data(), lengths.data()));
  if (!raw) return Unexpected{fmt::format("lost the connection to {}: {}", display_, context_->errstr[0] ? context_->errstr : "no reply")};
  return RedisReply(raw);
}

}  // namespace sprocket::accounts
