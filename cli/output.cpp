#include "cli/output.hpp"

#include <cstdio>
#include <unistd.h>

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

void StdOutput::out(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

void StdOutput::err(std::string_view text) {
  // Keep stdout and stderr in order when both go to one file or terminal.
  std::fflush(stdout);
  std::fwrite(text.data(), 1, text.size(), stderr);
}

bool StdOutput::flush() { return std::fflush(stdout) == 0 && !std::ferror(stdout); }

bool StdOutput::is_terminal() const { return isatty(STDOUT_FILENO) == 1; }

} // namespace vbm::cli
