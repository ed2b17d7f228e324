#pragma once
// How sprocket opens a libpq connection (the store's, the change feed's): defaults the URI may
// override, then what sprocket needs (UTF-8 text). Internal to the store module.
#include <libpq-fe.h>

#include <memory>
#include <string>

namespace sprocket::store {

struct PgConnectionCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using PgConnection = std::unique_ptr<PGconn, PgConnectionCloser>;

// libpq's messages end in a newline; sprocket's sentences go on after them.
std::string trimmed_libpq_message(const char* message);

// Connected, or nullptr with `error` saying why, naming the server (a URI never holds a password).
PgConnection connect_postgres(const std::string& uri, const char* application_name, std::string& error);

}  // namespace sprocket::store
