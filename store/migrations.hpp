#pragma once
#include <span>
#include <string_view>

namespace vbm::store {
class Connection;

/// The schema history, append-only: entry i takes the store from version i to i+1.
/// Never edit a shipped entry; add a new one.
std::span<const std::string_view> migrations();

/// Brings `db` to version size(steps), one transaction per step, recording each in
/// PRAGMA user_version. Throws StoreError if the store is newer than `steps` knows.
void migrate(Connection& db, std::span<const std::string_view> steps);
} // namespace vbm::store
