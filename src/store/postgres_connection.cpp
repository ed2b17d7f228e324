#include "store/postgres_connection.h"

#include <fmt/format.h>

namespace sprocket::store {

std::string trimmed_libpq_message(const char* message) {
  std::string text = message ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

PgConnection connect_postgres(const std::string& uri, const char* application_name, std::string& error) {
  // Keywords before dbname are defaults the URI may override; after it, what sprocket needs.
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", "client_encoding", nullptr};
  const char* values[] = {"5", application_name, uri.c_str(), "UTF8", nullptr};
  PgConnection conn(PQconnectdbParams(keywords, values, 1));
  if (!conn) {
    error = "postgresql: out of memory connecting";
    return nullptr;
  }
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    error = fmt::format("cannot connect to PostgreSQL at {}: {}", uri, trimmed_libpq_message(PQerrorMessage(conn.get())));
    return nullptr;
  }
  PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);  // "relation exists" and the like: not for the log
  return conn;
}

}  // namespace sprocket::store
