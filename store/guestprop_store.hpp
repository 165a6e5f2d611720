#pragma once
// Guest properties set from the host, in the settings store (schema v7, table
// `guestproperty`). Only storage: VirtualBox's rules (names, flags, which state allows what)
// are vm/guest_properties.hpp's.

#include "store/settings_store.hpp"
#include "store/sqlite.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vbm::store {

/// One stored guest property.
struct StoredGuestProperty {
  std::string name;
  std::string value;
  std::int64_t timestamp_ns = 0;
  std::string flags;               ///< GuestPropWriteFlags' text
  std::optional<std::int64_t> run; ///< the domain ID of the run a transient one belongs to
  bool operator==(const StoredGuestProperty&) const = default;
};

/// Reads and writes the guestproperty rows of one connection; names and values are always
/// bound parameters. Every method throws StoreError.
class GuestPropertyStore {
public:
  /// Prepares the statements on `db`. Throws StoreError without the table (schema < v7).
  explicit GuestPropertyStore(Connection& db);
  std::optional<StoredGuestProperty> get(const VmKey& vm, std::string_view name);
  /// Every property of the VM, in byte-wise name order.
  std::vector<StoredGuestProperty> all(const VmKey& vm);
  void put(const VmKey& vm, const StoredGuestProperty& prop);
  /// Returns whether a row was deleted.
  bool remove(const VmKey& vm, std::string_view name);

private:
  Connection& m_db;
  Statement m_get;
  Statement m_all;
  Statement m_put;
  Statement m_delete;
};

} // namespace vbm::store
