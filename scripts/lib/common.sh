# shellcheck shell=bash
# Logging, failure and step banners shared by scripts/test and its helpers. Sourced, never run.

# Prints a line prefixed with the script's tag, on stderr so it interleaves with cargo's output.
log() {
    printf '[%s] %s\n' "${HERALD_SCRIPT:-scripts/test}" "$*" >&2
}

# Prints an error (every argument is one line) and exits non-zero. The EXIT trap still runs.
die() {
    local line
    for line in "$@"; do
        printf '[%s] ERROR: %s\n' "${HERALD_SCRIPT:-scripts/test}" "$line" >&2
    done
    exit 1
}

# step_begin NAME: prints a banner and remembers when the step started.
step_begin() {
    HERALD_STEP_NAME="$1"
    HERALD_STEP_STARTED=$SECONDS
    printf '\n==> %s\n' "$HERALD_STEP_NAME" >&2
}

# step_end STATUS: prints how the current step ended and how long it took.
step_end() {
    local status="$1"
    local elapsed=$((SECONDS - HERALD_STEP_STARTED))
    if [[ "$status" -eq 0 ]]; then
        printf '<== %s: ok (%ss)\n' "$HERALD_STEP_NAME" "$elapsed" >&2
    else
        printf '<== %s: FAILED with status %s (%ss)\n' "$HERALD_STEP_NAME" "$status" "$elapsed" >&2
    fi
}

# run_step NAME COMMAND...: runs one step with banners; on failure exits with the command's status.
# The command runs in a subshell with errexit on: a function called as `f || ...` would otherwise run
# with errexit silently ignored, so a failing line inside it would not stop it.
run_step() {
    local name="$1"
    shift
    step_begin "$name"
    local status=0
    set +e
    (
        set -e
        "$@"
    )
    status=$?
    set -e
    step_end "$status"
    if [[ "$status" -ne 0 ]]; then
        exit "$status"
    fi
}

# sha256 of the given files' contents, one hex string (used as install stamps).
files_digest() {
    cat "$@" | sha256sum | cut -d' ' -f1
}
