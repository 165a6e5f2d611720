#include "backend/local_host.hpp"

#include "sys/files.hpp"
#include "sys/parse.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace vbm::backend {

using sys::parse_u64;
using sys::read_text_file;

LocalHost::LocalHost(std::filesystem::path root) : m_root(std::move(root)) {}

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

} // namespace vbm::backend
