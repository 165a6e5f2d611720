#include "sys/daemon.hpp"

#include "sys/error.hpp"
#include "sys/files.hpp"
#include "sys/signals.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace vbm::sys {

namespace {
constexpr int k_spawn_wait_ms = 2000;

std::string timestamp(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

bool same_file(int fd, const std::filesystem::path& path) {
  struct stat a {};
  struct stat b {};
  return fstat(fd, &a) == 0 && lstat(path.c_str(), &b) == 0 && a.st_ino == b.st_ino &&
         a.st_dev == b.st_dev;
}
} // namespace

std::string spawn_daemon(const DaemonFiles& files, const std::vector<std::string>& args) {
  {
    LockFile probe(files.lock, files.lock_mode);
    if (!probe.try_lock()) {
      return read_lock_pid(files.lock);
    }
    probe.unlock(); // empties it: a PID left by a killed holder is not reported as the new one's
  }
  // Opened before fork, so the child only calls async-signal-safe functions.
  int logfd = open_private_file(files.log, O_WRONLY | O_APPEND, files.log_mode);
  std::vector<std::string> words{"vboxmanage"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) {
    argv.push_back(w.data());
  }
  argv.push_back(nullptr);
  pid_t child = fork();
  if (child < 0) {
    int err = errno;
    close(logfd);
    throw Error(fmt::format("cannot start '{}': {}", args.front(), std::strerror(err)));
  }
  if (child == 0) {
    setsid();
    if (fork() != 0) {
      _exit(0);
    }
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
    }
    dup2(logfd, STDOUT_FILENO);
    dup2(logfd, STDERR_FILENO);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  close(logfd);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  // Report the process's PID once it holds the lock (it writes the PID there).
  for (int waited = 0; waited < k_spawn_wait_ms; waited += 20) {
    if (auto pid = read_lock_pid(files.lock); !pid.empty()) {
      return pid;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {};
}

Daemon::Daemon(std::string name, DaemonFiles files, Hooks hooks)
    : m_name(std::move(name)), m_files(std::move(files)), m_hooks(std::move(hooks)),
      m_lock(m_files.lock, m_files.lock_mode), m_log_opened_ms(m_hooks.now_ms()) {
  if (!m_hooks.stop_requested) {
    catch_stop_signals();
    m_hooks.stop_requested = [] { return stop_signal() != 0; };
  }
}

bool Daemon::acquire(bool wait) {
  if (wait) {
    m_lock.lock();
  } else if (!m_lock.try_lock()) {
    return false;
  }
  m_lock.write_pid();
  return true;
}

void Daemon::rotate_log_if_due() {
  const auto& r = m_files.rotation;
  struct stat st {};
  if (r.keep == 0 || fstat(STDERR_FILENO, &st) != 0 || !S_ISREG(st.st_mode) ||
      !same_file(STDERR_FILENO, m_files.log)) {
    return; // not our log file (a terminal, systemd's journal), or never rotated
  }
  bool too_big = static_cast<std::uint64_t>(st.st_size) > r.max_bytes;
  bool too_old = r.max_age_s > 0 && m_hooks.now_ms() - m_log_opened_ms > r.max_age_s * 1000;
  if (!too_big && !too_old) {
    return;
  }
  auto numbered = [&](unsigned n) {
    auto p = m_files.log;
    p += fmt::format(".{}", n);
    return p;
  };
  std::remove(numbered(r.keep).c_str());
  for (unsigned n = r.keep; n > 1; --n) {
    std::rename(numbered(n - 1).c_str(), numbered(n).c_str());
  }
  if (std::rename(m_files.log.c_str(), numbered(1).c_str()) != 0) {
    return;
  }
  m_log_opened_ms = m_hooks.now_ms();
  try {
    int fd = open_private_file(m_files.log, O_WRONLY | O_APPEND, m_files.log_mode);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
  } catch (const Error&) {
    // keep writing to the renamed file
  }
}

void Daemon::log(const std::string& msg) {
  rotate_log_if_due();
  std::string line =
      fmt::format("{} {}[{}]: {}\n", timestamp(m_hooks.now_ms()), m_name, getpid(), msg);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

Daemon::End Daemon::run(const Loop& loop, bool permanent) {
  while (!stop_requested()) {
    if (!m_lock.still_at_path()) {
      log(fmt::format("stopped: its lock file '{}' was removed", m_files.lock.string()));
      return End::Gone;
    }
    if (auto why = loop.gone(); !why.empty()) {
      log(fmt::format("stopped: {}", why));
      return End::Gone;
    }
    if (loop.turn() || permanent) {
      continue;
    }
    // Nothing left to do. Release first, then look again: work committed before this look is
    // seen here; work committed after it finds the lock free and starts a new process.
    m_lock.unlock();
    if (!loop.work_arrived() || !m_lock.try_lock()) {
      log("stopped: nothing left to do");
      return End::Idle;
    }
    m_lock.write_pid();
  }
  log("stopped (signal)");
  return End::Stopped;
}

} // namespace vbm::sys
