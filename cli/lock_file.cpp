#include "cli/lock_file.hpp"

#include "cli/errors.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace vbm::cli {

LockFile::LockFile(const std::string& path, unsigned mode) {
  m_fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, mode);
  if (m_fd < 0) {
    throw CommandError(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  }
  fchmod(m_fd, mode);
}

LockFile::~LockFile() { close(m_fd); }

bool LockFile::lock(bool wait) {
  while (flock(m_fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    if (errno != EINTR) {
      return false;
    }
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(m_fd, 0) != 0 || pwrite(m_fd, pid.data(), pid.size(), 0) < 0) {
    return true; // the PID is informational only
  }
  return true;
}

void LockFile::unlock() {
  if (ftruncate(m_fd, 0) != 0) {
    // informational only
  }
  flock(m_fd, LOCK_UN);
}

std::string read_lock_pid(const std::string& path) {
  char buf[32] = {};
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return {};
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  std::string pid(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) {
    pid.pop_back();
  }
  return pid;
}

bool lock_is_held(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd); // releases our probe lock, if we got it
  return held;
}

std::string spawn_locked(const std::string& lock_path, const std::string& log_path,
                         const std::vector<std::string>& args) {
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error(fmt::format("cannot open '{}': {}", lock_path, std::strerror(errno)));
  }
  bool free = flock(fd, LOCK_EX | LOCK_NB) == 0;
  if (free && ftruncate(fd, 0) != 0) {
    // a PID left by a holder that was killed would be reported as the new one's; harmless
  }
  close(fd); // releases our probe lock
  if (!free) {
    return read_lock_pid(lock_path);
  }
  // Built before fork: the child only calls async-signal-safe functions.
  std::vector<std::string> words{"vboxmanage"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) {
    argv.push_back(w.data());
  }
  argv.push_back(nullptr);
  pid_t child = fork();
  if (child < 0) {
    throw std::runtime_error(
        fmt::format("cannot start '{}': {}", args.front(), std::strerror(errno)));
  }
  if (child == 0) {
    setsid();
    if (fork() != 0) {
      _exit(0);
    }
    int null = open("/dev/null", O_RDONLY);
    int logfd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
    }
    if (logfd >= 0) {
      dup2(logfd, STDOUT_FILENO);
      dup2(logfd, STDERR_FILENO);
    }
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  // Report the process's PID once it holds the lock (it writes the PID there).
  for (int waited = 0; waited < 2000; waited += 20) {
    if (auto pid = read_lock_pid(lock_path); !pid.empty()) {
      return pid;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {};
}

} // namespace vbm::cli
