#include "store/extradata_store.hpp"

namespace vbm::store {

ExtraDataStore::ExtraDataStore(Connection& db)
    : m_db(db), m_get(db, "SELECT value FROM extradata WHERE host = ? AND uuid = ? AND key = ?"),
      // The WHERE on the update leaves an unchanged value unwritten, so changes() says whether
      // anything changed (VirtualBox's SetExtraData does nothing for the same value).
      m_upsert(db, "INSERT INTO extradata (host, uuid, key, value) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (host, uuid, key) DO UPDATE SET value = excluded.value "
                   "WHERE value IS NOT excluded.value"),
      m_delete(db, "DELETE FROM extradata WHERE host = ? AND uuid = ? AND key = ?"),
      m_entries(db, "SELECT key, value FROM extradata WHERE host = ? AND uuid = ? "
                    "ORDER BY key COLLATE BINARY") {}

std::optional<std::string> ExtraDataStore::get(const VmKey& scope, std::string_view key) {
  Statement::Use use(m_get);
  use.bind(scope.host).bind(scope.uuid).bind(key);
  if (!use.next()) {
    return std::nullopt;
  }
  return use.get_text(0);
}

bool ExtraDataStore::set(const VmKey& scope, std::string_view key,
                         std::optional<std::string_view> value) {
  if (!value || value->empty()) {
    Statement::Use(m_delete).bind(scope.host).bind(scope.uuid).bind(key).run();
  } else {
    Statement::Use(m_upsert).bind(scope.host).bind(scope.uuid).bind(key).bind(*value).run();
  }
  return m_db.changes() > 0;
}

std::vector<ExtraDataEntry> ExtraDataStore::entries(const VmKey& scope) {
  std::vector<ExtraDataEntry> out;
  Statement::Use use(m_entries);
  use.bind(scope.host).bind(scope.uuid);
  while (use.next()) {
    out.emplace_back(use.get_text(0), use.get_text(1));
  }
  return out;
}

std::vector<std::string> ExtraDataStore::keys(const VmKey& scope) {
  std::vector<std::string> out;
  for (auto& [key, value] : entries(scope)) {
    out.push_back(std::move(key));
  }
  return out;
}

} // namespace vbm::store
