#pragma once
// VirtualBox's extra data in the settings store (schema v5, table `extradata`): string keys
// with string values per scope, the global one or a VM's. Only storage: VirtualBox's rules
// about keys and values (vm/extradata.hpp) are not checked here.

#include "store/settings_store.hpp"
#include "store/sqlite.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vbm::store {

/// The global scope's key: host "" and UUID "" (a VM's UUID is never empty).
inline const VmKey k_global_scope{};

/// One key and its value.
using ExtraDataEntry = std::pair<std::string, std::string>;

/// Reads and writes the extradata rows of one connection. Keys and values are any bytes
/// (quotes, '%', newlines, SQL text, invalid UTF-8): they are always bound as parameters. The
/// statements are prepared once, in the constructor. Every method throws StoreError.
class ExtraDataStore {
public:
  /// Prepares the statements on `db`, which may be read-only (then only the readers work).
  /// Throws StoreError if the store has no extradata table (a schema older than v5).
  explicit ExtraDataStore(Connection& db);

  /// The key's value in `scope`; nullopt when it has none.
  std::optional<std::string> get(const VmKey& scope, std::string_view key);
  /// Sets the key to `value`; nullopt or "" deletes it. Returns whether the stored data
  /// changed (setting the value it already has, or deleting a missing key, changes nothing).
  bool set(const VmKey& scope, std::string_view key, std::optional<std::string_view> value);
  /// Every key of `scope` with its value, in byte-wise key order (SQLite's BINARY collation:
  /// memcmp, a shorter key before the longer ones it starts).
  std::vector<ExtraDataEntry> entries(const VmKey& scope);
  /// The keys of entries(scope), in the same order.
  std::vector<std::string> keys(const VmKey& scope);

private:
  Connection& m_db;
  Statement m_get;
  Statement m_upsert;
  Statement m_delete;
  Statement m_entries;
};

} // namespace vbm::store
