#include "sys/lock_file.hpp"

#include "sys/error.hpp"
#include "sys/files.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace vbm::sys {

LockFile::LockFile(std::filesystem::path path, unsigned mode)
    : m_path(std::move(path)), m_fd(open_private_file(m_path, O_RDWR, mode)) {}

LockFile::LockFile(LockFile&& other) noexcept : m_path(std::move(other.m_path)), m_fd(other.m_fd) {
  other.m_fd = -1;
}

LockFile::~LockFile() {
  if (m_fd >= 0) {
    close(m_fd); // releases the flock
  }
}

bool LockFile::try_lock() {
  while (flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return false;
    }
    if (errno != EINTR) {
      throw Error(fmt::format("cannot lock '{}': {}", m_path.string(), std::strerror(errno)));
    }
  }
  return true;
}

void LockFile::lock() {
  while (flock(m_fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      throw Error(fmt::format("cannot lock '{}': {}", m_path.string(), std::strerror(errno)));
    }
  }
}

bool LockFile::lock_within(int timeout_ms) {
  // flock, not fcntl locks: it belongs to the open file, so a killed holder releases it.
  for (int waited_ms = 0; !try_lock(); waited_ms += 10) {
    if (waited_ms >= timeout_ms) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void LockFile::write_pid() {
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(m_fd, 0) != 0 || pwrite(m_fd, pid.data(), pid.size(), 0) < 0) {
    return; // the PID is informational only
  }
}

void LockFile::unlock() {
  if (ftruncate(m_fd, 0) != 0) {
    // informational only: a stale PID in an unlocked file is never read as a holder's
  }
  flock(m_fd, LOCK_UN);
}

bool LockFile::still_at_path() const {
  struct stat mine {};
  struct stat there {};
  return fstat(m_fd, &mine) == 0 && lstat(m_path.c_str(), &there) == 0 &&
         mine.st_ino == there.st_ino && mine.st_dev == there.st_dev;
}

std::string read_lock_pid(const std::filesystem::path& path) {
  auto text = read_text_file(path, false);
  std::string pid = text.value_or("");
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) {
    pid.pop_back();
  }
  return pid;
}

bool lock_is_held(const std::filesystem::path& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd); // releases our probe lock, if we got it
  return held;
}

} // namespace vbm::sys
