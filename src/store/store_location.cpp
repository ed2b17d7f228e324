#include "store/store_location.h"

#include <fmt/format.h>
#include <stdexcept>

namespace sprocket::store {
namespace {

constexpr std::string_view kForms = "sqlite:PATH or postgresql://HOST:PORT/DATABASE";

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// A password in "scheme://user:password@host/…" or in a "password=" parameter.
bool holds_password(std::string_view uri) {
  std::string_view rest = uri.substr(uri.find("://") + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos && authority.substr(0, at).find(':') != std::string_view::npos) {
    return true;
  }
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    std::string_view query = rest.substr(q + 1);
    for (std::size_t start = 0; start <= query.size();) {
      std::size_t end = query.find('&', start);
      if (starts_with(query.substr(start), "password=")) return true;
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
  }
  return false;
}

}  // namespace

std::string StoreLocation::describe() const {
  return engine == Engine::Sqlite ? fmt::format("SQLite database {}", sqlite_file.string()) : fmt::format("PostgreSQL at {}", postgresql_uri);
}

Expected<StoreLocation, std::string> parse_store_location(std::string_view text, const std::filesystem::path& data_dir) {
  StoreLocation where;
  if (text.empty()) {
    where.sqlite_file = data_dir / "sprocket.db";
    return where;
  }
  if (starts_with(text, "sqlite:")) {
    std::string_view path = text.substr(7);
    if (starts_with(path, "//")) path.remove_prefix(2);  // sqlite:///var/lib/sprocket/sprocket.db
    if (path.empty()) return Unexpected{fmt::format("--store {}: name the database file, e.g. sqlite:/var/lib/sprocket/sprocket.db", text)};
    where.sqlite_file = std::filesystem::path(path);
    return where;
  }
  if (starts_with(text, "postgresql://") || starts_with(text, "postgres://")) {
    if (holds_password(text)) {
      return Unexpected{std::string(
          "--store: the URI holds a password, which every user of this machine could read in the process list; remove it "
          "and put it in a password file (~/.pgpass, or the file PGPASSFILE names) or in PGPASSWORD")};
    }
    where.engine = StoreLocation::Engine::Postgresql;
    where.postgresql_uri = std::string(text);
    return where;
  }
  return Unexpected{fmt::format("--store {}: not a store sprocket knows; write {}", text, kForms)};
}

std::unique_ptr<Store> open_store(const StoreLocation& where, std::chrono::milliseconds busy_timeout) {
  if (where.engine == StoreLocation::Engine::Postgresql) return open_postgres_store(where.postgresql_uri);
  return open_sqlite_store(where.sqlite_file, busy_timeout);
}

std::unique_ptr<Store> open_store(std::string_view text, const std::filesystem::path& data_dir) {
  auto where = parse_store_location(text, data_dir);
  if (!where) throw std::invalid_argument(where.error());
  return open_store(*where);
}

}  // namespace sprocket::store
