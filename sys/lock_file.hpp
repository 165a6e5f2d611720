#pragma once
// A lock file: flock(2) on it says "I hold it" (the kernel releases it when the holder dies,
// even by kill -9), and its content is the holder's PID, for status lines. The settings store's
// writer lock (vboxmanage's session lock) and every background process's singleton lock.

#include <filesystem>
#include <string>

namespace vbm::sys {

class LockFile {
public:
  /// Opens the file, creating it with `mode` (whatever the umask) if missing; an existing file
  /// keeps its mode. Never through a symlink. Throws vbm::Error naming the file.
  explicit LockFile(std::filesystem::path path, unsigned mode = 0600);
  ~LockFile();
  LockFile(LockFile&& other) noexcept;
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  LockFile& operator=(LockFile&&) = delete;

  /// Takes the lock without waiting; false when another process holds it.
  bool try_lock();
  /// Takes the lock, waiting as long as it takes.
  void lock();
  /// Takes the lock, waiting up to `timeout_ms`; false when it was not free in time.
  bool lock_within(int timeout_ms);
  /// Writes our PID into the file (informational: who holds it).
  void write_pid();
  /// Empties the file and releases the lock.
  void unlock();
  /// Whether the file at our path is still the one we opened (not removed or replaced): a
  /// lock on a removed file no longer keeps a second holder out.
  bool still_at_path() const;
  const std::filesystem::path& path() const { return m_path; }

private:
  std::filesystem::path m_path;
  int m_fd = -1;
};

/// The PID a lock file holds, "" if none (not running, or not yet written).
std::string read_lock_pid(const std::filesystem::path& path);
/// Whether some process holds the lock now.
bool lock_is_held(const std::filesystem::path& path);

} // namespace vbm::sys
