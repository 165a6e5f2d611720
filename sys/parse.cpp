#include "sys/parse.hpp"

namespace vbm::sys {

namespace {
template <class T>
std::optional<T> parse_prefix(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  T v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end == text.data()) {
    return std::nullopt;
  }
  return v;
}
} // namespace

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  return parse_prefix<std::uint64_t>(text);
}
std::optional<std::int64_t> parse_i64(std::string_view text) {
  return parse_prefix<std::int64_t>(text);
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) {
    return {};
  }
  auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

std::vector<Setting> parse_settings(std::string_view text) {
  std::vector<Setting> out;
  int n = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++n;
    auto content = trim(line.substr(0, line.find('#')));
    if (content.empty()) {
      continue;
    }
    auto eq = content.find('=');
    out.push_back(
        {n, trim(std::string_view(content).substr(0, eq)),
         eq == std::string::npos ? std::string() : trim(std::string_view(content).substr(eq + 1))});
  }
  return out;
}

} // namespace vbm::sys
