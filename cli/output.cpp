#include "cli/output.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vbm::cli {

void Output::prefixed(std::string_view kind, std::string_view msg) {
  std::string text;
  size_t start = 0;
  while (true) {
    size_t nl = msg.find('\n', start);
    text += m_prog;
    text += ": ";
    text += kind;
    text += ": ";
    text += msg.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    text += '\n';
    if (nl == std::string_view::npos || nl + 1 == msg.size()) {
      break;
    }
    start = nl + 1;
  }
  err(text);
}

void Output::error(std::string_view msg) { prefixed("error", msg); }
void Output::warning(std::string_view msg) { prefixed("warning", msg); }

void StdOutput::out(std::string_view text) {
  m_wrote |= !text.empty();
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() && m_errno == 0) {
    m_errno = errno != 0 ? errno : EIO;
  }
}

void StdOutput::err(std::string_view text) {
  // Keep stdout and stderr in order when both go to one file or terminal.
  std::fflush(stdout);
  std::fwrite(text.data(), 1, text.size(), stderr);
}

bool StdOutput::flush() {
  errno = 0;
  if (std::fflush(stdout) != 0 && m_errno == 0) {
    m_errno = errno != 0 ? errno : EIO;
  }
  return !std::ferror(stdout);
}

std::string StdOutput::finish(bool stdout_was_closed) {
  if (!flush() && m_errno != EPIPE) {
    return std::strerror(m_errno != 0 ? m_errno : EIO);
  }
  if (stdout_was_closed && m_wrote) {
    return std::strerror(EBADF);
  }
  return {};
}

} // namespace vbm::cli
