#pragma once
// One background process per lock: the metrics collector (one per settings store), the
// page-fusion controller (one per host) and the balloon service (one per connection). This is
// everything they share: started on demand by a command (spawn_daemon), one instance holding a
// lock file that also names its PID, a log with rotation, stop signals, the exit when idle
// without losing work that arrives meanwhile, and the exit when what it serves is gone. Each
// library (metrics/, pagefusion/, balloon/) owns its process's loop; this is its frame.

#include "sys/lock_file.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace vbm::sys {

/// When a log file is started again: past `max_bytes`, or once it is `max_age_s` old (0: never
/// for age); `keep` older files are kept as LOG.1 … LOG.keep (0: the log is never rotated).
struct LogRotation {
  std::uint64_t max_bytes = 1 << 20;
  unsigned keep = 1;
  std::int64_t max_age_s = 0;
};

struct DaemonFiles {
  std::filesystem::path lock; ///< flock + PID: "an instance runs"
  std::filesystem::path log;  ///< the spawned process's stdout and stderr
  unsigned lock_mode = 0600;  ///< 0644 where any user's status reads it
  unsigned log_mode = 0600;
  LogRotation rotation;
};

/// Starts `vboxmanage ARGS…` detached (double fork, own session, stdin /dev/null, stdout and
/// stderr appended to files.log) unless a process already holds files.lock, then waits up to
/// 2 s for it to take the lock. Returns the PID of the process that holds it ("" if none did
/// yet). No shell: the program re-executes itself (/proc/self/exe) with fixed words. Throws
/// vbm::Error.
std::string spawn_daemon(const DaemonFiles& files, const std::vector<std::string>& args);

class Daemon {
public:
  struct Hooks {
    std::function<std::int64_t()> now_ms;
    std::function<void(int ms)> sleep_ms;
    /// Whether a stop signal arrived (SIGINT, SIGTERM, SIGHUP). Default: sys::stop_signal(),
    /// with the signals caught from the Daemon's construction on.
    std::function<bool()> stop_requested;
  };
  /// `name` starts every log line ("collector", "pagefusiond", "balloonctrl").
  Daemon(std::string name, DaemonFiles files, Hooks hooks);

  /// Takes the lock and writes our PID into it. `wait`: queue behind the instance that holds it
  /// (a permanent service started while an on-demand one runs). False: another instance serves.
  bool acquire(bool wait);
  /// "2026-12-01T22:53:46.123 NAME[PID]: MSG" on stderr. When stderr is our log file and it is
  /// due (files.rotation), it is rotated first (LOG → LOG.1 → LOG.2 …, a new LOG).
  void log(const std::string& msg);
  bool stop_requested() const { return m_hooks.stop_requested(); }

  struct Loop {
    /// One turn of work, including its own waiting (about a second at most, so that a stop is
    /// seen soon). Returns false when there is nothing left to do.
    std::function<bool()> turn;
    /// Asked after the lock was released because turn() had nothing left to do: whether work
    /// arrived meanwhile (then the lock is taken back, if it is still free, and turns go on).
    std::function<bool()> work_arrived;
    /// What the process serves: empty while it is there, else why it is gone.
    std::function<std::string()> gone;
  };
  enum class End { Stopped, Idle, Gone };
  /// Runs turns until a stop is requested, until what the process serves is gone (also when
  /// the lock file was removed: a second instance could then start), or, unless `permanent`,
  /// until there is nothing left to do. Nothing is lost at that exit: the lock is released
  /// first and work_arrived() asked after, so work committed before that look is seen here and
  /// work committed after it finds the lock free and spawns a new process. Logs why it ended.
  End run(const Loop& loop, bool permanent);

private:
  void rotate_log_if_due();

  std::string m_name;
  DaemonFiles m_files;
  Hooks m_hooks;
  LockFile m_lock;
  std::int64_t m_log_opened_ms = 0;
};

} // namespace vbm::sys
