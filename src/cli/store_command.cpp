#include "cli/store_command.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "cli/data_dir.h"
#include "store/store_location.h"
#include "store/store_migration.h"

namespace sprocket::cli {
namespace fs = std::filesystem;

int run_store_migrate(const StoreMigrateOptions& options) {
  const fs::path data_dir = options.data_dir;
  auto from = store::parse_store_location(options.from, data_dir);
  if (!from) {
    fmt::print(stderr, "sprocket: --from: {}\n", from.error());
    return 2;
  }
  auto to = store::parse_store_location(options.to, data_dir);
  if (!to) {
    fmt::print(stderr, "sprocket: --to: {}\n", to.error());
    return 2;
  }
  // A node still serving from the data directory would go on writing what the copy misses.
  std::optional<DataDirLock> lock;
  std::error_code ec;
  if (from->engine == store::StoreLocation::Engine::Sqlite && fs::is_directory(data_dir, ec) &&
      fs::equivalent(fs::absolute(from->sqlite_file).parent_path(), data_dir, ec)) {
    auto taken = DataDirLock::acquire(data_dir, std::chrono::milliseconds(0), [](const std::string&) {});
    if (!taken) {
      fmt::print(stderr, "sprocket: {}; stop that node first, so that nothing it writes after the copy is lost\n", taken.error());
      return 2;
    }
    lock.emplace(std::move(*taken));
  }
  auto report = store::migrate_store(*from, *to);
  if (!report) {
    fmt::print(stderr, "sprocket: {}\n", report.error());
    return 1;
  }
  if (options.json) {
    boost::json::object rows;
    for (const auto& [table, count] : report->rows) rows[table] = count;
    fmt::print("{}\n", boost::json::serialize(boost::json::object{{"from", from->describe()}, {"to", to->describe()}, {"rows", rows}}));
    return 0;
  }
  fmt::print("copied {} into {}:\n", from->describe(), to->describe());
  for (const auto& [table, count] : report->rows) fmt::print("  {:<26} {}\n", table, count);
  fmt::print("next: start every node with --store {} and a copy of {} (mode 0600): the secrets are sealed with that key\n",
             options.to, (data_dir / "secret.key").string());
  return 0;
}

}  // namespace sprocket::cli
