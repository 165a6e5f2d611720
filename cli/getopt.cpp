#include "cli/getopt.hpp"

#include <fmt/format.h>

#include <cctype>
#include <strings.h>

namespace vbm::cli {

namespace {
std::optional<std::uint64_t> digits(std::string_view text, unsigned base) {
  if (text.empty()) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (char c : text) {
    unsigned d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (base == 16 && std::isxdigit(static_cast<unsigned char>(c))) {
      d = static_cast<unsigned>(std::tolower(static_cast<unsigned char>(c)) - 'a' + 10);
    } else {
      return std::nullopt;
    }
    if (d >= base) {
      return std::nullopt;
    }
    value = value * base + d;
    if (value > UINT32_MAX) {
      return std::nullopt;
    }
  }
  return value;
}
std::optional<std::uint32_t> narrow(std::optional<std::uint64_t> v) {
  if (!v) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(*v);
}
} // namespace

std::optional<std::uint32_t> parse_uint32_getopt(std::string_view text) {
  // Decimal first; IPRT skips any run of leading '+' signs; a '-' makes it fail.
  std::string_view dec = text;
  while (!dec.empty() && dec.front() == '+') {
    dec.remove_prefix(1);
  }
  if (auto v = digits(dec, 10)) {
    return static_cast<std::uint32_t>(*v);
  }
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    if (auto v = digits(text.substr(2), 16)) {
      return static_cast<std::uint32_t>(*v);
    }
  }
  return std::nullopt;
}

std::optional<std::uint32_t> parse_uint32_auto(std::string_view text) {
  while (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);
  }
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    return narrow(digits(text.substr(2), 16));
  }
  if (text.size() > 1 && text[0] == '0' && text[1] >= '0' && text[1] <= '7') {
    return narrow(digits(text.substr(1), 8));
  }
  return narrow(digits(text, 10));
}

std::optional<bool> parse_on_off(std::string_view text) {
  std::string s(text);
  if (strcasecmp(s.c_str(), "on") == 0) {
    return true;
  }
  if (strcasecmp(s.c_str(), "off") == 0) {
    return false;
  }
  return std::nullopt;
}

const OptDef* match_option(std::string_view arg, std::span<const OptDef> defs,
                           std::optional<std::string_view>* inline_value) {
  for (const auto& d : defs) {
    if (arg == d.name) {
      return &d;
    }
    if (d.kind != ArgKind::None && arg.size() > d.name.size() && arg.starts_with(d.name) &&
        (arg[d.name.size()] == '=' || arg[d.name.size()] == ':')) {
      if (inline_value) {
        *inline_value = arg.substr(d.name.size() + 1);
      }
      return &d;
    }
  }
  return nullptr;
}

std::optional<OptItem> GetOpt::next() {
  while (m_pos < m_args.size()) {
    const std::string& arg = m_args[m_pos++];
    if (m_options_done || arg.size() < 2 || arg[0] != '-') {
      return OptItem{nullptr, arg};
    }
    if (arg == "--") {
      m_options_done = true;
      continue;
    }
    std::optional<std::string_view> inline_value;
    const OptDef* def = match_option(arg, m_defs, &inline_value);
    std::optional<std::string> value;
    if (inline_value) {
      value = std::string(*inline_value);
    }
    if (!def) {
      throw GetOptError(fmt::format("Unknown option: {}", arg));
    }
    OptItem item{def, {}};
    if (def->kind == ArgKind::None) {
      return item;
    }
    if (!value) {
      if (m_pos >= m_args.size()) {
        throw GetOptError(
            fmt::format("{}: RTGetOpt: Command line option needs argument.", def->name));
      }
      value = m_args[m_pos++];
    }
    item.text = *value;
    if (def->kind == ArgKind::UInt32) {
      auto v = parse_uint32_getopt(item.text);
      if (!v) {
        // VirtualBox prints stray pointer bytes here (spec §1.3); we print the value instead.
        throw GetOptError(fmt::format("Invalid argument format: {}", item.text));
      }
      item.u32 = *v;
    } else if (def->kind == ArgKind::OnOff) {
      auto v = parse_on_off(item.text);
      if (!v) {
        throw GetOptError(fmt::format("Unknown option: {}", item.text));
      }
      item.on = *v;
    }
    return item;
  }
  return std::nullopt;
}

} // namespace vbm::cli
