#pragma once
// A background process's lock file: flock(2) on it says "I run" (released by the kernel when
// the process dies, even by kill -9), and its content is the holder's PID, for status lines.
// One per metrics store (the collector) and one per host (the page-fusion controller).

#include <optional>
#include <string>
#include <vector>

namespace vbm::cli {

class LockFile {
public:
  /// Opens (creates) the file with `mode`, whatever the umask. Throws CommandError naming it.
  explicit LockFile(const std::string& path, unsigned mode = 0600);
  ~LockFile();
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  /// Takes the lock (waiting for it, or not) and writes our PID into the file.
  bool lock(bool wait);
  /// Empties the file and releases the lock.
  void unlock();

private:
  int m_fd;
};

/// The PID a lock file holds, "" if none (not running, or not yet written).
std::string read_lock_pid(const std::string& path);
/// Whether some process holds the lock now.
bool lock_is_held(const std::string& path);

/// Starts `vboxmanage ARGS…` detached (double fork, own session, stdin /dev/null, stdout and
/// stderr appended to `log_path`) unless a process already holds `lock_path`, then waits up to
/// 2 s for it to take the lock. Returns "PID" of the process that holds it ("" if none did yet).
/// No shell is involved: the program re-executes itself (/proc/self/exe).
std::string spawn_locked(const std::string& lock_path, const std::string& log_path,
                         const std::vector<std::string>& args);

} // namespace vbm::cli
