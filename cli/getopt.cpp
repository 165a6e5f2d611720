#include "cli/getopt.hpp"

#include <fmt/format.h>

#include <cctype>
#include <strings.h>

namespace vbm::cli {

RtNumber rt_str_to_uint64(std::string_view text, unsigned base) {
  // IPRT's RTStrToUInt64Ex (strtonum.cpp), step by step.
  size_t pos = 0;
  bool positive = true;
  for (; pos < text.size() && (text[pos] == '+' || text[pos] == '-'); ++pos) {
    positive = text[pos] == '+' ? true : !positive; // '+' resets the sign, '-' flips it
  }
  auto digit = [&](size_t at) -> unsigned {
    if (at >= text.size()) {
      return 255;
    }
    auto c = static_cast<unsigned char>(text[at]);
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (std::isalpha(c)) {
      return static_cast<unsigned>(std::tolower(c) - 'a' + 10);
    }
    return 255;
  };
  bool hex_prefix = pos + 1 < text.size() && text[pos] == '0' &&
                    (text[pos + 1] == 'x' || text[pos + 1] == 'X') && digit(pos + 2) < 16;
  if (base == 0) {
    base = 10;
    if (hex_prefix) {
      base = 16;
      pos += 2;
    } else if (pos < text.size() && text[pos] == '0' && digit(pos + 1) < 8) {
      base = 8; // the zero stays, in case it is alone
    }
  } else if (base == 16 && hex_prefix) {
    pos += 2;
  }
  RtNumber n;
  size_t first_digit = pos;
  bool too_big = false;
  for (unsigned d = digit(pos); d < base; d = digit(++pos)) {
    if (n.value > (UINT64_MAX - d) / base) {
      too_big = true;
    }
    n.value = n.value * base + d;
  }
  if (too_big) {
    n.status = RtStatus::NumberTooBig;
  } else if (!positive) {
    n.status = RtStatus::NegativeUnsigned;
  }
  if (!positive) {
    n.value = static_cast<std::uint64_t>(-static_cast<std::int64_t>(n.value));
  }
  if (pos == first_digit) {
    n.status = RtStatus::NoDigits;
  } else if (n.status == RtStatus::Success && pos < text.size()) {
    n.status = text.find_first_not_of(" \t", pos) == std::string_view::npos
                   ? RtStatus::TrailingSpaces
                   : RtStatus::TrailingChars;
  }
  return n;
}

std::optional<std::uint32_t> rt_str_to_uint32(std::string_view text, unsigned base) {
  // VINF_SUCCESS only: RTStrToUInt32Ex's warnings (trailing text, a negative value, more than
  // 32 bits) are failures to every caller VBoxManage has.
  auto n = rt_str_to_uint64(text, base);
  if (n.status != RtStatus::Success || n.value > UINT32_MAX) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(n.value);
}

std::optional<std::uint32_t> parse_uint32_getopt(std::string_view text) {
  // RTGetOpt's MY_INT_CASE: RTStrToUInt32Full(…, 10), else, when the raw text starts with
  // "0x"/"0X" and a hex digit, RTStrToUInt32Full(…, 16).
  if (auto v = rt_str_to_uint32(text, 10)) {
    return v;
  }
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') &&
      std::isxdigit(static_cast<unsigned char>(text[2]))) {
    return rt_str_to_uint32(text, 16);
  }
  return std::nullopt;
}

std::optional<std::uint32_t> parse_uint32_auto(std::string_view text) {
  return rt_str_to_uint32(text, 0);
}

std::optional<std::uint32_t> parse_uint32_decimal(std::string_view text) {
  return rt_str_to_uint32(text, 10);
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

namespace {
/// rtGetOptSearchShort: the option whose short form is `-c` (a two-character name).
const OptDef* find_short(char c, std::span<const OptDef> defs) {
  for (const auto& d : defs) {
    if (d.name.size() == 2 && d.name[0] == '-' && d.name[1] == c) {
      return &d;
    }
  }
  return nullptr;
}
} // namespace

std::optional<OptItem> GetOpt::next() {
  const OptDef* def = nullptr;
  std::optional<std::string> value;
  if (!m_short_rest.empty()) {
    // RTGetOpt's "compressed" short options: `-ls` is `-l -s`; an unknown letter is an
    // unknown option named by what is left of the word.
    def = find_short(m_short_rest[0], m_defs);
    if (!def) {
      throw GetOptError(fmt::format("Unknown option: {}", m_short_rest));
    }
    std::string rest = m_short_rest.substr(1);
    m_short_rest.clear();
    if (def->kind == ArgKind::None) {
      m_short_rest = rest;
    } else if (!rest.empty() && rest != "=" && rest != ":") {
      value = rest.substr(rest[0] == '=' || rest[0] == ':' ? 1 : 0);
    }
  } else {
    while (!def) {
      if (m_pos >= m_args.size()) {
        return std::nullopt;
      }
      const std::string& arg = m_args[m_pos++];
      if (m_options_done || arg.size() < 2 || arg[0] != '-') {
        return OptItem{nullptr, arg};
      }
      if (arg == "--") {
        m_options_done = true;
        continue;
      }
      std::optional<std::string_view> inline_value;
      def = match_option(arg, m_defs, &inline_value);
      if (inline_value) {
        value = std::string(*inline_value);
      }
      if (!def && arg[1] != '-') {
        // A long search first, then a short one (so `-details` is never `-d`).
        def = find_short(arg[1], m_defs);
        std::string rest = arg.substr(2);
        if (def && def->kind == ArgKind::None) {
          m_short_rest = rest;
        } else if (def && rest != "=" && rest != ":") {
          value = rest.substr(rest[0] == '=' || rest[0] == ':' ? 1 : 0);
        }
      }
      if (!def) {
        throw GetOptError(fmt::format("Unknown option: {}", arg));
      }
    }
  }
  OptItem item{def, {}};
  if (def->kind == ArgKind::None) {
    return item;
  }
  if (!value) {
    if (m_pos >= m_args.size()) {
      // errorGetOpt names the option by its RTGETOPTDEF's pszLong, even when given by its short
      // letter (`-l` → `--log`): our short spellings are entries of their own with the same id.
      std::string_view name = def->name;
      for (const auto& d : m_defs) {
        if (!name.starts_with("--") && d.id == def->id && d.name.starts_with("--")) {
          name = d.name;
          break;
        }
      }
      throw GetOptError(fmt::format("{}: RTGetOpt: Command line option needs argument.", name));
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

std::vector<std::string> split_bourne_sh(std::string_view text) {
  // RTGetOptArgvFromString(…, RTGETOPTARGV_CNV_QUOTE_BOURNE_SH, NULL), getoptargv.cpp.
  constexpr std::string_view k_separators = " \t\n\r";
  auto is_separator = [&](char c) { return k_separators.find(c) != std::string_view::npos; };
  text = text.substr(0, text.find('\0')); // RTFileReadAllEx's trailing zero: a C string
  std::vector<std::string> args;
  size_t pos = 0;
  while (true) {
    while (pos < text.size() && is_separator(text[pos])) {
      ++pos;
    }
    if (pos >= text.size()) {
      break;
    }
    std::string arg;
    char quote = 0;
    bool at_end = true; // the text ended inside this argument (no separator after it)
    while (pos < text.size()) {
      char c = text[pos++];
      if (quote == 0) {
        if (c == '"' || c == '\'') {
          quote = c;
        } else if (is_separator(c)) {
          at_end = false;
          break;
        } else if (c != '\\') {
          arg += c;
        } else if (pos < text.size()) {
          arg += text[pos++]; // outside quotes, \x is x
        }
      } else if (c == quote) {
        quote = 0;
      } else if (c != '\\' || quote == '\'') {
        arg += c;
      } else if (pos < text.size()) {
        // Inside "…": \ before " \ ` $ or a newline gives that character; before anything
        // else IPRT keeps the quote character instead of the backslash ("\x" is "x" preceded
        // by a '"'), not POSIX's backslash.
        char e = text[pos++];
        if (e != '"' && e != '\\' && e != '`' && e != '$' && e != '\n') {
          arg += quote;
        }
        arg += e;
      }
    }
    args.push_back(std::move(arg)); // an unterminated quote just ends the argument
    if (at_end) {
      break;
    }
  }
  return args;
}

} // namespace vbm::cli
