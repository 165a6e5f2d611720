#include "balloon/settings.hpp"

#include "balloon/figures.hpp"
#include "sys/parse.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace vbm::balloon {

namespace {
constexpr std::uint64_t k_default_shares = 1000;

std::string vm_source(std::string_view key) { return fmt::format("per-VM extra-data {}", key); }
std::string global_source(std::string_view key) { return fmt::format("global extra-data {}", key); }

/// The first of `keys` set for the VM, then the first set globally: (value, source).
std::optional<std::pair<std::string, std::string>>
first_set(const ExtraDataReader& read, const std::string& uuid,
          std::initializer_list<std::string_view> vm_keys,
          std::initializer_list<std::string_view> global_keys) {
  for (auto key : vm_keys) {
    if (auto v = read(uuid, key)) {
      return std::pair{*v, vm_source(key)};
    }
  }
  for (auto key : global_keys) {
    if (auto v = read("", key)) {
      return std::pair{*v, global_source(key)};
    }
  }
  return std::nullopt;
}

/// A vboxkvm key's number: decimal only. A value that is not one is noted and ignored.
void number_key(Sourced<std::uint64_t>& out, const ExtraDataReader& read, const std::string& uuid,
                std::string_view key, std::uint64_t fallback, std::string_view fallback_source) {
  out = {fallback, std::string(fallback_source), {}};
  if (auto v = first_set(read, uuid, {key}, {key})) {
    if (auto n = sys::parse_whole<std::uint64_t>(v->first)) {
      out = {*n, v->second, {}};
    } else {
      out.note = fmt::format("{} is '{}', not a number of MB: ignored", v->second, v->first);
    }
  }
}

template <class T, class Parse>
void word_key(Sourced<T>& out, const ExtraDataReader& read, const std::string& uuid,
              std::string_view key, Parse parse, std::string_view what) {
  if (auto v = first_set(read, uuid, {key}, {key})) {
    if (auto parsed = parse(v->first)) {
      out = {*parsed, v->second, {}};
    } else {
      out.note = fmt::format("{} is '{}', not a {}: ignored", v->second, v->first, what);
    }
  }
}
} // namespace

std::string_view policy_name(PolicyKind kind) {
  switch (kind) {
  case PolicyKind::VBox: return "vbox";
  case PolicyKind::Proxmox: return "proxmox";
  case PolicyKind::Mom: return "mom";
  case PolicyKind::Adaptive: break;
  }
  return "vboxkvm";
}

std::optional<PolicyKind> parse_policy(std::string_view name) {
  for (auto k : {PolicyKind::Adaptive, PolicyKind::VBox, PolicyKind::Proxmox, PolicyKind::Mom}) {
    if (policy_name(k) == name) {
      return k;
    }
  }
  return std::nullopt;
}

std::string_view mode_name(Mode mode) { return mode == Mode::Demand ? "demand" : "idle"; }

std::optional<Mode> parse_mode(std::string_view name) {
  if (name == "idle") {
    return Mode::Idle;
  }
  if (name == "demand") {
    return Mode::Demand;
  }
  return std::nullopt;
}

std::uint32_t vbox_to_uint32(std::string_view text) {
  size_t i = 0;
  bool negative = false;
  while (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    negative = text[i++] == '-' ? !negative : negative;
  }
  unsigned base = 10;
  if (i + 1 < text.size() && text[i] == '0' && (text[i + 1] == 'x' || text[i + 1] == 'X')) {
    base = 16;
    i += 2;
  } else if (i + 1 < text.size() && text[i] == '0' && text[i + 1] >= '0' && text[i + 1] <= '7') {
    base = 8;
    i += 1;
  }
  std::uint64_t value = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    unsigned d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      d = static_cast<unsigned>(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      d = static_cast<unsigned>(c - 'A' + 10);
    } else {
      break; // trailing text: a warning in IPRT, the value stands
    }
    if (d >= base) {
      break;
    }
    value = value * base + d; // wraps like IPRT's unsigned arithmetic
  }
  if (negative) {
    value = ~value + 1;
  }
  return static_cast<std::uint32_t>(value);
}

GuestSettings resolve(const Options& options, const ExtraDataReader& read, const std::string& uuid,
                      std::uint64_t max_kib) {
  GuestSettings s;
  s.vbox = {read("", k_key_guest_size_max), read("", k_key_guest_enabled), read(uuid, k_key_size_max),
            read(uuid, k_key_guest_size_max), read(uuid, k_key_enabled)};

  if (options.disabled) {
    s.enabled = {false, "command line (--disable-balloon)", {}};
  } else if (auto v = first_set(read, uuid, {k_key_enabled}, {k_key_guest_enabled})) {
    s.enabled = {vbox_to_uint32(v->first) != 0, v->second, {}};
  } else {
    s.enabled = {true, "default", {}};
  }

  s.policy = {PolicyKind::Adaptive, "default", {}};
  word_key(s.policy, read, uuid, k_key_policy, parse_policy, "policy");
  if (options.policy) {
    s.policy = {*options.policy, "command line (--balloon-policy)", {}};
  }
  s.mode = {Mode::Idle, "default", {}};
  word_key(s.mode, read, uuid, k_key_mode, parse_mode, "mode");
  if (options.mode) {
    s.mode = {*options.mode, "command line (--balloon-mode)", {}};
  }

  // VirtualBox accepts a balloon below 90% of RAM; without a BalloonSizeMax, that is the most.
  std::uint64_t ram_mb = max_kib / k_mib;
  std::uint64_t bound = ram_mb * 9 / 10;
  s.size_max_mb = {bound > 0 ? bound - 1 : 0, "default (below 90% of RAM, as VirtualBox allows)", {}};
  if (options.max_mb && *options.max_mb > 0) {
    s.size_max_mb = {*options.max_mb, "command line (--balloon-max)", {}};
  } else if (auto v = first_set(read, uuid, {k_key_size_max, k_key_guest_size_max},
                                {k_key_size_max, k_key_guest_size_max})) {
    s.size_max_mb = {vbox_to_uint32(v->first), v->second, {}};
  }

  number_key(s.min_mb, read, uuid, k_key_min, 0, "default (the guard decides)");
  number_key(s.shares, read, uuid, k_key_shares, k_default_shares, "default");
  s.groups = {{"/"}, "default", {}};
  if (auto v = read(uuid, k_key_groups); v && !split_groups(*v).empty()) {
    s.groups = {split_groups(*v), fmt::format("per-VM extra-data {}", k_key_groups), {}};
  }
  return s;
}

std::vector<std::string> split_groups(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
      item.remove_prefix(1);
    }
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
      item.remove_suffix(1);
    }
    if (!item.empty()) {
      out.emplace_back(item);
    }
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  return out;
}

bool selected(const Options& options, const std::vector<std::string>& groups) {
  return options.groups.empty() ||
         std::any_of(groups.begin(), groups.end(), [&](const std::string& g) {
           return std::find(options.groups.begin(), options.groups.end(), g) != options.groups.end();
         });
}

std::vector<std::string> explain(const GuestSettings& s) {
  std::vector<std::string> out;
  auto line = [&](std::string_view what, const std::string& value, const std::string& source,
                  const std::string& note) {
    out.push_back(fmt::format("{:<12} {:<10} from {}", what, value, source));
    if (!note.empty()) {
      out.push_back(fmt::format("{:<12} ({})", "", note));
    }
  };
  line("ballooning", s.enabled.value ? "enabled" : "disabled", s.enabled.source, s.enabled.note);
  line("policy", std::string(policy_name(s.policy.value)), s.policy.source, s.policy.note);
  line("mode", std::string(mode_name(s.mode.value)), s.mode.source, s.mode.note);
  line("size max", fmt::format("{} MB", s.size_max_mb.value), s.size_max_mb.source,
       s.size_max_mb.note);
  line("minimum", fmt::format("{} MB", s.min_mb.value), s.min_mb.source, s.min_mb.note);
  line("shares", std::to_string(s.shares.value), s.shares.source, s.shares.note);
  std::string groups;
  for (const auto& g : s.groups.value) {
    groups += (groups.empty() ? "" : ",") + g;
  }
  line("groups", groups, s.groups.source, s.groups.note);
  return out;
}

} // namespace vbm::balloon
