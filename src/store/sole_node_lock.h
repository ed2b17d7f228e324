#pragma once
// Until several nodes can share one store (issue #14: leases on queued actions, a change feed
// for deploys, a global budget), a node makes sure it is the only one serving from a PostgreSQL
// store: a session advisory lock held on a connection of its own for as long as it runs. An
// SQLite store is guarded by the data directory's serve.lock instead. The lock goes when the
// node's process or its connection ends (a PostgreSQL restart too: it guards, it is no lease).
#include <memory>
#include <string>

#include "store/store_location.h"
#include "util/expected.h"

namespace sprocket::store {

class SoleNodeLock {
 public:
  virtual ~SoleNodeLock() = default;
  // Taken, or why not: another node holds it, or the server cannot be reached.
  static Expected<std::unique_ptr<SoleNodeLock>, std::string> take(const StoreLocation& where);
};

}  // namespace sprocket::store
