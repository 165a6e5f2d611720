// The settings store: migrations, refusal of newer schemas, file modes, round trips.

#include "store/extradata_store.hpp"
#include "store/migrations.hpp"
#include "store/settings_store.hpp"
#include "store/sqlite.hpp"
#include "support/temp_dir.hpp"

#include <gmock/gmock.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

namespace vbm::test {
namespace {

namespace fs = std::filesystem;

TEST(Store, FreshStoreReachesLatestVersion) {
  store::SettingsStore st(":memory:");
  EXPECT_EQ(st.schema_version(), static_cast<std::int64_t>(store::migrations().size()));
}

TEST(Store, SettingsRoundTripPerHostAndUuid) {
  store::SettingsStore st(":memory:");
  st.put_settings({"h1", "u1"}, "vm", {{"memory", 512}, {"pagefusion", 1}});
  st.put_settings({"h2", "u1"}, "vm", {{"memory", 256}});
  EXPECT_EQ(st.settings({"h1", "u1"}), (store::Settings{{"memory", 512}, {"pagefusion", 1}}));
  EXPECT_EQ(st.settings({"h2", "u1"}), (store::Settings{{"memory", 256}}));
  st.put_settings({"h1", "u1"}, "vm", {{"memory", 1024}});
  EXPECT_EQ(st.settings({"h1", "u1"}), (store::Settings{{"memory", 1024}}));
  EXPECT_TRUE(st.settings({"h1", "nope"}).empty());
}

TEST(Store, StateRecords) {
  store::SettingsStore st(":memory:");
  EXPECT_FALSE(st.state({"h", "u"}).has_value());
  st.put_state({"h", "u"}, "vm", {"running", 42});
  auto rec = st.state({"h", "u"});
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->state, "running");
  EXPECT_EQ(rec->since_ms, 42);
}

TEST(Store, UncommittedTransactionRollsBack) {
  store::SettingsStore st(":memory:");
  {
    auto txn = st.begin_write();
    st.put_settings({"h", "u"}, "vm", {{"memory", 1}});
  }
  EXPECT_TRUE(st.settings({"h", "u"}).empty());
}

TEST(Store, FailingMigrationLeavesVersionUnchanged) {
  store::Connection db(":memory:", 1000);
  constexpr std::string_view good[] = {"CREATE TABLE a (x)"};
  store::migrate(db, good);
  EXPECT_EQ(db.query_int("PRAGMA user_version"), 1);
  constexpr std::string_view bad[] = {"CREATE TABLE a (x)", "CREATE TABLE b (y); SYNTAX ERROR"};
  EXPECT_THROW(store::migrate(db, bad), store::StoreError);
  EXPECT_EQ(db.query_int("PRAGMA user_version"), 1);
  EXPECT_EQ(db.query_int("SELECT count(*) FROM sqlite_master WHERE name = 'b'"), 0);
}

TEST(Store, NewerSchemaIsRefused) {
  TempDir dir;
  auto file = store::SettingsStore::prepare_path(dir.path());
  {
    store::Connection db(file, 1000);
    db.exec("PRAGMA user_version = 99");
  }
  try {
    store::SettingsStore st(file);
    FAIL() << "opened a store from the future";
  } catch (const store::StoreError& e) {
    EXPECT_THAT(e.what(), testing::HasSubstr(
                              "schema is version 99, this build of vboxmanage supports up to " +
                              std::to_string(store::migrations().size())));
  }
}

TEST(Store, CreatedPrivate) {
  TempDir dir;
  auto sub = dir.path() / "a" / "b";
  mode_t old = umask(0);
  auto file = store::SettingsStore::prepare_path(sub);
  umask(old);
  store::SettingsStore st(file);
  st.put_settings({"h", "u"}, "vm", {{"memory", 1}});
  struct stat s {};
  ASSERT_EQ(stat(sub.c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(file.c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0600u);
}

TEST(Store, CorruptFileIsAClearError) {
  TempDir dir;
  auto file = dir.path() / "vboxkvm.db";
  std::ofstream(file) << "this is not a database, just some text that is long enough to matter";
  EXPECT_THROW(store::SettingsStore st(file.string()), store::StoreError);
}

} // namespace
} // namespace vbm::test

namespace vbm::test {
namespace {

// Every shipped schema must migrate to the latest with its rows intact.
TEST(Store, VersionOneStoreMigratesWithItsData) {
  TempDir dir;
  auto file = store::SettingsStore::prepare_path(dir.path());
  {
    store::Connection db(file, 1000);
    store::migrate(db, store::migrations().first(1));
    db.exec(
        "INSERT INTO vm (host, uuid, name, state, state_since_ms) VALUES ('h', 'u', 'vm', "
        "'poweroff', 42);"
        "INSERT INTO vm_setting VALUES ('h', 'u', 'memory', 512), ('h', 'u', 'pagefusion', 1);");
    ASSERT_EQ(db.query_int("PRAGMA user_version"), 1);
  }
  store::SettingsStore st(file);
  EXPECT_EQ(st.schema_version(), static_cast<std::int64_t>(store::migrations().size()));
  EXPECT_EQ(st.settings({"h", "u"}), (store::Settings{{"memory", 512}, {"pagefusion", 1}}));
  EXPECT_EQ(st.state({"h", "u"})->since_ms, 42);
  EXPECT_FALSE(st.live_balloon({"h", "u"}, 1).has_value());
  st.put_live_balloon({"h", "u"}, "vm", 7, 128);
  EXPECT_EQ(st.live_balloon({"h", "u"}, 7), 128);
  EXPECT_FALSE(st.live_balloon({"h", "u"}, 8).has_value()) << "another run of the domain";
  st.put_live_balloon({"h", "u"}, "vm", 7, std::nullopt);
  EXPECT_FALSE(st.live_balloon({"h", "u"}, 7).has_value());
}

// The store as v4 left it (settings, a state, an intent, metrics) gains the extradata table
// (v5) with every row intact.
TEST(Store, VersionFourStoreMigratesWithItsData) {
  TempDir dir;
  auto file = store::SettingsStore::prepare_path(dir.path());
  {
    store::Connection db(file, 1000);
    store::migrate(db, store::migrations().first(4));
    db.exec("INSERT INTO vm (host, uuid, name, state, state_since_ms, live_balloon_mb, "
            "live_domain_id) VALUES ('h', 'u', 'vm', 'running', 42, 128, 7);"
            "INSERT INTO vm_setting VALUES ('h', 'u', 'memory', 512);"
            "INSERT INTO pending_change VALUES ('h', 'u', 1, 2, 0, 0, 3, 4, 1, 0);"
            "INSERT INTO pending_setting VALUES ('h', 'u', 'memory', 1024);"
            "INSERT INTO metric_setup (uri, object, base, run, period_s, samples, enabled) "
            "VALUES ('test:///default', 'host', 'RAM/Usage', 0, 1, 5, 1);");
    ASSERT_EQ(db.query_int("PRAGMA user_version"), 4);
  }
  store::SettingsStore st(file);
  EXPECT_EQ(st.schema_version(), static_cast<std::int64_t>(store::migrations().size()));
  EXPECT_EQ(st.settings({"h", "u"}), (store::Settings{{"memory", 512}}));
  EXPECT_EQ(st.live_balloon({"h", "u"}, 7), 128);
  ASSERT_TRUE(st.pending({"h", "u"}).has_value());
  EXPECT_EQ(st.pending({"h", "u"})->settings, (store::Settings{{"memory", 1024}}));
  EXPECT_EQ(st.connection().query_int("SELECT count(*) FROM metric_setup"), 1);
  EXPECT_TRUE(st.extradata().entries(store::k_global_scope).empty());
  st.extradata().set({"h", "u"}, "k", "v");
  EXPECT_EQ(st.extradata().get({"h", "u"}, "k"), "v");
}

} // namespace
} // namespace vbm::test
