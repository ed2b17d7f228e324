#pragma once
// `sprocket store migrate`: a single node's SQLite data into an empty PostgreSQL database
// (store/store_migration.h), so that several nodes can share it.
#include <string>

namespace sprocket::cli {

struct StoreMigrateOptions {
  std::string data_dir = ".sprocket";
  std::string from;  // empty: sqlite:DATA_DIR/sprocket.db
  std::string to;    // postgresql://…
  bool json = false;
};

int run_store_migrate(const StoreMigrateOptions& options);

}  // namespace sprocket::cli
