#include "backend/domain_xml.hpp"

#include <fmt/format.h>
#include <pugixml.hpp>

#include <charconv>
#include <set>
#include <sstream>
#include <tuple>

namespace vbm::backend {

namespace {

// A libvirt XML document whose root element is `root`.
pugi::xml_document load(std::string_view xml, const char* root = "domain") {
  pugi::xml_document doc;
  auto res =
      doc.load_buffer(xml.data(), xml.size(), pugi::parse_default | pugi::parse_ws_pcdata_single);
  if (!res) {
    throw BackendError(fmt::format("cannot parse {} XML: {}", root, res.description()));
  }
  if (!doc.child(root)) {
    throw BackendError(fmt::format("cannot parse {0} XML: no <{0}> element", root));
  }
  return doc;
}

// libvirt's scaled integers (docs/formatdomain: "unit" attribute), converted to KiB.
std::uint64_t read_kib(pugi::xml_node node) {
  std::string_view text = node.text().get();
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw BackendError(fmt::format("cannot read <{}> value '{}'", node.name(), text));
  }
  std::string_view unit = node.attribute("unit").as_string("KiB");
  struct Scale {
    std::string_view unit;
    std::uint64_t num;
    std::uint64_t den;
  };
  static constexpr Scale k_scales[] = {{"b", 1, 1024},
                                       {"bytes", 1, 1024},
                                       {"KB", 1000, 1024},
                                       {"k", 1, 1},
                                       {"KiB", 1, 1},
                                       {"MB", 1000000, 1024},
                                       {"M", 1024, 1},
                                       {"MiB", 1024, 1},
                                       {"GB", 1000000000, 1024},
                                       {"G", 1024ULL * 1024, 1},
                                       {"GiB", 1024ULL * 1024, 1},
                                       {"TB", 1000000000000, 1024},
                                       {"T", 1024ull << 20, 1},
                                       {"TiB", 1024ull << 20, 1}};
  for (const auto& s : k_scales) {
    if (s.unit == unit) {
      return value * s.num / s.den;
    }
  }
  throw BackendError(fmt::format("unknown memory unit '{}' in <{}>", unit, node.name()));
}

void set_kib(pugi::xml_node domain, const char* name, std::uint64_t kib) {
  auto node = domain.child(name);
  if (!node) {
    node = domain.append_child(name);
  }
  while (node.remove_attribute("unit")) { // pugixml keeps a repeated attribute; drop them all
  }
  node.append_attribute("unit") = "KiB";
  // The value may be several texts (split by CDATA); text() would replace only the first.
  while (auto child = node.first_child()) {
    node.remove_child(child);
  }
  node.text() = fmt::format("{}", kib).c_str();
}

// <vcpu current='N'>M</vcpu>: `current` only while fewer than M are online at start; the
// element's other attributes (placement, cpuset) are kept.
void set_vcpus(pugi::xml_node domain, std::uint32_t vcpus, std::uint32_t current) {
  auto node = domain.child("vcpu");
  if (!node) {
    node = domain.append_child("vcpu");
  }
  while (node.remove_attribute("current")) {
  }
  if (current != vcpus) {
    node.append_attribute("current") = fmt::format("{}", current).c_str();
  }
  while (auto child = node.first_child()) {
    node.remove_child(child);
  }
  node.text() = fmt::format("{}", vcpus).c_str();
}

// <memballoon>'s on/off attribute `name`: "on", or absent (libvirt's default, off).
void set_balloon_attribute(pugi::xml_node domain, const char* name, bool on) {
  auto balloon = domain.child("devices").child("memballoon");
  if (!balloon && on) {
    auto devices =
        domain.child("devices") ? domain.child("devices") : domain.append_child("devices");
    balloon = devices.append_child("memballoon");
    balloon.append_attribute("model") = "virtio";
  }
  while (balloon.remove_attribute(name)) {
  }
  if (on) {
    balloon.append_attribute(name) = "on";
  }
}

void set_flag(pugi::xml_node backing, const char* name, bool on) {
  if (on && !backing.child(name)) {
    backing.append_child(name);
  } else if (!on) {
    while (auto child = backing.child(name)) {
      backing.remove_child(child);
    }
  }
}
} // namespace

DomainMemory parse_domain_memory(std::string_view xml) {
  auto doc = load(xml);
  auto domain = doc.child("domain");
  DomainMemory mem;
  auto memory = domain.child("memory");
  if (!memory) {
    throw BackendError("domain XML has no <memory> element");
  }
  mem.memory_kib = read_kib(memory);
  auto current = domain.child("currentMemory");
  mem.current_kib = current ? read_kib(current) : mem.memory_kib;
  auto backing = domain.child("memoryBacking");
  mem.nosharepages = static_cast<bool>(backing.child("nosharepages"));
  mem.hugepages = static_cast<bool>(backing.child("hugepages"));
  mem.hugepages_sized = static_cast<bool>(backing.child("hugepages").child("page"));
  if (auto vcpu = domain.child("vcpu")) {
    auto count = [&](std::string_view text, const char* what) {
      std::uint32_t value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || end != text.data() + text.size() || value == 0) {
        throw BackendError(fmt::format("cannot read {} value '{}'", what, text));
      }
      return value;
    };
    mem.vcpus = count(vcpu.text().get(), "<vcpu>");
    auto online = vcpu.attribute("current");
    mem.current_vcpus = online ? count(online.value(), "<vcpu current>") : mem.vcpus;
  }
  auto balloon = domain.child("devices").child("memballoon");
  mem.balloon_device = !(balloon && std::string_view(balloon.attribute("model").value()) == "none");
  mem.free_page_reporting =
      std::string_view(balloon.attribute("freePageReporting").value()) == "on";
  mem.autodeflate = std::string_view(balloon.attribute("autodeflate").value()) == "on";
  return mem;
}

DomainDevices parse_domain_devices(std::string_view xml) {
  auto doc = load(xml);
  DomainDevices out;
  auto devices = doc.child("domain").child("devices");
  for (auto disk : devices.children("disk")) {
    std::string_view device = disk.attribute("device").as_string("disk");
    std::string_view target = disk.child("target").attribute("dev").value();
    if (device == "disk" && !target.empty()) {
      out.disks.emplace_back(target);
    }
  }
  for (auto nic : devices.children("interface")) {
    std::string_view target = nic.child("target").attribute("dev").value();
    if (!target.empty()) {
      out.nics.emplace_back(target);
    }
  }
  return out;
}

DomainDetails parse_domain_os(std::string_view xml) {
  auto doc = load(xml);
  auto domain = doc.child("domain");
  DomainDetails details;
  details.arch = domain.child("os").child("type").attribute("arch").value();
  constexpr std::string_view k_libosinfo = "http://libosinfo.org/xmlns/libvirt/domain/1.0";
  for (auto meta : domain.child("metadata").children()) {
    for (auto attr : meta.attributes()) {
      std::string_view name = attr.name();
      if (attr.value() != k_libosinfo || (name != "xmlns" && !name.starts_with("xmlns:"))) {
        continue;
      }
      std::string os = name == "xmlns" ? "os" : fmt::format("{}:os", name.substr(6));
      if (auto id = meta.child(os.c_str()).attribute("id")) {
        details.libosinfo_os = id.value();
        return details;
      }
    }
  }
  return details;
}

namespace {
std::string save(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default | pugi::format_no_declaration);
  return out.str();
}
} // namespace

std::string without_huge_pages(std::string_view xml) {
  auto doc = load(xml);
  auto domain = doc.child("domain");
  if (auto backing = domain.child("memoryBacking")) {
    set_flag(backing, "hugepages", false);
    if (!backing.first_child()) {
      domain.remove_child(backing);
    }
  }
  return save(doc);
}

DomainDetails parse_domain_nics(std::string_view xml) {
  auto doc = load(xml);
  auto domain = doc.child("domain");
  DomainDetails details;
  details.machine = domain.child("os").child("type").attribute("machine").value();
  for (auto nic : domain.child("devices").children("interface")) {
    DomainNic n;
    n.type = nic.attribute("type").value();
    auto source = nic.child("source");
    for (const char* attr : {"network", "bridge", "dev"}) {
      if (auto a = source.attribute(attr)) {
        n.source = a.value();
        break;
      }
    }
    n.model = nic.child("model").attribute("type").value();
    n.mac = nic.child("mac").attribute("address").value();
    n.link_up = std::string_view(nic.child("link").attribute("state").value()) != "down";
    n.mtu = nic.child("mtu").attribute("size").as_uint(0);
    n.boot_order = nic.child("boot").attribute("order").as_uint(0);
    for (auto ip : nic.children("ip")) {
      if (std::string_view(ip.attribute("family").as_string("ipv4")) == "ipv4" &&
          ip.attribute("address")) {
        n.user_network = fmt::format("{}/{}", ip.attribute("address").value(),
                                     ip.attribute("prefix").as_uint(24));
        break;
      }
    }
    details.nics.push_back(std::move(n));
  }
  return details;
}

std::string apply_domain_memory(std::string_view xml, const DomainMemory& mem) {
  auto doc = load(xml);
  auto domain = doc.child("domain");
  set_kib(domain, "memory", mem.memory_kib);
  set_kib(domain, "currentMemory", mem.current_kib);
  set_vcpus(domain, mem.vcpus, mem.current_vcpus);
  set_balloon_attribute(domain, "freePageReporting", mem.free_page_reporting);
  set_balloon_attribute(domain, "autodeflate", mem.autodeflate);
  auto backing = domain.child("memoryBacking");
  if (!backing && (mem.nosharepages || mem.hugepages)) {
    backing = domain.append_child("memoryBacking");
  }
  if (backing) {
    set_flag(backing, "nosharepages", mem.nosharepages);
    set_flag(backing, "hugepages", mem.hugepages);
    if (!backing.first_child()) {
      domain.remove_child(backing);
    }
  }
  return save(doc);
}

void parse_host_capabilities(std::string_view caps, const std::vector<bool>& online,
                             HostInfo& host) {
  auto doc = load(caps, "capabilities");
  auto root = doc.child("capabilities");
  auto cpu = root.child("host").child("cpu");
  std::string_view arch = cpu.child_value("arch");
  host.is_64bit = is_64bit_arch(arch);
  host.long_mode = arch == "x86_64";
  host.pae = host.long_mode || static_cast<bool>(cpu.child("features").child("pae"));
  // A core is a distinct (socket, die, core) triple of the NUMA topology's CPUs.
  std::set<std::tuple<int, int, int>> cores;
  std::set<std::tuple<int, int, int>> cores_online;
  for (auto cell : root.child("host").child("topology").child("cells").children("cell")) {
    for (auto c : cell.child("cpus").children("cpu")) {
      if (!c.attribute("socket_id")) {
        continue; // an offline CPU: libvirt cannot read its topology
      }
      std::tuple<int, int, int> core{c.attribute("socket_id").as_int(),
                                     c.attribute("die_id").as_int(),
                                     c.attribute("core_id").as_int()};
      cores.insert(core);
      auto id = c.attribute("id").as_uint();
      if (online.empty() || (id < online.size() && online[id])) {
        cores_online.insert(core);
      }
    }
  }
  host.cores_present = static_cast<unsigned>(cores.size());
  host.cores_online = static_cast<unsigned>(cores_online.size());
  for (auto guest : root.children("guest")) {
    for (auto d : guest.child("arch").children("domain")) {
      host.kvm = host.kvm || std::string_view(d.attribute("type").as_string()) == "kvm";
    }
  }
}

bool parse_nested_virt(std::string_view domcaps) {
  auto doc = load(domcaps, "domainCapabilities");
  for (auto mode : doc.child("domainCapabilities").child("cpu").children("mode")) {
    if (std::string_view(mode.attribute("name").as_string()) != "host-model") {
      continue;
    }
    for (auto f : mode.children("feature")) {
      std::string_view name = f.attribute("name").as_string();
      if ((name == "vmx" || name == "svm") &&
          std::string_view(f.attribute("policy").as_string("require")) == "require") {
        return true;
      }
    }
  }
  return false;
}

HostInterfaceInfo parse_host_interface(std::string_view xml) {
  auto doc = load(xml, "interface");
  auto iface = doc.child("interface");
  HostInterfaceInfo info;
  info.name = iface.attribute("name").as_string();
  info.mac = iface.child("mac").attribute("address").as_string();
  for (auto proto : iface.children("protocol")) {
    std::string_view family = proto.attribute("family").as_string();
    auto ip = proto.child("ip");
    if (!ip) {
      continue;
    }
    auto& address = family == "ipv6" ? info.ipv6_address : info.ipv4_address;
    auto& prefix = family == "ipv6" ? info.ipv6_prefix : info.ipv4_prefix;
    if (!address && (family == "ipv4" || family == "ipv6")) {
      address = ip.attribute("address").as_string();
      prefix = ip.attribute("prefix").as_uint(family == "ipv6" ? 64 : 24);
    }
  }
  return info;
}

} // namespace vbm::backend
