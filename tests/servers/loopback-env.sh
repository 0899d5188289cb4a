# loopback-env.sh - sourced (POSIX sh) by the env scripts of the loopback test servers
# (aws-env.sh, gcp-env.sh, vault-env.sh, s3-env.sh): starts a server program of tests/servers/
# with a temp state dir, waits for its port file, and on EXIT stops every server started so, the
# end of each one's log shown to a failing test. Needs $top_srcdir.

p11kms_lb_py=${PYTHON3:-/usr/bin/python3}
p11kms_lb_all=${p11kms_lb_all:-} # "PID:DIR:LABEL" of each server started

# Stop every server (the EXIT trap; also safe to call again): passes the exit status on.
p11kms_lb_stop_all() {
    p11kms_lb_rc=$?
    for p11kms_lb_e in $p11kms_lb_all; do
        p11kms_lb_p=${p11kms_lb_e%%:*}
        p11kms_lb_d=${p11kms_lb_e#*:}
        p11kms_lb_l=${p11kms_lb_d#*:}
        p11kms_lb_d=${p11kms_lb_d%%:*}
        kill -TERM "$p11kms_lb_p" 2>/dev/null
        wait "$p11kms_lb_p" 2>/dev/null
        # A failing test's log gets the server's view of what happened.
        if [ "$p11kms_lb_rc" -ne 0 ] && [ "$p11kms_lb_rc" -ne 77 ] &&
            [ -f "$p11kms_lb_d/server.log" ]; then
            echo "# ---- $p11kms_lb_l test server log (last 60 lines) ----" >&2
            tail -n 60 "$p11kms_lb_d/server.log" | sed 's/^/# /' >&2
        fi
        [ -n "${P11KMS_KEEP_STATE:-}" ] || rm -rf "$p11kms_lb_d"
    done
    p11kms_lb_all=
    return "$p11kms_lb_rc"
}

# p11kms_lb_start LABEL SCRIPT PREFIX POLLS [ARGS...]: start tests/servers/SCRIPT --state-dir DIR
# ARGS (DIR new, named PREFIX.XXXXXX) and wait until it wrote DIR/port, at most POLLS times 0.1 s
# (a startup wait, not a timed assertion). Sets p11kms_lb_dir and p11kms_lb_pid.
p11kms_lb_start() {
    p11kms_lb_label=$1
    p11kms_lb_script=$2
    p11kms_lb_dir=$(mktemp -d "${TMPDIR:-/tmp}/$3.XXXXXX") || exit 99
    p11kms_lb_polls=$4
    shift 4
    case $p11kms_lb_dir in *' '* | *:*)
        echo "loopback-env.sh: a temporary directory without spaces or colons is needed" \
            "(TMPDIR=$TMPDIR)" >&2
        exit 99
        ;;
    esac
    "$p11kms_lb_py" "$top_srcdir/tests/servers/$p11kms_lb_script" --state-dir "$p11kms_lb_dir" \
        "$@" </dev/null >>"$p11kms_lb_dir/server.log" 2>&1 &
    p11kms_lb_pid=$!
    p11kms_lb_all="$p11kms_lb_all $p11kms_lb_pid:$p11kms_lb_dir:$p11kms_lb_label"
    trap p11kms_lb_stop_all EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    p11kms_lb_i=0
    while [ ! -s "$p11kms_lb_dir/port" ]; do
        if ! kill -0 "$p11kms_lb_pid" 2>/dev/null; then
            echo "the $p11kms_lb_label test server exited during startup" >&2
            exit 99
        fi
        p11kms_lb_i=$((p11kms_lb_i + 1))
        if [ "$p11kms_lb_i" -gt "$p11kms_lb_polls" ]; then
            echo "the $p11kms_lb_label test server did not write its port" >&2
            exit 99
        fi
        sleep 0.1
    done
}

# p11kms_lb_ctl CONTROL METHOD PATH [JSON]: PATH relative to the control URL CONTROL (e.g.
# /faults); prints the answer; fails on a 4xx/5xx answer.
p11kms_lb_ctl() {
    if [ $# -ge 4 ]; then
        curl -sS --noproxy '*' --fail-with-body -X "$2" -H 'Content-Type: application/json' \
            --data "$4" "$1$3"
    else
        curl -sS --noproxy '*' --fail-with-body -X "$2" "$1$3"
    fi
}

# p11kms_lb_counter CONTROL OP: how many requests OP has seen.
p11kms_lb_counter() {
    p11kms_lb_ctl "$1" GET /counters | "$p11kms_lb_py" -c \
        'import json, sys; print(json.load(sys.stdin)["requests"].get(sys.argv[1], 0))' "$2"
}

# p11kms_lb_stat CONTROL NAME: a top-level counter (connections, faults_served ...).
p11kms_lb_stat() {
    p11kms_lb_ctl "$1" GET /counters | "$p11kms_lb_py" -c \
        'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}
