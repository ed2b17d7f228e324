#pragma once
// `sprocket store migrate`: a single node's SQLite store copied into an empty PostgreSQL
// database, for several nodes to share (docs/scale-out.md). Everything durable goes: secrets
// (still sealed: the nodes need the same key file), admin tokens, deployments with their
// archives, the active versions in their order, execution logs and the action queue with its
// attempts. The SQLite side is read in one read transaction (a consistent copy even if a node
// still writes; what it writes later is not copied), the PostgreSQL side written in one
// transaction: the target has all of it or nothing.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "store/store_location.h"
#include "util/expected.h"

namespace sprocket::store {

struct MigrationReport {
  std::vector<std::pair<std::string, std::int64_t>> rows;  // per table, in copy order
};

// Both stores are first brought to the current schema. Refuses (and copies nothing) when the
// target already holds sprocket data, or `from` is not SQLite or `to` not PostgreSQL.
Expected<MigrationReport, std::string> migrate_store(const StoreLocation& from, const StoreLocation& to);

}  // namespace sprocket::store
