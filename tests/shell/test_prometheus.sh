#!/usr/bin/env bash
# vboxkvm and Prometheus's own linter (promtool, package prometheus).
#   rules VBM REPO DATA     promtool check rules on prometheus/vboxkvm-rules.yml, and
#                           promtool test rules on its unit tests (every alert fires on the
#                           series in its test and not on the others)
#   textfile VBM REPO DATA  the real collector writes its textfile for a test-driver connection
#                           (every host and VM metric set up, vboxkvm's own series, and the
#                           balloon service's figures from a state file); promtool check
#                           metrics finds nothing to say about it
. "$(dirname "$0")/lib.sh"
mode=$1 vbm=$2 repo=$3 data=$4
need_cmd promtool

case $mode in
rules)
    check "promtool check rules" promtool check rules "$repo/prometheus/vboxkvm-rules.yml"
    # promtool resolves rule_files against the test file's directory.
    check "promtool test rules (a unit test per alert)" \
        promtool test rules "$repo/tests/prometheus/vboxkvm-rules.test.yml"
    ;;
textfile)
    export VBOX_USER_HOME=$T_TMP/home
    prom=$T_TMP/prom
    mkdir -p "$VBOX_USER_HOME" "$prom"
    chmod 0755 "$prom"
    uri=test://$data/node.xml
    # The balloon service's state file, as the service writes it (it is not running: up 0).
    cat >"$VBOX_USER_HOME/vboxkvm-balloonctrl.json" <<JSON
{"version": 1, "pid": 1, "updated_ms": 1000, "started_ms": 0, "uri": "$uri", "hostname": "node",
 "connected": true, "dryrun": false,
 "host": {"state": "normal", "total_kib": 4000000, "available_kib": 2000000, "emulated": false},
 "guests": [{"name": "run1", "uuid": "12345678-1234-1234-1234-123456789abc", "policy": "vboxkvm",
             "mode": "idle", "max_kib": 262144, "actual_kib": 196608, "target_kib": 196608,
             "usable_kib": 100000, "guard_kib": 65536, "state": "managed", "why": ""},
            {"name": "os1", "uuid": "22345678-1234-1234-1234-123456789abc", "policy": "vboxkvm",
             "mode": "idle", "max_kib": 262144, "actual_kib": 262144, "target_kib": 196608,
             "state": "not responding", "why": "its balloon did not move in 20 s"}],
 "decisions": [],
 "counters": {"changes": 3, "urgent_changes": 1, "not_responding": 1, "reaction_ms": [300, 500],
              "reactions": 2, "reaction_ms_sum": 800, "reaction_p50_ms": 300,
              "reaction_p99_ms": 500}}
JSON
    stop() { "$vbm" --connect "$uri" metrics disable >/dev/null 2>&1; }
    on_exit stop
    check "metrics setup starts the collector with a textfile directory" \
        env VBOXKVM_METRICS_TEXTFILE_DIR="$prom" "$vbm" --connect "$uri" metrics setup --period 1 '*'
    file=$prom/vboxkvm.prom
    # Every family this connection can have: CPU load needs two samples.
    complete() {
        grep -q '^vboxkvm_host_cpu_load_user_ratio{' "$file" 2>/dev/null &&
            grep -q '^vboxkvm_vm_memory_max_bytes{' "$file" &&
            grep -q '^vboxkvm_balloonctrl_reaction_seconds{' "$file"
    }
    wait_for 15 complete || die "the collector wrote no complete $file: $(cat "$file" 2>&1)"
    cp "$file" "$T_TMP/vboxkvm.prom.copy"
    text=$(cat "$T_TMP/vboxkvm.prom.copy")
    lint=$(promtool check metrics <"$T_TMP/vboxkvm.prom.copy" 2>&1)
    rc=$?
    check "promtool check metrics is silent on the textfile ($(grep -c '^# TYPE' <<<"$text") families)" \
        test "$rc.$lint" = "0."
    [[ -z $lint ]] || echo "$lint"
    check "every sample is labelled host and uri" \
        test -z "$(grep -v '^#' <<<"$text" | grep -v '{host="[^"]*",uri="[^"]*"')"
    check "a VM's samples name the VM and its UUID" \
        grep -q '^vboxkvm_vm_memory_max_bytes{host="[^"]*",uri="test://[^"]*",vm="run1",uuid="[0-9a-f-]*"} [0-9]' <<<"$text"
    check "the balloon service's figures are there, labelled" \
        grep -q '^vboxkvm_balloonctrl_guest_not_responding{host="node",uri="test://[^"]*",vm="os1",uuid="22345678-1234-1234-1234-123456789abc"} 1$' <<<"$text"
    check "reaction times are a summary" \
        grep -q '^# TYPE vboxkvm_balloonctrl_reaction_seconds summary$' <<<"$text"
    # promtool must be able to fail on this file: a counter without _total, and a gauge with a
    # quantile label, are what it reports.
    bad=$(sed 's/^# TYPE vboxkvm_host_memory_total_bytes gauge$/# TYPE vboxkvm_host_memory_total_bytes counter/' \
        "$T_TMP/vboxkvm.prom.copy" | promtool check metrics 2>&1)
    check "promtool reports a counter named like a gauge (the check can fail)" \
        grep -q 'vboxkvm_host_memory_total_bytes' <<<"$bad"
    ;;
*)
    die "unknown mode '$mode'"
    ;;
esac
finish
