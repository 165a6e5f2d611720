#include "store/migrations.hpp"

#include "store/sqlite.hpp"

#include <fmt/format.h>

namespace vbm::store {

namespace {
constexpr std::string_view k_migrations[] = {
    // 1: VirtualBox-level settings per domain (keys are modifyvm's setting keys), and the
    //    last state vboxmanage saw for it, for showvminfo's "(since …)".
    R"sql(
CREATE TABLE vm (
  host TEXT NOT NULL,
  uuid TEXT NOT NULL,
  name TEXT NOT NULL,
  state TEXT,
  state_since_ms INTEGER,
  PRIMARY KEY (host, uuid)
) WITHOUT ROWID;
CREATE TABLE vm_setting (
  host TEXT NOT NULL,
  uuid TEXT NOT NULL,
  key TEXT NOT NULL,
  value INTEGER NOT NULL,
  PRIMARY KEY (host, uuid, key),
  FOREIGN KEY (host, uuid) REFERENCES vm (host, uuid) ON DELETE CASCADE
) WITHOUT ROWID;
)sql",
    // 2: the balloon size requested with controlvm for the current run of a running domain
    //    (libvirt keeps only the guest's actual size). Valid while the domain ID matches.
    R"sql(
ALTER TABLE vm ADD COLUMN live_balloon_mb INTEGER;
ALTER TABLE vm ADD COLUMN live_domain_id INTEGER;
)sql",
    // 3: the intent of a modifyvm between its libvirt definition and its store commit, so a
    //    killed process is finished (or forgotten) by the next writer.
    R"sql(
CREATE TABLE pending_change (
  host TEXT NOT NULL,
  uuid TEXT NOT NULL,
  before_memory_kib INTEGER NOT NULL,
  before_current_kib INTEGER NOT NULL,
  before_nosharepages INTEGER NOT NULL,
  before_hugepages INTEGER NOT NULL,
  after_memory_kib INTEGER NOT NULL,
  after_current_kib INTEGER NOT NULL,
  after_nosharepages INTEGER NOT NULL,
  after_hugepages INTEGER NOT NULL,
  PRIMARY KEY (host, uuid),
  FOREIGN KEY (host, uuid) REFERENCES vm (host, uuid) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE pending_setting (
  host TEXT NOT NULL,
  uuid TEXT NOT NULL,
  key TEXT NOT NULL,
  value INTEGER NOT NULL,
  PRIMARY KEY (host, uuid, key),
  FOREIGN KEY (host, uuid) REFERENCES pending_change (host, uuid) ON DELETE CASCADE
) WITHOUT ROWID;
)sql",
    // 4: performance metrics (`metrics setup` and the background collector). One row per base
    //    metric of an object per connection; an object is "host" or a VM's UUID, and a VM's
    //    rows belong to one run (its domain ID). Samples are ring buffers: slot = seq % samples;
    //    one row holds the values of all sub-metrics of the base taken together
    //    ("RAM/Usage/Total=123;RAM/Usage/Used=45;"): a third of the rows a row per value takes.
    R"sql(
CREATE TABLE metric_setup (
  uri TEXT NOT NULL,
  object TEXT NOT NULL,
  base TEXT NOT NULL,
  run INTEGER NOT NULL,
  period_s INTEGER NOT NULL,
  samples INTEGER NOT NULL,
  enabled INTEGER NOT NULL,
  next_seq INTEGER NOT NULL DEFAULT 0,
  last_ms INTEGER,
  PRIMARY KEY (uri, object, base)
) WITHOUT ROWID;
CREATE TABLE metric_sample (
  uri TEXT NOT NULL,
  object TEXT NOT NULL,
  base TEXT NOT NULL,
  slot INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  time_ms INTEGER NOT NULL,
  sample TEXT NOT NULL,
  PRIMARY KEY (uri, object, base, slot),
  FOREIGN KEY (uri, object, base) REFERENCES metric_setup (uri, object, base) ON DELETE CASCADE
) WITHOUT ROWID;
)sql",
    // 5: VirtualBox's extra data (getextradata/setextradata, IVirtualBox/IMachine
    //    Get/SetExtraData): string keys and values per scope. The global scope is host '' and
    //    uuid ''; a VM's is (libvirt host name, domain UUID), as in vm_setting, but with no
    //    foreign key to vm: the global scope has no vm row, and a VM's extra data is written
    //    without touching its settings. BINARY collation, so ORDER BY key is VirtualBox's
    //    byte-wise (strcmp) order. An empty value means "no value" in VirtualBox and is never
    //    stored.
    R"sql(
CREATE TABLE extradata (
  host TEXT NOT NULL,
  uuid TEXT NOT NULL,
  key TEXT NOT NULL COLLATE BINARY,
  value TEXT NOT NULL CHECK (value <> ''),
  PRIMARY KEY (host, uuid, key)
) WITHOUT ROWID;
)sql",
    // 6: modifyvm --cpus: an intent records <vcpu> and its `current` too. 0 in a row written
    //    before this step means "not recorded": that build never changed the vCPUs.
    R"sql(
ALTER TABLE pending_change ADD COLUMN before_vcpus INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pending_change ADD COLUMN before_current_vcpus INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pending_change ADD COLUMN after_vcpus INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pending_change ADD COLUMN after_current_vcpus INTEGER NOT NULL DEFAULT 0;
)sql",
    // 7: modifyvm --free-page-reporting and --balloon-deflate-on-oom: an intent records
    //    <memballoon>'s two attributes. -1 in a row written before this step means "not
    //    recorded": that build never changed them.
    R"sql(
ALTER TABLE pending_change ADD COLUMN before_free_page_reporting INTEGER NOT NULL DEFAULT -1;
ALTER TABLE pending_change ADD COLUMN before_autodeflate INTEGER NOT NULL DEFAULT -1;
ALTER TABLE pending_change ADD COLUMN after_free_page_reporting INTEGER NOT NULL DEFAULT -1;
ALTER TABLE pending_change ADD COLUMN after_autodeflate INTEGER NOT NULL DEFAULT -1;
)sql",
    // 8: guest properties set from the host (guestproperty set/unset; IMachine's
    //    SetGuestProperty/DeleteGuestProperty): per VM (libvirt host name, domain UUID), as
    //    extradata (no foreign key to vm). `timestamp` is VirtualBox's: nanoseconds since the
    //    epoch. `flags` is GuestPropWriteFlags' text ("" or e.g. "TRANSIENT, RDONLYGUEST").
    //    `domain_id` is the run a TRANSIENT/TRANSRESET property belongs to (libvirt's domain ID,
    //    as vm.live_domain_id), NULL for the others: a transient property lives while that run
    //    does. BINARY collation: names compare as VirtualBox's std::map<Utf8Str> does.
    R"sql(
CREATE TABLE guestproperty (
  host TEXT NOT NULL,
  uuid TEXT NOT NULL,
  name TEXT NOT NULL COLLATE BINARY,
  value TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  flags TEXT NOT NULL,
  domain_id INTEGER,
  PRIMARY KEY (host, uuid, name)
) WITHOUT ROWID;
)sql",
};
} // namespace

std::span<const std::string_view> migrations() { return k_migrations; }

void migrate(Connection& db, std::span<const std::string_view> steps) {
  auto version = db.query_int("PRAGMA user_version");
  if (version > static_cast<std::int64_t>(steps.size())) {
    throw StoreError(fmt::format("settings store schema is version {}, this build of vboxmanage "
                                 "supports up to {}; use a newer vboxmanage",
                                 version, steps.size()));
  }
  for (auto i = static_cast<size_t>(version); i < steps.size(); ++i) {
    Transaction txn(db);
    // Re-read inside the write lock: a concurrent invocation may have migrated meanwhile.
    if (db.query_int("PRAGMA user_version") > static_cast<std::int64_t>(i)) {
      continue;
    }
    db.exec(steps[i]);
    db.exec(fmt::format("PRAGMA user_version = {}", i + 1));
    txn.commit();
  }
}

} // namespace vbm::store
