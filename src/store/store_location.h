#pragma once
// Where the durable state lives, as `--store` names it: "sqlite:PATH" (the default is
// sqlite:DATA_DIR/sprocket.db) or a PostgreSQL connection URI, "postgresql://HOST:PORT/DB?…"
// (several nodes sharing one state; docs/configuration.md). The rest of the gateway opens a
// Store through open_store and never learns which engine it got.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "store/store.h"
#include "util/expected.h"

namespace sprocket::store {

struct StoreLocation {
  enum class Engine { Sqlite, Postgresql };
  Engine engine = Engine::Sqlite;
  std::filesystem::path sqlite_file;  // Sqlite
  std::string postgresql_uri;         // Postgresql; never holds a password
  std::string describe() const;       // for messages and logs
};

// `text` empty: the default, DATA_DIR/sprocket.db. Refuses what it cannot use with a message
// that says what to write instead; a password inside the URI is refused, since a command line
// is visible to every user in the process list (libpq reads PGPASSFILE or ~/.pgpass instead).
Expected<StoreLocation, std::string> parse_store_location(std::string_view text, const std::filesystem::path& data_dir);

// Opens (and migrates) the store; throws StoreError when it cannot.
std::unique_ptr<Store> open_store(const StoreLocation& where, std::chrono::milliseconds busy_timeout = kDefaultBusyTimeout);

// Both in one, for the commands: a `--store` that cannot be used throws std::invalid_argument.
std::unique_ptr<Store> open_store(std::string_view text, const std::filesystem::path& data_dir);

}  // namespace sprocket::store
