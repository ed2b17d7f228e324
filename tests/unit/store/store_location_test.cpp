// --store: which engine, where, and the forms refused with a message that says what to write.
#include "store/store_location.h"

#include <gtest/gtest.h>

#include "test_dir.h"

namespace sprocket::store {
namespace {

TEST(StoreLocation, DefaultsToTheDataDirectorysSqliteFile) {
  auto where = parse_store_location("", "/var/lib/sprocket");
  ASSERT_TRUE(where);
  EXPECT_EQ(where->engine, StoreLocation::Engine::Sqlite);
  EXPECT_EQ(where->sqlite_file, "/var/lib/sprocket/sprocket.db");
}

TEST(StoreLocation, SqliteTakesAPathInEitherForm) {
  for (auto [text, file] : {std::pair{"sqlite:/srv/state.db", "/srv/state.db"}, std::pair{"sqlite:///srv/state.db", "/srv/state.db"},
                            std::pair{"sqlite:state.db", "state.db"}}) {
    auto where = parse_store_location(text, "/data");
    ASSERT_TRUE(where) << text;
    EXPECT_EQ(where->engine, StoreLocation::Engine::Sqlite) << text;
    EXPECT_EQ(where->sqlite_file, file) << text;
  }
  auto empty = parse_store_location("sqlite:", "/data");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().find("name the database file"), std::string::npos) << empty.error();
}

TEST(StoreLocation, PostgresqlUrisAreKeptAsTheyAre) {
  for (const char* text : {"postgresql://db.internal:5432/sprocket", "postgres://sprocket@db/sprocket?sslmode=require",
                           "postgresql:///sprocket?host=/run/postgresql"}) {
    auto where = parse_store_location(text, "/data");
    ASSERT_TRUE(where) << text;
    EXPECT_EQ(where->engine, StoreLocation::Engine::Postgresql);
    EXPECT_EQ(where->postgresql_uri, text);
  }
}

TEST(StoreLocation, APasswordInTheUriIsRefusedAndNotRepeated) {
  for (const char* text : {"postgresql://sprocket:hunter2@db/sprocket", "postgresql://db/sprocket?sslmode=require&password=hunter2",
                           "postgres://db/sprocket?password=hunter2"}) {
    auto where = parse_store_location(text, "/data");
    ASSERT_FALSE(where) << text;
    EXPECT_NE(where.error().find("~/.pgpass"), std::string::npos) << where.error();
    EXPECT_EQ(where.error().find("hunter2"), std::string::npos) << where.error();
  }
  // An '@' or "password" elsewhere is not a password.
  EXPECT_TRUE(parse_store_location("postgresql://sprocket@db/sprocket", "/data"));
  EXPECT_TRUE(parse_store_location("postgresql://db/sprocket?application_name=password", "/data"));
}

TEST(StoreLocation, OtherFormsSayWhatToWrite) {
  for (const char* text : {"mysql://db/sprocket", "/var/lib/sprocket.db", "SQLITE:/x.db"}) {
    auto where = parse_store_location(text, "/data");
    ASSERT_FALSE(where) << text;
    EXPECT_NE(where.error().find("sqlite:PATH or postgresql://"), std::string::npos) << where.error();
  }
}

TEST(StoreLocation, OpensTheSqliteFileItNames) {
  testing::TestDir dir("store-location");
  auto store = open_store("sqlite:" + (dir.path() / "elsewhere.db").string(), dir.path() / "data");
  store->add_admin_token("hash", 7, 1);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "elsewhere.db"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "data" / "sprocket.db"));
}

TEST(StoreLocation, PostgresqlOpensItsEngineWhichNamesTheServerItCannotReach) {
  try {
    open_store("postgresql://sprocket@127.0.0.1:1/sprocket", "/data");
    FAIL() << "opened a PostgreSQL store on a closed port";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot connect to PostgreSQL at postgresql://sprocket@127.0.0.1:1/sprocket"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(open_store("mysql://db", "/data"), std::invalid_argument);
}

}  // namespace
}  // namespace sprocket::store
