#include "cli/usage.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <sys/ioctl.h>
#include <unistd.h>

namespace vbm::cli {

std::string logo() {
  return fmt::format("vboxkvm Command Line Management Interface Version {}\n"
                     "Copyright (C) 2026 The vboxkvm developers\n\n",
                     VBM_VERSION);
}

std::string version_string() { return fmt::format("7.0.14_vboxkvm{}r1", VBM_VERSION); }

int screen_width() {
  if (const char* env = std::getenv("IPRT_SCREEN_WIDTH"); env && *env) {
    int w = std::atoi(env);
    if (w > 0) {
      return w;
    }
  }
  for (int fd : {STDOUT_FILENO, STDERR_FILENO, STDIN_FILENO}) {
    winsize ws{};
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
      return ws.ws_col;
    }
  }
  return 80;
}

std::string wrap_synopsis(std::string_view text, int width) {
  size_t limit = width > 20 ? static_cast<size_t>(width - 1) : 79;
  std::string out = "  ";
  size_t line_len = 2;
  bool first_word = true;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view word = text.substr(pos, end - pos);
    pos = end + 1;
    if (word.empty()) {
      continue;
    }
    if (!first_word && line_len + 1 + word.size() > limit) {
      out += "\n      ";
      line_len = 6;
    } else if (!first_word) {
      out += ' ';
      ++line_len;
    }
    out += word;
    line_len += word.size();
    first_word = false;
  }
  out += '\n';
  return out;
}

std::string brief_usage(const CommandHelp& help, std::string_view prog, int width,
                        std::string_view scope) {
  std::string out;
  if (!scope.empty() || help.purpose.empty()) {
    out = "Usage:\n";
  } else {
    std::string purpose(help.purpose);
    purpose[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(purpose[0])));
    out = fmt::format("Usage - {}:\n", purpose);
  }
  for (const auto& syn : help.synopses) {
    if (!scope.empty() && !syn.starts_with(fmt::format("{} ", scope)) &&
        syn.find(fmt::format(" {} ", scope)) == std::string::npos) {
      continue;
    }
    out += '\n';
    out += wrap_synopsis(fmt::format("{} {} {}", prog, help.name, syn), width);
  }
  return out;
}

} // namespace vbm::cli
