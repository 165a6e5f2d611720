#!/usr/bin/env bash
# vboxkvm's metrics through a real node_exporter and a real Prometheus, as a fleet admin sees
# them. Two "hosts": this host's qemu:///system with two identical running guests (store A),
# and libvirt's test driver (store B, tests/data/node.xml), each with its own collector writing
# its own textfile directory, read by its own prometheus-node-exporter on loopback; one
# prometheus scrapes both every second and loads prometheus/vboxkvm-rules.yml. Asserted through
# Prometheus's HTTP API: the rules load and evaluate; both connections are there as two hosts in
# one query (labelled host, uri; a VM's series also vm and uuid); the balloon equals what
# controlvm set; page fusion's series exist and are > 0 exactly when the host's KSM shares pages
# (this test never changes KSM: the page-fusion test owns it); node_exporter's mtime series of
# both textfiles (the collector alert's input) exists. Prints the README's fleet query and its
# answer.
. "$(dirname "$0")/common.sh"
e2e_start_libvirtd
for tool in prometheus prometheus-node-exporter; do
    command -v "$tool" >/dev/null || skip "$tool not found (scripts/install-deps.sh installs it)"
done
rules=$E2E_REPO/prometheus/vboxkvm-rules.yml
test_uri=test://$E2E_REPO/tests/data/node.xml

# free_port: a TCP port nothing listens on at the moment (the kernel's pick).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# promql EXPR: the instant query's result as lines "label=value,... VALUE", sorted.
prom_port=$(free_port)
promql() {
    python3 - "http://127.0.0.1:$prom_port/api/v1/query" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
url = sys.argv[1] + "?" + urllib.parse.urlencode({"query": sys.argv[2]})
r = json.load(urllib.request.urlopen(url, timeout=5))
assert r["status"] == "success", r
rows = []
for s in r["data"]["result"]:
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(s["metric"].items()) if k != "job")
    rows.append(f'{{{labels}}} {s["value"][1]}')
print("\n".join(sorted(rows)))
PY
}
# value EXPR: the value of a query with one result ("" if none).
value() { promql "$1" | awk 'END { if (NR == 1) print $NF }'; }

# Store A: this host. Two identical guests (page fusion on, the default), metrics set up.
g1=$(define_guest g1 --memory 256)
g2=$(define_guest g2 --memory 256)
start_guest "$g1"
start_guest "$g2"
text_a=$E2E_TMP/textfile-a
text_b=$E2E_TMP/textfile-b
mkdir -m 0755 "$text_a" "$text_b"
home_b=$E2E_TMP/vbox-home-b
mkdir -p "$home_b"
vbm_a() { "$VBM" --connect "$LIBVIRT_URI" "$@"; }
vbm_b() { VBOX_USER_HOME=$home_b "$VBM" --connect "$test_uri" "$@"; }
e2e_on_cleanup "vbm_a metrics disable >/dev/null 2>&1; vbm_b metrics disable >/dev/null 2>&1"
wait_guest_ready "$g1"
wait_guest_ready "$g2"
assert_exit 0 env VBOXKVM_METRICS_TEXTFILE_DIR="$text_a" "$VBM" --connect "$LIBVIRT_URI" \
    metrics setup --period 1 --samples 3 '*' RAM/Usage,RAM/VMM,Guest/RAM/Usage
# Store B: the test driver's host, another collector.
assert_exit 0 env VBOX_USER_HOME="$home_b" VBOXKVM_METRICS_TEXTFILE_DIR="$text_b" "$VBM" \
    --connect "$test_uri" metrics setup --period 1 --samples 3 host RAM/Usage
wait_until 10 test -s "$text_a/vboxkvm.prom" || fail "collector A wrote no textfile"
wait_until 10 test -s "$text_b/vboxkvm.prom" || fail "collector B wrote no textfile"

# Two node_exporters (the textfile collector only) and one Prometheus, on loopback.
pids=()
stop_daemons() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
}
e2e_on_cleanup stop_daemons
ne_ports=()
for dir in "$text_a" "$text_b"; do
    port=$(free_port)
    prometheus-node-exporter --web.listen-address="127.0.0.1:$port" --collector.disable-defaults \
        --collector.textfile --collector.textfile.directory="$dir" \
        >"$E2E_TMP/logs/node-exporter-$port.log" 2>&1 &
    pids+=($!)
    ne_ports+=("$port")
done
cat >"$E2E_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $rules
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:${ne_ports[0]}', '127.0.0.1:${ne_ports[1]}']
YML
prometheus --config.file="$E2E_TMP/prometheus.yml" --storage.tsdb.path="$E2E_TMP/prometheus-data" \
    --web.listen-address="127.0.0.1:$prom_port" >"$E2E_TMP/logs/prometheus.log" 2>&1 &
pids+=($!)
both_up() { [[ $(value 'sum(up{job="node"})' 2>/dev/null) == 2 ]]; }
wait_until 60 both_up || fail "Prometheus does not scrape both node_exporters: $(tail -5 "$E2E_TMP/logs/prometheus.log")"
e2e_log "prometheus on :$prom_port scrapes node_exporters on :${ne_ports[0]} and :${ne_ports[1]}"

# The rules loaded and evaluate without errors.
rules_ok() {
    python3 - "http://127.0.0.1:$prom_port/api/v1/rules" <<'PY'
import json, sys, urllib.request
r = json.load(urllib.request.urlopen(sys.argv[1], timeout=5))
rules = [x for g in r["data"]["groups"] for x in g["rules"]]
bad = [x["name"] for x in rules if x.get("health") != "ok"]
print(len(rules), "rules;", "unhealthy:", bad or "none")
sys.exit(0 if rules and not bad else 1)
PY
}
wait_until 20 rules_ok >/dev/null || fail "rules not loaded or unhealthy: $(rules_ok)"
e2e_log "rules: $(rules_ok)"

# Two hosts in one query: both connections, both scrape targets.
hosts() { promql 'count by (host, uri, instance) (vboxkvm_host_memory_total_bytes)'; }
two_hosts() { [[ $(hosts | wc -l) == 2 ]]; }
wait_until 20 two_hosts || fail "want two hosts, got: $(hosts)"
host_a=$(virsh -c "$LIBVIRT_URI" hostname)
assert_contains "$(hosts)" "host=\"$host_a\",instance=\"127.0.0.1:${ne_ports[0]}\",uri=\"$LIBVIRT_URI\""
assert_contains "$(hosts)" "instance=\"127.0.0.1:${ne_ports[1]}\",uri=\"$test_uri\""

# A guest's series carry its name and UUID; its memory is what libvirt says.
uuid1=$(virsh_q domuuid "$g1")
uuid1=${uuid1%%$'\n'*}
max1=$(value "vboxkvm_vm_memory_max_bytes{vm=\"$g1\",uuid=\"$uuid1\",uri=\"$LIBVIRT_URI\",host=\"$host_a\"}")
assert_eq $((256 * 1024 * 1024)) "$max1" "vboxkvm_vm_memory_max_bytes of $g1 (256 MiB)"

# The balloon equals what controlvm set, in the collector's series and in the fleet rule.
assert_exit 0 vbm_a controlvm "$g1" guestmemoryballoon 64 --wait 30
balloon_is() { [[ $(value "vboxkvm_vm_guest_ram_usage_balloon_bytes{vm=\"$g1\"}") == "$1" ]]; }
wait_until 15 balloon_is $((64 * 1024 * 1024)) ||
    fail "balloon of $g1 in Prometheus: '$(value "vboxkvm_vm_guest_ram_usage_balloon_bytes{vm=\"$g1\"}")', want 64 MiB"
assert_eq $((64 * 1024 * 1024)) \
    "$(value "vboxkvm_vm_memory_max_bytes{vm=\"$g1\"} - vboxkvm_vm_memory_actual_bytes{vm=\"$g1\"}")" \
    "max - actual of $g1"
reclaimed_ok() {
    local v
    v=$(value "host:vboxkvm_balloon_reclaimed_bytes:sum{uri=\"$LIBVIRT_URI\"}")
    [[ -n $v ]] && python3 -c "import sys; sys.exit(0 if float('$v') >= 64 * 2**20 else 1)"
}
wait_until 10 reclaimed_ok || fail "host:vboxkvm_balloon_reclaimed_bytes:sum: $(promql host:vboxkvm_balloon_reclaimed_bytes:sum)"

# Page fusion: the series exist with plausible values, > 0 exactly when KSM shares pages now.
ksm=/sys/kernel/mm/ksm
if [[ -r $ksm/pages_sharing ]]; then
    total=$(value "vboxkvm_host_memory_total_bytes{uri=\"$LIBVIRT_URI\"}")
    [[ -n $total ]] || fail "no vboxkvm_host_memory_total_bytes for $LIBVIRT_URI"
    # sysfs and the last scrape agree once a scrape has seen what sysfs says now (KSM may move).
    agrees() {
        local sharing shared saved
        sharing=$(cat $ksm/pages_sharing)
        saved=$(value "vboxkvm_host_ksm_sharing_bytes{uri=\"$LIBVIRT_URI\"}")
        shared=$(value "vboxkvm_host_ram_vmm_shared_bytes{uri=\"$LIBVIRT_URI\"}")
        [[ -n $saved && -n $shared ]] || return 1
        python3 - "$sharing" "$saved" "$shared" "$total" <<'PY'
import sys
sharing, saved, shared, total = int(sys.argv[1]), *map(float, sys.argv[2:])
ok = 0 <= saved <= total and 0 <= shared <= total and (saved > 0) == (sharing > 0)
sys.exit(0 if ok else 1)
PY
    }
    wait_until 15 agrees || fail "page fusion series disagree with $ksm/pages_sharing ($(cat $ksm/pages_sharing)): $(promql '{__name__=~"vboxkvm_host_(ksm_sharing|ram_vmm_shared)_bytes"}')"
    e2e_log "KSM pages_sharing $(cat $ksm/pages_sharing) (run=$(cat $ksm/run)); Prometheus: $(promql "vboxkvm_host_ksm_sharing_bytes{uri=\"$LIBVIRT_URI\"}")"
    for g in "$g1" "$g2"; do
        v=$(value "vboxkvm_vm_guest_ram_usage_shared_bytes{vm=\"$g\"}")
        [[ -n $v ]] || fail "no vboxkvm_vm_guest_ram_usage_shared_bytes for $g"
        python3 -c "import sys; sys.exit(0 if 0 <= float('$v') <= 256 * 2**20 else 1)" ||
            fail "$g shares $v bytes: more than its 256 MiB"
    done
    if pgrep -x ksmd >/dev/null; then
        cpu=$(value "vboxkvm_host_ksmd_cpu_seconds_total{uri=\"$LIBVIRT_URI\"}")
        [[ $cpu =~ ^[0-9.e+-]+$ ]] || fail "no vboxkvm_host_ksmd_cpu_seconds_total for $LIBVIRT_URI though ksmd runs"
        e2e_log "ksmd CPU since boot: $cpu s"
    fi
else
    e2e_log "no KSM on this kernel: page fusion series not checked"
fi

# node_exporter's mtime of each textfile (what VboxkvmCollectorNotWriting watches).
mtimes() { promql 'count by (instance) (node_textfile_mtime_seconds{file=~"(.*/)?vboxkvm\\.prom"})' | wc -l; }
two_mtimes() { [[ $(mtimes) == 2 ]]; }
wait_until 10 two_mtimes ||
    fail "node_textfile_mtime_seconds of vboxkvm.prom: $(promql 'node_textfile_mtime_seconds')"
assert_eq "" "$(promql 'ALERTS{alertname="VboxkvmCollectorNotWriting"}')" "no collector alert while both write"

# The README's fleet queries and their answers, as `curl … | jq -c '.data.result[]'` prints them.
result_json() {
    python3 - "http://127.0.0.1:$prom_port/api/v1/query" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
url = sys.argv[1] + "?" + urllib.parse.urlencode({"query": sys.argv[2]})
for s in json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]:
    print(json.dumps(s, separators=(",", ":")))
PY
}
for fleet in 'sort_desc(host:vboxkvm_memory_overcommit:ratio)' 'host:vboxkvm_balloon_reclaimed_bytes:sum'; do
    e2e_log "fleet query: $fleet"
    result_json "$fleet" | tee "$E2E_TMP/fleet.out" >&2
done
[[ $(grep -c '"uri":"qemu:///system"' "$E2E_TMP/fleet.out") == 1 ]] ||
    fail "host:vboxkvm_balloon_reclaimed_bytes:sum has no row for qemu:///system"
[[ $(result_json 'host:vboxkvm_memory_overcommit:ratio' | wc -l) == 2 ]] ||
    fail "the overcommit ratio is not there for both hosts: $(result_json 'host:vboxkvm_memory_overcommit:ratio')"
