#include "sys/files.hpp"

#include "sys/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace vbm::sys {

namespace {
[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path, int err) {
  throw Error(fmt::format("{} '{}': {}", what, path.string(), std::strerror(err)));
}

std::string user_name(uid_t uid) {
  const passwd* pw = getpwuid(uid);
  return pw ? fmt::format("{} (uid {})", pw->pw_name, uid) : fmt::format("uid {}", uid);
}
} // namespace

std::optional<std::string> read_text_file(const std::filesystem::path& path, bool follow) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
  if (fd < 0) {
    return std::nullopt;
  }
  std::string text;
  char buf[8192];
  ssize_t n = 0;
  while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) {
      text.append(buf, static_cast<size_t>(n));
    }
  }
  int err = errno;
  close(fd);
  if (n < 0) {
    errno = err;
    return std::nullopt;
  }
  return text;
}

void write_file_atomic(const std::filesystem::path& path, const std::string& text, unsigned mode,
                       bool durable) {
  // mkostemp creates the file with O_EXCL: an existing name, or a symlink planted there, makes
  // it try another name instead of opening it.
  std::string tmpl = path.string() + ".XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) {
    fail("cannot write", path, errno);
  }
  std::string tmp(name.data());
  bool ok = fchmod(fd, mode) == 0; // whatever the umask
  size_t done = 0;
  while (ok && done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    ok = n > 0;
    done += ok ? static_cast<size_t>(n) : 0;
  }
  int err = ok ? 0 : (errno != 0 ? errno : EIO);
  if (ok && durable && fsync(fd) != 0) {
    ok = false;
    err = errno;
  }
  if (close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    err = ok ? errno : err;
    unlink(tmp.c_str());
    fail("cannot write", path, err);
  }
  if (durable) {
    int dir = open(path.parent_path().empty() ? "." : path.parent_path().c_str(),
                   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      fsync(dir);
      close(dir);
    }
  }
}

int open_private_file(const std::filesystem::path& path, int flags, unsigned mode,
                      std::string_view what) {
  std::string action = what.empty() ? "cannot open" : fmt::format("cannot open {}", what);
  int fd = open(path.c_str(), flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  bool created = fd >= 0;
  if (!created && errno == EEXIST) {
    fd = open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  }
  if (fd < 0) {
    fail(action, path, errno);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    throw Error(fmt::format("{} '{}': not a regular file", action, path.string()));
  }
  if (!created) {
    // O_NONBLOCK only guarded the open against a planted FIFO.
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  } else if (fchmod(fd, mode) != 0) { // whatever the umask
    int err = errno;
    close(fd);
    fail(action, path, err);
  }
  return fd;
}

void check_dir(const std::filesystem::path& dir, DirRule rule, const std::string& what) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    fail(fmt::format("cannot use {}", what), dir, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    throw Error(fmt::format("the {} '{}' is not a directory", what, dir.string()));
  }
  uid_t me = geteuid();
  bool owner_ok = st.st_uid == me || (rule == DirRule::OnlyUsAndRoot && st.st_uid == 0);
  if (!owner_ok) {
    throw Error(fmt::format("the {} '{}' belongs to {}, not to {}: use a directory of your own{}",
                            what, dir.string(), user_name(st.st_uid), user_name(me),
                            rule == DirRule::Private ? " (VBOX_USER_HOME)" : ""));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw Error(fmt::format("the {} '{}' is writable by {}: make it yours alone (chmod go-w '{}')",
                            what, dir.string(), (st.st_mode & S_IWOTH) ? "all users" : "its group",
                            dir.string()));
  }
}

void prepare_dir(const std::filesystem::path& dir, unsigned mode, DirRule rule,
                 const std::string& what) {
  std::filesystem::path partial;
  for (const auto& part : dir) {
    partial /= part;
    if (mkdir(partial.c_str(), mode) == 0) {
      chmod(partial.c_str(), mode); // whatever the umask
    } else if (errno != EEXIST) {
      fail(fmt::format("cannot create {}", what), partial, errno);
    }
  }
  check_dir(dir, rule, what);
}

} // namespace vbm::sys
