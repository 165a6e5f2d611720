#include "vm/guest_properties.hpp"

#include "store/guestprop_store.hpp"
#include "vm/network.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cctype>
#include <map>

namespace vbm::vm {

namespace {
// GUEST_PROP_F_* (GuestPropertySvc.h).
constexpr std::uint32_t k_transient = 1U << 1;
constexpr std::uint32_t k_rdonlyguest = 1U << 2;
constexpr std::uint32_t k_rdonlyhost = 1U << 3;
constexpr std::uint32_t k_transreset = 1U << 4;
constexpr std::uint32_t k_readonly = k_rdonlyguest | k_rdonlyhost;

struct FlagName {
  std::uint32_t bits;
  std::string_view name;
};
// GuestPropValidateFlags' and GuestPropWriteFlags' order: READONLY before the two it joins.
constexpr FlagName k_flags[] = {{k_transient, "TRANSIENT"},
                                {k_readonly, "READONLY"},
                                {k_rdonlyguest, "RDONLYGUEST"},
                                {k_rdonlyhost, "RDONLYHOST"},
                                {k_transreset, "TRANSRESET"}};

// GUEST_PROP_MAX_NAME_LEN and GUEST_PROP_MAX_VALUE_LEN count the terminating NUL.
constexpr std::size_t k_max_name_len = 64;
constexpr std::size_t k_max_value_len = 1024;

constexpr std::string_view k_net = "/VirtualBox/GuestInfo/Net/";
constexpr std::string_view k_os = "/VirtualBox/GuestInfo/OS/";

bool iequal_prefix(std::string_view text, std::string_view word) {
  return text.size() >= word.size() &&
         std::equal(word.begin(), word.end(), text.begin(), [](char w, char t) {
           return std::toupper(static_cast<unsigned char>(t)) == w;
         });
}

// RTStrSimplePatternNMatch.
bool pattern_match(std::string_view pat, std::string_view str) {
  while (true) {
    if (pat.empty()) {
      return str.empty();
    }
    char p = pat.front();
    if (p == '*') {
      while (!pat.empty() && (pat.front() == '*' || pat.front() == '?')) {
        pat.remove_prefix(1);
      }
      if (pat.empty()) {
        return true;
      }
      for (std::size_t i = 0; i < str.size(); ++i) {
        if (str[i] == pat.front() && pattern_match(pat.substr(1), str.substr(i + 1))) {
          return true;
        }
      }
      return false;
    }
    if (str.empty() || (p != '?' && str.front() != p)) {
      return false;
    }
    pat.remove_prefix(1);
    str.remove_prefix(1);
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string ipv4_mask(unsigned prefix) { return network_part("255.255.255.255", prefix); }

// The broadcast address of `ip`/`prefix` ("" if it does not parse).
std::string ipv4_broadcast(const std::string& ip, unsigned prefix) {
  in_addr a{};
  if (inet_pton(AF_INET, ip.c_str(), &a) != 1 || prefix > 32) {
    return "";
  }
  std::uint32_t host_bits =
      prefix == 0 ? 0xffffffffU : (prefix == 32 ? 0 : (1U << (32 - prefix)) - 1);
  a.s_addr |= htonl(host_bits);
  std::array<char, INET_ADDRSTRLEN> text{};
  return inet_ntop(AF_INET, &a, text.data(), text.size()) ? text.data() : "";
}

// One adapter of the guest and the address found for it.
struct Slot {
  std::string mac; // lowercase, colons
  bool link_up = true;
  std::optional<backend::GuestInterface::Address> address;
  std::string guest_name; // the agent's name for it, when the agent answered
};

// VBoxServiceVMInfo's network properties: for each interface with an IPv4 address (not
// loopback), Net/N/V4/IP, V4/Broadcast, V4/Netmask, MAC, Status and Name, then Net/Count.
// Here the adapters are the domain's interfaces in definition order (then any the sources
// report that the definition lacks, such as one plugged in live); each takes its address from
// the first source that has one for its MAC: the DHCP lease, the host's ARP table, the agent.
void add_net(backend::Hypervisor& hv, const backend::VmRef& vm, std::int64_t now_ns,
             std::vector<GuestProperty>& out) {
  std::vector<Slot> slots;
  for (const auto& nic : hv.domain_details(vm).nics) {
    slots.push_back({lower(nic.mac), nic.link_up, std::nullopt, {}});
  }
  using backend::AddressSource;
  for (auto source : {AddressSource::Lease, AddressSource::Arp, AddressSource::Agent}) {
    if (!slots.empty() && std::all_of(slots.begin(), slots.end(),
                                      [](const Slot& s) { return s.address.has_value(); })) {
      break;
    }
    auto found = hv.interface_addresses(vm, source);
    if (!found) {
      continue;
    }
    for (const auto& iface : *found) {
      auto addr = std::find_if(iface.ipv4.begin(), iface.ipv4.end(),
                               [](const auto& a) { return !a.ip.starts_with("127."); });
      std::string mac = lower(iface.mac);
      if (addr == iface.ipv4.end() || mac.empty() || mac == "00:00:00:00:00:00") {
        continue;
      }
      auto slot =
          std::find_if(slots.begin(), slots.end(), [&](const Slot& s) { return s.mac == mac; });
      if (slot == slots.end()) {
        slots.push_back({mac, true, std::nullopt, {}});
        slot = slots.end() - 1;
      }
      if (!slot->address) {
        slot->address = *addr;
        if (source == AddressSource::Agent) {
          slot->guest_name = iface.name;
        }
      }
    }
  }
  unsigned n = 0;
  auto add = [&](const std::string& sub, const std::string& value) {
    if (!value.empty()) {
      out.push_back({fmt::format("{}{}{}", k_net, n, sub), value, now_ns, ""});
    }
  };
  for (const auto& s : slots) {
    if (!s.address) {
      continue;
    }
    add("/V4/IP", s.address->ip);
    if (s.address->prefix > 0) {
      add("/V4/Broadcast", ipv4_broadcast(s.address->ip, s.address->prefix));
      add("/V4/Netmask", ipv4_mask(s.address->prefix));
    }
    add("/MAC", vbox_mac(s.mac));
    add("/Status", s.link_up ? "Up" : "Down");
    add("/Name", s.guest_name);
    ++n;
  }
  out.push_back({fmt::format("{}Count", k_net), std::to_string(n), now_ns, ""});
}

// vgsvcVMInfoWriteFixedProperties' OS part: RTSystemQueryOSInfo's product (the kernel's name
// on Unix, the edition on Windows), release and version, from the guest agent's OS group.
void add_os(backend::Hypervisor& hv, const backend::VmRef& vm, std::int64_t now_ns,
            std::vector<GuestProperty>& out) {
  auto info = hv.guest_os_info(vm);
  if (!info) {
    return;
  }
  struct Kernel {
    std::string_view id;
    std::string_view name;
  };
  static constexpr Kernel k_kernels[] = {
      {"freebsd", "FreeBSD"}, {"netbsd", "NetBSD"}, {"openbsd", "OpenBSD"}, {"solaris", "SunOS"}};
  std::string id = info->id.value_or("");
  bool windows = id == "mswindows";
  std::string product = windows ? info->pretty_name.value_or("") : "Linux";
  for (const auto& k : k_kernels) {
    if (k.id == id) {
      product = k.name;
    }
  }
  std::string release = info->kernel_release.value_or("");
  std::string version = info->kernel_version.value_or("");
  if (windows && !release.empty() && !version.empty()) {
    release = fmt::format("{}.{}", version, release); // "10.0" and the build: 10.0.19045
    version.clear();
  }
  auto add = [&](std::string_view sub, const std::string& value) {
    if (!value.empty()) {
      out.push_back({fmt::format("{}{}", k_os, sub), value, now_ns, ""});
    }
  };
  add("Product", product);
  add("Release", release);
  add("Version", version);
}

// The stored properties that exist now: a transient one only during the run it was set in.
std::vector<GuestProperty> stored(store::SettingsStore& st, const backend::VmRef& vm,
                                  const store::VmKey& key) {
  std::vector<GuestProperty> out;
  for (auto& p : st.guest_properties().all(key)) {
    if (p.run && (vm.id < 0 || *p.run != vm.id)) {
      continue;
    }
    out.push_back({std::move(p.name), std::move(p.value), p.timestamp_ns, std::move(p.flags)});
  }
  return out;
}

store::VmKey key_of(backend::Hypervisor& hv, const backend::VmRef& vm) {
  return {hv.hostname(), vm.uuid};
}

ApiError machine_error(const std::string& text, ApiError::Code code, const CallSite& site) {
  return ApiError(text, code, "MachineWrap", "IMachine", site);
}

// The stored property as it exists now, with its flag bits.
std::optional<std::uint32_t> existing_flags(store::SettingsStore& st, const store::VmKey& key,
                                            const backend::VmRef& vm, std::string_view name) {
  auto p = st.guest_properties().get(key, name);
  if (!p || (p->run && (vm.id < 0 || *p->run != vm.id))) {
    return std::nullopt;
  }
  return parse_guest_property_flags(p->flags).value_or(0);
}

void check_host_may_change(store::SettingsStore& st, const store::VmKey& key,
                           const backend::VmRef& vm, std::string_view name, const CallSite& site) {
  if (auto flags = existing_flags(st, key, vm, name); flags && (*flags & k_rdonlyhost) != 0) {
    throw machine_error(fmt::format("The property '{}' cannot be changed by the host", name),
                        k_access_denied, site);
  }
}
} // namespace

std::optional<std::uint32_t> parse_guest_property_flags(std::string_view text) {
  std::uint32_t bits = 0;
  auto skip_spaces = [&] {
    while (!text.empty() && text.front() == ' ') {
      text.remove_prefix(1);
    }
  };
  skip_spaces();
  while (!text.empty()) {
    const auto* flag = std::find_if(std::begin(k_flags), std::end(k_flags),
                                    [&](const FlagName& f) { return iequal_prefix(text, f.name); });
    if (flag == std::end(k_flags)) {
      return std::nullopt;
    }
    bits |= flag->bits;
    text.remove_prefix(flag->name.size());
    skip_spaces();
    if (!text.empty() && text.front() == ',') {
      text.remove_prefix(1);
      skip_spaces();
    } else if (!text.empty()) {
      return std::nullopt;
    }
  }
  return bits;
}

std::string guest_property_flags_text(std::uint32_t flags) {
  if ((flags & k_transreset) != 0) {
    flags |= k_transient;
  }
  std::string out;
  for (const auto& f : k_flags) {
    if ((flags & f.bits) == f.bits) {
      out += (out.empty() ? "" : ", ") + std::string(f.name);
      flags &= ~f.bits;
    }
  }
  return out;
}

bool pattern_multi_match(std::string_view patterns, std::string_view name) {
  while (true) {
    auto bar = patterns.find('|');
    if (pattern_match(patterns.substr(0, bar), name)) {
      return true;
    }
    if (bar == std::string_view::npos) {
      return false;
    }
    patterns.remove_prefix(bar + 1);
  }
}

std::vector<GuestProperty> live_guest_properties(backend::Hypervisor& hv, const backend::VmRef& vm,
                                                 std::int64_t now_ns, std::string_view prefix) {
  std::vector<GuestProperty> out;
  if (vm.id < 0) {
    return out;
  }
  auto wanted = [&](std::string_view area) {
    return prefix.starts_with(area) || area.starts_with(prefix);
  };
  if (wanted(k_net)) {
    add_net(hv, vm, now_ns, out);
  }
  if (wanted(k_os)) {
    add_os(hv, vm, now_ns, out);
  }
  std::sort(out.begin(), out.end(),
            [](const GuestProperty& a, const GuestProperty& b) { return a.name < b.name; });
  return out;
}

std::optional<GuestProperty> get_guest_property(backend::Hypervisor& hv, store::SettingsStore& st,
                                                const backend::VmRef& vm, std::string_view name,
                                                std::int64_t now_ns) {
  if (name.starts_with(k_net) || name.starts_with(k_os)) {
    for (auto& p : live_guest_properties(hv, vm, now_ns, name)) {
      if (p.name == name) {
        return std::move(p);
      }
    }
  }
  for (auto& p : stored(st, vm, key_of(hv, vm))) {
    if (p.name == name && !p.value.empty()) {
      return std::move(p);
    }
  }
  return std::nullopt;
}

std::vector<GuestProperty> enumerate_guest_properties(backend::Hypervisor& hv,
                                                      store::SettingsStore& st,
                                                      const backend::VmRef& vm,
                                                      std::string_view patterns,
                                                      std::int64_t now_ns) {
  std::map<std::string, GuestProperty> all; // std::string's < is byte-wise
  for (auto& p : stored(st, vm, key_of(hv, vm))) {
    all[p.name] = std::move(p);
  }
  for (auto& p : live_guest_properties(hv, vm, now_ns)) {
    all[p.name] = std::move(p); // the live value wins
  }
  std::vector<GuestProperty> out;
  for (auto& [name, p] : all) {
    if (patterns.empty() || pattern_multi_match(patterns, name)) {
      out.push_back(std::move(p));
    }
  }
  return out;
}

void set_guest_property(store::SettingsStore& st, const store::VmKey& key, const backend::VmRef& vm,
                        std::string_view name, std::string_view value,
                        std::optional<std::string_view> flags, std::int64_t now_ns,
                        const CallSite& site) {
  // Machine::setGuestProperty: GuestPropValidateName / GuestPropValidateValue fail with
  // setErrorBoth(E_INVALIDARG, vrc), whose text is the IPRT status ("%Rrc").
  if (name.empty() || name.size() + 1 > k_max_name_len ||
      name.find_first_of("*?|") != std::string_view::npos) {
    throw machine_error("VERR_INVALID_PARAMETER", k_invalid_arg, site);
  }
  if (value.size() + 1 > k_max_value_len) {
    throw machine_error("VERR_TOO_MUCH_DATA", k_invalid_arg, site);
  }
  // i_setGuestPropertyToService's checks, in its order.
  std::uint32_t bits = 0;
  if (flags && !flags->empty()) {
    auto parsed = parse_guest_property_flags(*flags);
    if (!parsed) {
      throw machine_error(fmt::format("Invalid guest property flag values: '{}'", *flags),
                          k_invalid_arg, site);
    }
    bits = *parsed;
  }
  bool transient = (bits & (k_transient | k_transreset)) != 0;
  if (transient && vm.id < 0) {
    throw machine_error("Properties with TRANSIENT or TRANSRESET flag cannot be set or modified "
                        "if VM is not running",
                        k_invalid_arg, site);
  }
  check_host_may_change(st, key, vm, name, site);
  if (value.empty()) {
    st.guest_properties().remove(key, name);
    return;
  }
  store::StoredGuestProperty p{std::string(name), std::string(value), now_ns,
                               guest_property_flags_text(bits), std::nullopt};
  if (transient) {
    p.run = vm.id;
  }
  st.guest_properties().put(key, p);
}

void delete_guest_property(store::SettingsStore& st, const store::VmKey& key,
                           const backend::VmRef& vm, std::string_view name, const CallSite& site) {
  check_host_may_change(st, key, vm, name, site);
  st.guest_properties().remove(key, name);
}

} // namespace vbm::vm
