#pragma once
// The SQLite store of VirtualBox-level settings, keyed by (host, domain UUID).

#include "store/sqlite.hpp"
#include "sys/lock_file.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace vbm::store {

class ExtraDataStore;
class GuestPropertyStore;

struct VmKey {
  std::string host; ///< the libvirt host name the domain lives on
  std::string uuid; ///< lowercase, no braces
};

/// Setting key (modifyvm's table key) → integer value (MB, or 0/1 for on/off).
using Settings = std::map<std::string, std::int64_t, std::less<>>;

/// A domain's memory configuration and vCPU counts as the store records them (libvirt's
/// values). vcpus 0: not recorded (an intent written before schema 6).
struct MemoryRecord {
  std::int64_t memory_kib = 0;
  std::int64_t current_kib = 0;
  bool nosharepages = false;
  bool hugepages = false;
  std::int64_t vcpus = 0;
  std::int64_t current_vcpus = 0;
  /// <memballoon freePageReporting> and autodeflate: 0 off, 1 on, -1 not recorded (an intent
  /// written before schema 7, whose build never changed them).
  std::int64_t free_page_reporting = 0;
  std::int64_t autodeflate = 0;
  bool operator==(const MemoryRecord&) const = default;
};

/// A modifyvm that defined `after` in libvirt but may not have committed `settings`.
struct PendingChange {
  Settings settings;
  MemoryRecord before;
  MemoryRecord after;
};

/// Holds the store's writer lock (flock on vboxkvm.lock); the kernel drops it if the holder
/// dies. Empty for an in-memory store.
struct WriterLock {
  std::unique_ptr<sys::LockFile> lock;
};

struct StateRecord {
  std::string state;
  std::int64_t since_ms = 0;
};

class SettingsStore {
public:
  /// Opens or creates the store at `path` (":memory:" for tests) and migrates it.
  /// Throws StoreError, including for a store written by a newer build.
  explicit SettingsStore(const std::string& path);
  ~SettingsStore();

  /// $VBOX_USER_HOME, else ~/.config/vboxkvm.
  static std::filesystem::path default_dir();
  /// Creates `dir` (0700) and the store file in it (0600) if missing; returns the file's path.
  static std::string prepare_path(const std::filesystem::path& dir);
  /// The store in `dir` opened read-only, for a reader that must create, migrate and write
  /// nothing (completion): nullopt unless `dir` passes prepare_path's rules (ours alone) and
  /// holds the store file, a regular file of ours. Waits at most `busy_timeout_ms` for a
  /// writer. Throws StoreError when the file is there but cannot be opened.
  static std::optional<Connection> open_existing_read_only(const std::filesystem::path& dir,
                                                           int busy_timeout_ms);

  /// The settings vboxmanage last wrote for the VM; empty if it never wrote any.
  Settings settings(const VmKey& key);
  /// Replaces all settings of the VM (call inside a write Transaction).
  void put_settings(const VmKey& key, const std::string& name, const Settings& settings);

  std::optional<StateRecord> state(const VmKey& key);
  void put_state(const VmKey& key, const std::string& name, const StateRecord& rec);

  /// The balloon (MB) last requested with controlvm for the run whose domain ID is `domain_id`.
  std::optional<std::int64_t> live_balloon(const VmKey& key, int domain_id);
  /// Records a controlvm request for the run `domain_id`; nullopt forgets any (new run).
  void put_live_balloon(const VmKey& key, const std::string& name, int domain_id,
                        std::optional<std::int64_t> balloon_mb);

  /// Records the intent of a change about to be defined in libvirt (its own transaction).
  void put_pending(const VmKey& key, const std::string& name, const PendingChange& change);
  std::optional<PendingChange> pending(const VmKey& key);
  /// Forgets the intent; with `settings`, also makes them the VM's settings (one transaction).
  void finish_pending(const VmKey& key, const std::string& name, const Settings* settings);

  /// Waits (up to a minute) for the writer lock that serialises modifyvm's read-modify-write of
  /// a domain across processes. A no-op lock for an in-memory store. Throws StoreError.
  WriterLock lock_writers();

  /// VirtualBox's extra data in this store (vm/extradata.hpp has its rules); its statements
  /// are prepared at the first call.
  ExtraDataStore& extradata();
  /// Guest properties set from the host (vm/guest_properties.hpp has the rules); its
  /// statements are prepared at the first call.
  GuestPropertyStore& guest_properties();

  /// Starts a write transaction: concurrent writers queue here (busy timeout).
  Transaction begin_write() { return Transaction(m_db); }
  std::int64_t schema_version() { return m_db.query_int("PRAGMA user_version"); }
  /// The database file (":memory:" for tests); other per-store files live beside it.
  const std::string& path() const { return m_path; }
  Connection& connection() { return m_db; }

private:
  void upsert_vm(const VmKey& key, const std::string& name);

  std::string m_path;
  Connection m_db;
  Statement m_get_settings;
  Statement m_delete_settings;
  Statement m_put_setting;
  Statement m_upsert_vm;
  Statement m_get_state;
  Statement m_put_state;
  Statement m_get_live;
  Statement m_put_live;
  std::unique_ptr<ExtraDataStore> m_extradata; // before m_db is closed, its statements go
  std::unique_ptr<GuestPropertyStore> m_guest_properties;
};

} // namespace vbm::store
