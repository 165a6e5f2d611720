#include "store/sqlite.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <cerrno>

namespace vbm::store {

namespace {
// What a failure means to the person at the keyboard, for the failures a host really has.
std::string_view plain_words(int code) {
  switch (code & 0xff) {
  case SQLITE_NOTADB:
  case SQLITE_CORRUPT:
    return "the file is damaged or is not a vboxkvm store; move it aside to start a new one "
           "(its settings are lost) or restore a backup";
  case SQLITE_FULL: return "the disk is full";
  case SQLITE_READONLY: return "it is read-only here";
  case SQLITE_CANTOPEN:
  case SQLITE_PERM:
  case SQLITE_AUTH: return "it cannot be opened (check its permissions and its directory's)";
  case SQLITE_IOERR: return "I/O error";
  default: return {};
  }
}
} // namespace

Connection::Connection(const std::string& path, int busy_timeout_ms, OpenMode mode) : m_path(path) {
  int flags = SQLITE_OPEN_NOMUTEX |
              (mode == OpenMode::ReadOnly ? SQLITE_OPEN_READONLY
                                          : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (int rc = sqlite3_open_v2(path.c_str(), &m_db, flags, nullptr); rc != SQLITE_OK) {
    std::string msg = m_db ? sqlite3_errmsg(m_db) : sqlite3_errstr(rc);
    sqlite3_close(m_db);
    m_db = nullptr;
    auto words = plain_words(rc);
    throw StoreError(words.empty() ? fmt::format("cannot open settings store '{}': {}", path, msg)
                                   : fmt::format("settings store '{}': {} ({})", path, words, msg));
  }
  sqlite3_extended_result_codes(m_db, 1);
  sqlite3_busy_timeout(m_db, busy_timeout_ms);
}

Connection::~Connection() {
  if (m_db) {
    sqlite3_close_v2(m_db);
  }
}

Connection::Connection(Connection&& other) noexcept
    : m_db(other.m_db), m_path(std::move(other.m_path)) {
  other.m_db = nullptr;
}

void Connection::throw_error(std::string_view context) const {
  int code = sqlite3_extended_errcode(m_db);
  int sys = sqlite3_system_errno(m_db);
  // A full disk often shows as an I/O error (creating the -shm or -wal file); say what it is.
  auto words =
      sys == ENOSPC || sys == EDQUOT ? std::string_view("the disk is full") : plain_words(code);
  if (words.empty()) {
    throw StoreError(
        fmt::format("settings store '{}': {}: {}", m_path, context, sqlite3_errmsg(m_db)));
  }
  throw StoreError(fmt::format("settings store '{}': {} ({}, {})", m_path, words,
                               sqlite3_errmsg(m_db), context));
}

void Connection::exec(std::string_view sql) {
  std::string text(sql);
  if (sqlite3_exec(m_db, text.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    throw_error(fmt::format("executing '{}'", text.substr(0, 60)));
  }
}

int Connection::changes() const { return sqlite3_changes(m_db); }

std::int64_t Connection::query_int(std::string_view sql) {
  Statement st(*this, sql);
  Statement::Use use(st);
  if (!use.next()) {
    throw StoreError(fmt::format("settings store: '{}' returned no row", sql));
  }
  return use.get_int(0);
}

Statement::Statement(Connection& db, std::string_view sql) : m_db(db) {
  if (sqlite3_prepare_v2(db.handle(), sql.data(), static_cast<int>(sql.size()), &m_stmt, nullptr) !=
      SQLITE_OK) {
    db.throw_error(fmt::format("preparing '{}'", sql.substr(0, 60)));
  }
}

Statement::~Statement() { sqlite3_finalize(m_stmt); }

Statement::Use::Use(Statement& st) : m_st(st) {}

Statement::Use::~Use() {
  sqlite3_reset(m_st.m_stmt);
  sqlite3_clear_bindings(m_st.m_stmt);
}

Statement::Use& Statement::Use::bind(std::string_view text) {
  // An empty string_view may have no data at all; SQLite would bind that as NULL, not ''.
  const char* data = text.data() != nullptr ? text.data() : "";
  if (sqlite3_bind_text(m_st.m_stmt, m_next_param++, data, static_cast<int>(text.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK) {
    m_st.m_db.throw_error("binding a parameter");
  }
  return *this;
}

Statement::Use& Statement::Use::bind(std::int64_t value) {
  if (sqlite3_bind_int64(m_st.m_stmt, m_next_param++, value) != SQLITE_OK) {
    m_st.m_db.throw_error("binding a parameter");
  }
  return *this;
}

Statement::Use& Statement::Use::bind_null() {
  if (sqlite3_bind_null(m_st.m_stmt, m_next_param++) != SQLITE_OK) {
    m_st.m_db.throw_error("binding a parameter");
  }
  return *this;
}

bool Statement::Use::next() {
  int rc = sqlite3_step(m_st.m_stmt);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  m_st.m_db.throw_error("running a statement");
}

void Statement::Use::run() {
  while (next()) {
  }
}

std::int64_t Statement::Use::get_int(int col) const {
  return sqlite3_column_int64(m_st.m_stmt, col);
}

std::string Statement::Use::get_text(int col) const {
  const unsigned char* p = sqlite3_column_text(m_st.m_stmt, col);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<size_t>(sqlite3_column_bytes(m_st.m_stmt, col)))
           : std::string();
}

bool Statement::Use::is_null(int col) const {
  return sqlite3_column_type(m_st.m_stmt, col) == SQLITE_NULL;
}

Transaction::Transaction(Connection& db) : m_db(db) { m_db.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (m_active) {
    // Never throw from a destructor; a failed rollback leaves SQLite to roll back on close.
    sqlite3_exec(m_db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

void Transaction::commit() {
  m_db.exec("COMMIT");
  m_active = false;
}

} // namespace vbm::store
