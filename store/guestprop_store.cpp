#include "store/guestprop_store.hpp"

namespace vbm::store {

namespace {
constexpr std::string_view k_columns = "name, value, timestamp, flags, domain_id";

StoredGuestProperty read_row(const Statement::Use& use) {
  StoredGuestProperty p{use.get_text(0), use.get_text(1), use.get_int(2), use.get_text(3), {}};
  if (!use.is_null(4)) {
    p.run = use.get_int(4);
  }
  return p;
}
} // namespace

GuestPropertyStore::GuestPropertyStore(Connection& db)
    : m_db(db), m_get(db, std::string("SELECT ") + std::string(k_columns) +
                              " FROM guestproperty WHERE host = ? AND uuid = ? AND name = ?"),
      m_all(db, std::string("SELECT ") + std::string(k_columns) +
                    " FROM guestproperty WHERE host = ? AND uuid = ? ORDER BY name COLLATE BINARY"),
      m_put(db, "INSERT INTO guestproperty (host, uuid, name, value, timestamp, flags, domain_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host, uuid, name) DO UPDATE SET "
                "value = excluded.value, timestamp = excluded.timestamp, flags = excluded.flags, "
                "domain_id = excluded.domain_id"),
      m_delete(db, "DELETE FROM guestproperty WHERE host = ? AND uuid = ? AND name = ?") {}

std::optional<StoredGuestProperty> GuestPropertyStore::get(const VmKey& vm, std::string_view name) {
  Statement::Use use(m_get);
  use.bind(vm.host).bind(vm.uuid).bind(name);
  if (!use.next()) {
    return std::nullopt;
  }
  return read_row(use);
}

std::vector<StoredGuestProperty> GuestPropertyStore::all(const VmKey& vm) {
  std::vector<StoredGuestProperty> out;
  Statement::Use use(m_all);
  use.bind(vm.host).bind(vm.uuid);
  while (use.next()) {
    out.push_back(read_row(use));
  }
  return out;
}

void GuestPropertyStore::put(const VmKey& vm, const StoredGuestProperty& prop) {
  Statement::Use use(m_put);
  use.bind(vm.host)
      .bind(vm.uuid)
      .bind(prop.name)
      .bind(prop.value)
      .bind(prop.timestamp_ns)
      .bind(prop.flags);
  prop.run ? use.bind(*prop.run) : use.bind_null();
  use.run();
}

bool GuestPropertyStore::remove(const VmKey& vm, std::string_view name) {
  Statement::Use(m_delete).bind(vm.host).bind(vm.uuid).bind(name).run();
  return m_db.changes() > 0;
}

} // namespace vbm::store
