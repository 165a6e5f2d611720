#include "backend/local_host.hpp"

#include "sys/files.hpp"
#include "sys/parse.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace vbm::backend {

using sys::parse_u64;
using sys::read_text_file;

LocalHost::LocalHost(std::filesystem::path root) : m_root(std::move(root)), m_ksm(m_root) {}

std::optional<std::string> LocalHost::read(const std::filesystem::path& rel) const {
  return read_text_file(m_root / rel);
}

std::optional<MemInfo> LocalHost::meminfo() const {
  auto text = read("proc/meminfo");
  if (!text) {
    return std::nullopt;
  }
  MemInfo m;
  bool have_total = false;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    auto colon = line.find(':');
    if (colon == std::string::npos) {
      continue;
    }
    auto key = std::string_view(line).substr(0, colon);
    auto v = parse_u64(std::string_view(line).substr(colon + 1));
    if (!v) {
      continue;
    }
    if (key == "MemTotal") {
      m.total_kib = *v;
      have_total = true;
    } else if (key == "MemFree") {
      m.free_kib = *v;
    } else if (key == "Buffers") {
      m.buffers_kib = *v;
    } else if (key == "Cached") {
      m.cached_kib = *v;
    } else if (key == "MemAvailable") {
      m.available_kib = *v;
    } else if (key == "SwapTotal") {
      m.swap_total_kib = *v;
    } else if (key == "SwapFree") {
      m.swap_free_kib = *v;
    } else if (key == "HugePages_Total") {
      m.hugepages_total = *v;
    } else if (key == "HugePages_Free") {
      m.hugepages_free = *v;
    } else if (key == "HugePages_Rsvd") {
      m.hugepages_reserved = *v;
    } else if (key == "Hugepagesize") {
      m.hugepage_kib = *v;
    }
  }
  if (!have_total) {
    return std::nullopt;
  }
  return m;
}

std::optional<MemoryPressure> LocalHost::memory_pressure() const {
  // "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 …"
  auto text = read("proc/pressure/memory");
  if (!text) {
    return std::nullopt;
  }
  MemoryPressure p;
  std::istringstream in(*text);
  for (std::string kind, avg10; in >> kind >> avg10;) {
    std::string rest;
    std::getline(in, rest);
    if (!avg10.starts_with("avg10=")) {
      return std::nullopt;
    }
    double v = std::strtod(avg10.c_str() + 6, nullptr);
    (kind == "some" ? p.some_avg10 : p.full_avg10) = v;
  }
  return p;
}

std::optional<std::uint64_t> LocalHost::swap_ins() const {
  auto text = read("proc/vmstat");
  if (!text) {
    return std::nullopt;
  }
  auto at = text->find("\npswpin ");
  return at == std::string::npos ? std::nullopt : parse_u64(std::string_view(*text).substr(at + 8));
}

std::optional<CpuTimes> LocalHost::cpu_times() const {
  auto text = read("proc/stat");
  if (!text || !text->starts_with("cpu ")) {
    return std::nullopt;
  }
  std::istringstream in(text->substr(4, text->find('\n')));
  std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
  if (!(in >> user >> nice >> system >> idle)) {
    return std::nullopt;
  }
  in >> iowait >> irq >> softirq;
  return CpuTimes{user + nice, system + irq + softirq, idle + iowait};
}

std::optional<std::uint64_t> LocalHost::cpu_mhz() const {
  auto text = read("proc/cpuinfo");
  if (!text) {
    return std::nullopt;
  }
  double sum = 0;
  int count = 0;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("cpu MHz")) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        sum += std::strtod(line.c_str() + colon + 1, nullptr);
        ++count;
      }
    }
  }
  if (count == 0) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(sum / count);
}

std::optional<FsUsage> LocalHost::root_fs() const {
  struct statvfs st {};
  if (statvfs(m_root.c_str(), &st) != 0) {
    return std::nullopt;
  }
  auto mb = [&](std::uint64_t blocks) { return blocks * st.f_frsize / (1024ULL * 1024); };
  return FsUsage{mb(st.f_blocks), mb(st.f_bavail)};
}

unsigned LocalHost::cpus() const {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

std::optional<std::uint64_t> LocalHost::ksm(const std::string& name) const {
  auto text = read(std::filesystem::path("sys/kernel/mm/ksm") / name);
  return text ? parse_u64(*text) : std::nullopt;
}

std::optional<std::uint64_t> LocalHost::ksmd_cpu_ns() const { return m_ksm.ksmd_cpu_ns(); }

std::optional<int> LocalHost::qemu_pid(const std::string& domain_name) const {
  if (domain_name.find('/') != std::string::npos) {
    return std::nullopt;
  }
  auto text = read(std::filesystem::path("run/libvirt/qemu") / (domain_name + ".pid"));
  auto v = text ? parse_u64(*text) : std::nullopt;
  if (!v || *v == 0 || *v > 0x7fffffff) {
    return std::nullopt;
  }
  return static_cast<int>(*v);
}

std::optional<std::uint64_t> LocalHost::ksm_merging_pages(int pid) const {
  auto text = read(std::filesystem::path("proc") / std::to_string(pid) / "ksm_merging_pages");
  return text ? parse_u64(*text) : std::nullopt;
}

std::optional<std::uint64_t> LocalHost::hugetlb_kib(int pid) const {
  auto text = read(std::filesystem::path("proc") / std::to_string(pid) / "status");
  if (!text) {
    return std::nullopt;
  }
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("HugetlbPages:")) {
      return parse_u64(std::string_view(line).substr(13));
    }
  }
  return std::nullopt;
}

std::optional<ProcessCpu> LocalHost::process_cpu(int pid) const {
  auto text = read(std::filesystem::path("proc") / std::to_string(pid) / "stat");
  if (!text) {
    return std::nullopt;
  }
  // Fields after the command name, which is in parentheses and may contain spaces.
  auto close = text->rfind(')');
  if (close == std::string::npos) {
    return std::nullopt;
  }
  std::istringstream in(text->substr(close + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) {
      utime = parse_u64(field).value_or(0);
    } else if (i == 15) {
      stime = parse_u64(field).value_or(0);
    }
  }
  long tck = sysconf(_SC_CLK_TCK);
  std::uint64_t ns_per_tick =
      tck > 0 ? 1'000'000'000ULL / static_cast<std::uint64_t>(tck) : 10'000'000ULL;
  return ProcessCpu{utime * ns_per_tick, stime * ns_per_tick};
}

std::uint64_t LocalHost::page_size_kib() const {
  long ps = sysconf(_SC_PAGESIZE);
  return ps > 0 ? static_cast<std::uint64_t>(ps) / 1024 : 4;
}

namespace {
// mtab fields escape blanks as octal (\040).
std::string unescape_mtab(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      auto digits = field.substr(i + 1, 3);
      if (digits.size() == 3 &&
          std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out +=
            static_cast<char>((digits[0] - '0') * 64 + (digits[1] - '0') * 8 + (digits[2] - '0'));
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

// VirtualBox's getDiskName: the last path component, without trailing digits if `trim`.
std::string disk_name(std::string_view dev, bool trim) {
  if (trim) {
    while (dev.size() > 1 && std::isdigit(static_cast<unsigned char>(dev.back()))) {
      dev.remove_suffix(1);
    }
  }
  auto slash = dev.rfind('/');
  return std::string(slash == std::string_view::npos ? dev : dev.substr(slash + 1));
}
} // namespace

RootDisks LocalHost::root_disks() const {
  RootDisks out;
  auto mtab = read("etc/mtab");
  if (!mtab) {
    return out;
  }
  std::error_code ec;
  auto root = std::filesystem::canonical(m_root, ec);
  std::istringstream in(*mtab);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string fsname, dir;
    if (!(fields >> fsname >> dir) || fsname == "rootfs" || unescape_mtab(dir) != "/") {
      continue;
    }
    fsname = unescape_mtab(fsname);
    // RTPathReal: the device through its symlinks (/dev/root, /dev/disk/by-uuid/…).
    if (!fsname.starts_with('/')) {
      continue;
    }
    auto real = std::filesystem::canonical(m_root / fsname.substr(1), ec);
    if (ec) {
      continue;
    }
    std::string real_dev = "/" + real.lexically_relative(root).string();
    if (fsname.starts_with("/dev/mapper")) {
      // LVM: the disks under its dm device (VBoxVolInfo), digits trimmed except for dm-N.
      std::filesystem::path slaves = m_root / "sys/block" / disk_name(real_dev, false) / "slaves";
      std::vector<std::string> names;
      for (const auto& e : std::filesystem::directory_iterator(slaves, ec)) {
        auto name = e.path().filename().string();
        names.push_back(name.starts_with("dm-") ? name : disk_name(name, true));
      }
      std::sort(names.begin(), names.end());
      out.usage = names;
      out.load = names;
    } else if (real_dev.starts_with("/dev/md")) {
      // Software RAID: the md device's size, its members' load (addRaidDisks: "md0 : active
      // raid1 sdb1[1] sda1[0]" -> the letters each member name starts with).
      auto md = disk_name(real_dev, false);
      out.usage.push_back(md);
      std::istringstream stat(read("proc/mdstat").value_or(""));
      for (std::string l; std::getline(stat, l);) {
        std::istringstream words(l);
        std::string name, colon, status, type;
        if (!(words >> name) || name != md || !(words >> colon >> status >> type)) {
          continue;
        }
        for (std::string member; words >> member;) {
          auto end = std::find_if(member.begin(), member.end(), [](char c) {
            return !std::isalpha(static_cast<unsigned char>(c));
          });
          out.load.emplace_back(member.begin(), end);
        }
        break;
      }
    } else {
      out.usage.push_back(disk_name(real_dev, true));
      out.load.push_back(out.usage.back());
    }
    break;
  }
  return out;
}

std::optional<std::uint64_t> LocalHost::disk_size_bytes(const std::string& disk) const {
  if (disk.empty() || disk.find('/') != std::string::npos) {
    return std::nullopt;
  }
  auto text = read(std::filesystem::path("sys/block") / disk / "size");
  auto sectors = text ? parse_u64(*text) : std::nullopt;
  return sectors ? std::optional<std::uint64_t>(*sectors * 512) : std::nullopt;
}

std::optional<std::uint64_t> LocalHost::disk_busy_ms(const std::string& disk) const {
  std::istringstream in(read("proc/diskstats").value_or(""));
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string major, minor, name;
    if (!(fields >> major >> minor >> name) || name != disk) {
      continue;
    }
    std::string v;
    for (int i = 1; i <= 10 && fields >> v; ++i) {
      if (i == 10) {
        return parse_u64(v);
      }
    }
    return std::nullopt;
  }
  return std::nullopt;
}

namespace {
// /proc/net/dev: "  eth0: rx_bytes rx_packets … (8 figures) tx_bytes …".
std::vector<std::pair<std::string, NetCounters>> net_dev(std::string_view text) {
  std::vector<std::pair<std::string, NetCounters>> out;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    auto colon = line.find(':');
    if (colon == std::string::npos) {
      continue;
    }
    auto name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    std::istringstream fields(line.substr(colon + 1));
    std::vector<std::uint64_t> v;
    for (std::string f; fields >> f;) {
      v.push_back(parse_u64(f).value_or(0));
    }
    if (v.size() >= 9 && !name.empty() && name.find('/') == std::string::npos) {
      out.push_back({name, {v[0], v[8]}});
    }
  }
  return out;
}
} // namespace

std::vector<std::string> LocalHost::net_interfaces() const {
  // getDefaultIfaceName: the first up route (flags & RTF_UP) to 0.0.0.0/0 in /proc/net/route.
  std::string default_if;
  std::istringstream routes(read("proc/net/route").value_or(""));
  for (std::string line; std::getline(routes, line);) {
    std::istringstream f(line);
    std::string iface, dest, gateway, flags, refcnt, use, metric, mask;
    if (f >> iface >> dest >> gateway >> flags >> refcnt >> use >> metric >> mask &&
        dest == "00000000" && mask == "00000000" &&
        (std::strtoul(flags.c_str(), nullptr, 16) & 1U) != 0) {
      default_if = iface;
      break;
    }
  }
  std::vector<std::string> out;
  for (const auto& [name, counters] : net_dev(read("proc/net/dev").value_or(""))) {
    // Ethernet (ARPHRD_ETHER) only; vboxnet* are VirtualBox's host-only interfaces.
    auto type = read(std::filesystem::path("sys/class/net") / name / "type");
    if (!type || parse_u64(*type) != 1U || name.starts_with("vboxnet")) {
      continue;
    }
    if (name == default_if) {
      out.insert(out.begin(), name);
    } else {
      out.push_back(name);
    }
  }
  return out;
}

InterfaceAddresses LocalHost::interface_addresses(const std::string& ifname) const {
  InterfaceAddresses out;
  if (ifname.empty() || ifname.find('/') != std::string::npos) {
    return out;
  }
  if (ifaddrs* list = nullptr; getifaddrs(&list) == 0) {
    for (const ifaddrs* a = list; a != nullptr && !out.ipv4_address; a = a->ifa_next) {
      if (a->ifa_addr != nullptr && a->ifa_addr->sa_family == AF_INET && ifname == a->ifa_name) {
        std::array<char, INET_ADDRSTRLEN> text{};
        const auto* addr = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);    // NOLINT
        const auto* mask = reinterpret_cast<const sockaddr_in*>(a->ifa_netmask); // NOLINT
        if (inet_ntop(AF_INET, &addr->sin_addr, text.data(), text.size()) != nullptr) {
          out.ipv4_address = text.data();
          out.ipv4_prefix =
              mask ? static_cast<unsigned>(__builtin_popcount(mask->sin_addr.s_addr)) : 0;
        }
      }
    }
    freeifaddrs(list);
  }
  // /proc/net/if_inet6: "<32 hex digits> <index> <prefix len> <scope> <flags> <name>"; VirtualBox
  // keeps the last line of the interface.
  std::istringstream lines(read("proc/net/if_inet6").value_or(""));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string hex, index, prefix, scope, flags, name;
    if (!(f >> hex >> index >> prefix >> scope >> flags >> name) || name != ifname ||
        hex.size() != 32) {
      continue;
    }
    std::array<unsigned char, 16> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      bytes[i] =
          static_cast<unsigned char>(std::strtoul(hex.substr(i * 2, 2).c_str(), nullptr, 16));
    }
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (inet_ntop(AF_INET6, bytes.data(), text.data(), text.size()) != nullptr) {
      out.ipv6_address = text.data();
      out.ipv6_prefix = static_cast<unsigned>(std::strtoul(prefix.c_str(), nullptr, 16));
    }
  }
  std::error_code ec;
  out.wireless = std::filesystem::exists(m_root / "sys/class/net" / ifname / "wireless", ec);
  return out;
}

std::optional<NetCounters> LocalHost::net_counters(const std::string& ifname) const {
  for (const auto& [name, counters] : net_dev(read("proc/net/dev").value_or(""))) {
    if (name == ifname) {
      return counters;
    }
  }
  return std::nullopt;
}

std::uint32_t LocalHost::link_speed_mbit(const std::string& ifname) const {
  if (ifname.empty() || ifname.find('/') != std::string::npos) {
    return 0;
  }
  auto dir = std::filesystem::path("sys/class/net") / ifname;
  auto flags = read(dir / "flags");
  if (!flags || (std::strtoul(flags->c_str(), nullptr, 16) & 1U) == 0) { // IFF_UP
    return 0;
  }
  auto speed = read(dir / "speed");
  auto mbit = speed ? parse_u64(*speed) : std::nullopt; // "-1" (unknown) does not parse
  if (!mbit || *mbit > 0xffffffffU) {
    return 0;
  }
  if (*mbit == 10 && read(dir / "carrier").value_or("0").starts_with('0')) {
    return 0; // no cable: VirtualBox checks the carrier of a 10 Mbit link
  }
  return static_cast<std::uint32_t>(*mbit);
}

} // namespace vbm::backend
