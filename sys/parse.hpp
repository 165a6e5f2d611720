#pragma once
// Numbers from text that comes from outside: files under /proc and /sys (a number followed by
// more text), and whole words (a setting, a PID file, an option value) where anything but the
// number is an error. Never std::stol: it throws std::invalid_argument, which no caller
// expects, on text a user or another program wrote.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace vbm::sys {

/// The unsigned decimal number at the start of `text` (leading blanks skipped); nullopt if none.
std::optional<std::uint64_t> parse_u64(std::string_view text);
/// The same for a signed number ("-12288").
std::optional<std::int64_t> parse_i64(std::string_view text);

/// `text` as a whole decimal number of type T (surrounding blanks and one trailing newline
/// allowed); nullopt for anything else, including a value out of T's range.
template <class T>
std::optional<T> parse_whole(std::string_view text) {
  static_assert(std::is_integral_v<T>);
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

/// `s` without its leading and trailing blanks (space, tab, CR).
std::string trim(std::string_view s);

/// One setting of a small configuration file (/etc/vboxkvm/*.conf); `line` counts from 1.
struct Setting {
  int line = 0;
  std::string key;
  std::string value; ///< "" for a line without '='
};
/// The "key = value" lines of `text`: '#' starts a comment, blanks around key and value are
/// dropped, empty lines skipped.
std::vector<Setting> parse_settings(std::string_view text);

} // namespace vbm::sys
