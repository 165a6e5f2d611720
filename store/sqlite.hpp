#pragma once
// Thin RAII layer over SQLite, shaped like nix's sqlite.hh. <sqlite3.h> is included only in
// sqlite.cpp.

#include "sys/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace vbm::store {

/// Any store failure: SQLite's own message and result code, with what we were doing.
class StoreError : public Error {
public:
  using Error::Error;
};

/// How a Connection opens its file.
enum class OpenMode {
  ReadWriteCreate, ///< read and write, creating the file if missing
  ReadOnly,        ///< an existing file, never written (fails if it is missing)
};

/// One open database handle. Move-only. Throws StoreError on every failure.
class Connection {
public:
  /// Opens `path` (creating it if needed, unless read-only); ":memory:" gives a private
  /// in-memory database. Sets a busy timeout so concurrent writers wait instead of failing.
  Connection(const std::string& path, int busy_timeout_ms,
             OpenMode mode = OpenMode::ReadWriteCreate);
  ~Connection();
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&&) = delete;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Runs one or more statements that return no rows.
  void exec(std::string_view sql);
  /// Runs a single-value query such as "PRAGMA user_version".
  std::int64_t query_int(std::string_view sql);
  /// Rows changed by the last INSERT, UPDATE or DELETE on this connection.
  int changes() const;
  sqlite3* handle() const { return m_db; }
  [[noreturn]] void throw_error(std::string_view context) const;

private:
  sqlite3* m_db = nullptr;
  std::string m_path;
};

/// A prepared statement, kept for the life of its owner. Use through Statement::Use.
class Statement {
public:
  Statement(Connection& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  /// Binds parameters and steps; resets and clears bindings when destroyed, even after an
  /// exception.
  class Use {
  public:
    explicit Use(Statement& st);
    ~Use();
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    Use& bind(std::string_view text);
    Use& bind(std::int64_t value);
    Use& bind_null();
    /// Steps once; true when a row is available.
    bool next();
    /// Steps until done (for statements without results).
    void run();
    std::int64_t get_int(int col) const;
    std::string get_text(int col) const;
    bool is_null(int col) const;

  private:
    Statement& m_st;
    int m_next_param = 1;
  };

private:
  Connection& m_db;
  sqlite3_stmt* m_stmt = nullptr;
};

/// BEGIN IMMEDIATE … COMMIT; rolls back in its destructor unless committed (nix SQLiteTxn).
/// IMMEDIATE takes the write lock up front, so a conflict waits (busy timeout) at BEGIN, not later.
class Transaction {
public:
  explicit Transaction(Connection& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

private:
  Connection& m_db;
  bool m_active = true;
};

} // namespace vbm::store
