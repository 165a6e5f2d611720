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

} // namespace vbm::sys
