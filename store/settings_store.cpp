#include "store/settings_store.hpp"

#include "store/extradata_store.hpp"
#include "store/guestprop_store.hpp"
#include "store/migrations.hpp"
#include "sys/files.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace vbm::store {

namespace {
// Concurrent invocations queue on the write lock; a minute covers any realistic burst.
constexpr int k_busy_timeout_ms = 60'000;

Connection open_and_migrate(const std::string& path) {
  Connection db(path, k_busy_timeout_ms);
  db.exec("PRAGMA foreign_keys = ON");
  if (path != ":memory:") {
    // WAL lets readers proceed while a writer holds the lock; FULL sync so a committed
    // setting survives a power cut, not just a killed process.
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
  }
  migrate(db, migrations());
  return db;
}
} // namespace

SettingsStore::SettingsStore(const std::string& path)
    : m_path(path), m_db(open_and_migrate(path)),
      m_get_settings(m_db, "SELECT key, value FROM vm_setting WHERE host = ? AND uuid = ?"),
      m_delete_settings(m_db, "DELETE FROM vm_setting WHERE host = ? AND uuid = ?"),
      m_put_setting(m_db, "INSERT INTO vm_setting (host, uuid, key, value) VALUES (?, ?, ?, ?)"),
      m_upsert_vm(m_db, "INSERT INTO vm (host, uuid, name) VALUES (?, ?, ?) "
                        "ON CONFLICT (host, uuid) DO UPDATE SET name = excluded.name"),
      m_get_state(m_db, "SELECT state, state_since_ms FROM vm WHERE host = ? AND uuid = ? "
                        "AND state IS NOT NULL"),
      m_put_state(m_db, "UPDATE vm SET state = ?, state_since_ms = ? WHERE host = ? AND uuid = ?"),
      m_get_live(m_db, "SELECT live_balloon_mb FROM vm WHERE host = ? AND uuid = ? "
                       "AND live_domain_id = ? AND live_balloon_mb IS NOT NULL"),
      m_put_live(m_db, "UPDATE vm SET live_balloon_mb = ?, live_domain_id = ? "
                       "WHERE host = ? AND uuid = ?") {}

SettingsStore::~SettingsStore() = default;

GuestPropertyStore& SettingsStore::guest_properties() {
  if (!m_guest_properties) {
    m_guest_properties = std::make_unique<GuestPropertyStore>(m_db);
  }
  return *m_guest_properties;
}

ExtraDataStore& SettingsStore::extradata() {
  if (!m_extradata) {
    m_extradata = std::make_unique<ExtraDataStore>(m_db);
  }
  return *m_extradata;
}

std::filesystem::path SettingsStore::default_dir() {
  if (const char* home = std::getenv("VBOX_USER_HOME"); home && *home) {
    return home;
  }
  const char* home = std::getenv("HOME");
  if (!home || !*home) {
    const passwd* pw = getpwuid(getuid());
    home = pw ? pw->pw_dir : "/";
  }
  return std::filesystem::path(home) / ".config" / "vboxkvm";
}

std::string SettingsStore::prepare_path(const std::filesystem::path& dir) {
  // The store holds the host's VM inventory and is written by whoever runs vboxmanage: its
  // directory is that user's alone (created 0700; an existing one owned by someone else, or
  // writable by others, is refused), and no file in it is opened through a symlink.
  sys::prepare_dir(dir, 0700, sys::DirRule::Private, "settings directory");
  auto file = (dir / "vboxkvm.db").string();
  // Create the file ourselves so it is 0600 whatever the umask; SQLite gives its -wal and
  // -shm files the same mode.
  close(sys::open_private_file(file, O_RDWR, 0600, "settings store"));
  return file;
}

std::optional<Connection> SettingsStore::open_existing_read_only(const std::filesystem::path& dir,
                                                                 int busy_timeout_ms) {
  // The same trust rules as prepare_path, checked without creating anything: SQLite creates
  // the -shm file even for a read-only connection, so reading someone else's store (root's
  // completion in a user's VBOX_USER_HOME) would leave a file of ours in it.
  try {
    sys::check_dir(dir, sys::DirRule::Private, "settings directory");
  } catch (const Error&) {
    return std::nullopt;
  }
  auto file = dir / "vboxkvm.db";
  struct stat st {};
  if (lstat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
    return std::nullopt;
  }
  return Connection(file.string(), busy_timeout_ms, OpenMode::ReadOnly);
}

Settings SettingsStore::settings(const VmKey& key) {
  Settings out;
  Statement::Use use(m_get_settings);
  use.bind(key.host).bind(key.uuid);
  while (use.next()) {
    out.emplace(use.get_text(0), use.get_int(1));
  }
  return out;
}

void SettingsStore::upsert_vm(const VmKey& key, const std::string& name) {
  Statement::Use(m_upsert_vm).bind(key.host).bind(key.uuid).bind(name).run();
}

void SettingsStore::put_settings(const VmKey& key, const std::string& name,
                                 const Settings& settings) {
  upsert_vm(key, name);
  Statement::Use(m_delete_settings).bind(key.host).bind(key.uuid).run();
  for (const auto& [k, v] : settings) {
    Statement::Use(m_put_setting).bind(key.host).bind(key.uuid).bind(k).bind(v).run();
  }
}

std::optional<StateRecord> SettingsStore::state(const VmKey& key) {
  Statement::Use use(m_get_state);
  use.bind(key.host).bind(key.uuid);
  if (!use.next()) {
    return std::nullopt;
  }
  return StateRecord{use.get_text(0), use.get_int(1)};
}

void SettingsStore::put_state(const VmKey& key, const std::string& name, const StateRecord& rec) {
  upsert_vm(key, name);
  Statement::Use(m_put_state)
      .bind(rec.state)
      .bind(rec.since_ms)
      .bind(key.host)
      .bind(key.uuid)
      .run();
}

std::optional<std::int64_t> SettingsStore::live_balloon(const VmKey& key, int domain_id) {
  Statement::Use use(m_get_live);
  use.bind(key.host).bind(key.uuid).bind(std::int64_t{domain_id});
  if (!use.next()) {
    return std::nullopt;
  }
  return use.get_int(0);
}

void SettingsStore::put_live_balloon(const VmKey& key, const std::string& name, int domain_id,
                                     std::optional<std::int64_t> balloon_mb) {
  upsert_vm(key, name);
  Statement::Use use(m_put_live);
  if (balloon_mb) {
    use.bind(*balloon_mb).bind(std::int64_t{domain_id});
  } else {
    use.bind_null().bind_null();
  }
  use.bind(key.host).bind(key.uuid).run();
}

namespace {
void bind_record(Statement::Use& use, const MemoryRecord& r) {
  use.bind(r.memory_kib)
      .bind(r.current_kib)
      .bind(std::int64_t{r.nosharepages})
      .bind(std::int64_t{r.hugepages})
      .bind(r.vcpus)
      .bind(r.current_vcpus)
      .bind(r.free_page_reporting)
      .bind(r.autodeflate);
}
MemoryRecord read_record(const Statement::Use& use, int col) {
  return {use.get_int(col),          use.get_int(col + 1), use.get_int(col + 2) != 0,
          use.get_int(col + 3) != 0, use.get_int(col + 4), use.get_int(col + 5),
          use.get_int(col + 6),      use.get_int(col + 7)};
}
} // namespace

void SettingsStore::put_pending(const VmKey& key, const std::string& name,
                                const PendingChange& change) {
  Transaction txn(m_db);
  upsert_vm(key, name);
  Statement del(m_db, "DELETE FROM pending_change WHERE host = ? AND uuid = ?");
  Statement::Use(del).bind(key.host).bind(key.uuid).run();
  Statement put(m_db, "INSERT INTO pending_change (host, uuid, before_memory_kib, "
                      "before_current_kib, before_nosharepages, before_hugepages, before_vcpus, "
                      "before_current_vcpus, before_free_page_reporting, before_autodeflate, "
                      "after_memory_kib, after_current_kib, after_nosharepages, after_hugepages, "
                      "after_vcpus, after_current_vcpus, after_free_page_reporting, "
                      "after_autodeflate) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  {
    Statement::Use use(put);
    use.bind(key.host).bind(key.uuid);
    bind_record(use, change.before);
    bind_record(use, change.after);
    use.run();
  }
  Statement put_setting(m_db, "INSERT INTO pending_setting VALUES (?, ?, ?, ?)");
  for (const auto& [k, v] : change.settings) {
    Statement::Use(put_setting).bind(key.host).bind(key.uuid).bind(k).bind(v).run();
  }
  txn.commit();
}

std::optional<PendingChange> SettingsStore::pending(const VmKey& key) {
  Statement get(m_db, "SELECT before_memory_kib, before_current_kib, before_nosharepages, "
                      "before_hugepages, before_vcpus, before_current_vcpus, "
                      "before_free_page_reporting, before_autodeflate, after_memory_kib, "
                      "after_current_kib, after_nosharepages, after_hugepages, after_vcpus, "
                      "after_current_vcpus, after_free_page_reporting, after_autodeflate "
                      "FROM pending_change WHERE host = ? AND uuid = ?");
  PendingChange change;
  {
    Statement::Use use(get);
    use.bind(key.host).bind(key.uuid);
    if (!use.next()) {
      return std::nullopt;
    }
    change.before = read_record(use, 0);
    change.after = read_record(use, 8);
  }
  Statement settings(m_db, "SELECT key, value FROM pending_setting WHERE host = ? AND uuid = ?");
  Statement::Use use(settings);
  use.bind(key.host).bind(key.uuid);
  while (use.next()) {
    change.settings.emplace(use.get_text(0), use.get_int(1));
  }
  return change;
}

void SettingsStore::finish_pending(const VmKey& key, const std::string& name,
                                   const Settings* settings) {
  Transaction txn(m_db);
  if (settings) {
    put_settings(key, name, *settings);
  }
  Statement del(m_db, "DELETE FROM pending_change WHERE host = ? AND uuid = ?");
  Statement::Use(del).bind(key.host).bind(key.uuid).run();
  txn.commit();
}

WriterLock SettingsStore::lock_writers() {
  if (m_path == ":memory:") {
    return WriterLock();
  }
  auto lock_path = std::filesystem::path(m_path).parent_path() / "vboxkvm.lock";
  try {
    WriterLock lock{std::make_unique<sys::LockFile>(lock_path, 0600)};
    if (!lock.lock->lock_within(k_busy_timeout_ms)) {
      throw StoreError(fmt::format("another vboxmanage has held '{}' for {} s; try again",
                                   lock_path.string(), k_busy_timeout_ms / 1000));
    }
    return lock;
  } catch (const StoreError&) {
    throw;
  } catch (const Error& e) {
    throw StoreError(fmt::format("settings store's lock: {}", e.what()));
  }
}

} // namespace vbm::store
