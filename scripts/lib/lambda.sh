# shellcheck shell=bash
# Builds every Lambda function of template.yaml with cargo-lambda, the way `sam build` does
# (release, arm64, cross-compiled with zig), checks that each bootstrap exists and is an ELF
# executable for the right machine, and prints their sizes. Sourced, never run; expects the repo
# root as the working directory and ensure_installed done (cargo-lambda and ziglang in .venv).
#
# Environment:
#   HERALD_SKIP_LAMBDA_BUILD=1  skip this step on a developer machine (refused when CI is set).

LAMBDA_ARM64_TARGET="aarch64-unknown-linux-gnu"

# Whether this run is CI's: CI=true (any value but empty, 0 or false).
is_ci() {
    [[ -n "${CI:-}" && "${CI}" != "0" && "${CI,,}" != "false" ]]
}

# Whether the Lambda build is skipped: HERALD_SKIP_LAMBDA_BUILD=1 outside CI. In CI the skip is
# refused: CI always builds what `sam build` would deploy.
lambda_build_skipped() {
    local skip="${HERALD_SKIP_LAMBDA_BUILD:-}"
    if [[ -z "$skip" || "$skip" == "0" || "${skip,,}" == "false" ]]; then
        return 1
    fi
    if is_ci; then
        die "HERALD_SKIP_LAMBDA_BUILD=$skip is refused when CI is set (CI=$CI): CI always builds every Lambda function"
    fi
    return 0
}

# The Binary of every function in template.yaml, one a line.
lambda_binaries() {
    sed -n 's/^[[:space:]]*Binary:[[:space:]]*\([A-Za-z0-9_-]*\)[[:space:]]*$/\1/p' template.yaml
}

# Prints the cargo-lambda architecture flag: --arm64 when the aarch64 standard library is
# installed or rustup can add it; otherwise --x86-64, saying loudly that the build is not the
# architecture template.yaml deploys.
lambda_arch_flag() {
    if rustc --print target-libdir --target "$LAMBDA_ARM64_TARGET" >/dev/null 2>&1 \
        && [[ -d "$(rustc --print target-libdir --target "$LAMBDA_ARM64_TARGET")" ]] \
        && compgen -G "$(rustc --print target-libdir --target "$LAMBDA_ARM64_TARGET")/libstd-*" >/dev/null; then
        printf -- '--arm64'
        return 0
    fi
    if command -v rustup >/dev/null 2>&1; then
        log "adding the $LAMBDA_ARM64_TARGET standard library with rustup (Lambda functions run on arm64)"
        if rustup target add "$LAMBDA_ARM64_TARGET" >&2; then
            printf -- '--arm64'
            return 0
        fi
    fi
    log "WARNING: the $LAMBDA_ARM64_TARGET standard library is missing and rustup could not add it;"
    log "WARNING: building for x86_64 instead. template.yaml deploys arm64: these binaries only prove that the functions build."
    printf -- '--x86-64'
}

# ELF machine of a file: aarch64, x86_64, or what the header says.
elf_machine() {
    local file="$1" magic machine
    magic=$(od -An -tx1 -N4 "$file" | tr -d ' \n')
    if [[ "$magic" != "7f454c46" ]]; then
        printf 'not-elf'
        return 0
    fi
    # e_machine: 2 bytes little-endian at offset 18.
    machine=$(od -An -tu2 -j18 -N2 "$file" | tr -d ' \n')
    case "$machine" in
        183) printf 'aarch64' ;;
        62) printf 'x86_64' ;;
        *) printf 'machine-%s' "$machine" ;;
    esac
}

# Builds every function, then checks and reports each bootstrap. Fails when a bootstrap is
# missing, was not written by this build, or is not an executable of the expected machine.
build_lambdas() {
    local binaries=()
    mapfile -t binaries < <(lambda_binaries)
    if [[ ${#binaries[@]} -eq 0 ]]; then
        die "template.yaml names no BuildProperties.Binary: nothing to build"
    fi
    local arch_flag want_machine
    arch_flag=$(lambda_arch_flag)
    if [[ "$arch_flag" == "--arm64" ]]; then
        want_machine=aarch64
    else
        want_machine=x86_64
    fi

    local bin_args=() bin
    for bin in "${binaries[@]}"; do
        bin_args+=(--bin "$bin")
    done

    # cargo-lambda and zig (the ziglang wheel, which cargo-lambda finds as `python3 -m ziglang`)
    # come from .venv, so .venv/bin goes first on PATH for this command.
    local stamp
    stamp=$(mktemp "${TMPDIR:-/tmp}/herald-lambda-build.XXXXXX")
    log "cargo lambda build --release $arch_flag --locked ${bin_args[*]}"
    PATH="$PWD/.venv/bin:$PATH" cargo lambda build --release "$arch_flag" --locked "${bin_args[@]}"

    local failures=() file size machine
    local rows=()
    for bin in "${binaries[@]}"; do
        file="${CARGO_TARGET_DIR:-target}/lambda/$bin/bootstrap"
        if [[ ! -f "$file" ]]; then
            failures+=("$file is missing")
            continue
        fi
        if [[ ! "$file" -nt "$stamp" ]]; then
            failures+=("$file is older than this build: cargo-lambda did not write it")
        fi
        if [[ ! -x "$file" ]]; then
            failures+=("$file is not executable")
        fi
        machine=$(elf_machine "$file")
        if [[ "$machine" != "$want_machine" ]]; then
            failures+=("$file is $machine, want $want_machine")
        fi
        size=$(stat -c %s "$file")
        rows+=("$(printf '%-22s %-8s %12s  %8s' "$bin" "$machine" "$size" "$(awk -v b="$size" 'BEGIN { printf "%.1f MiB", b / 1048576 }')")")
    done
    rm -f "$stamp"

    printf '\n%-22s %-8s %12s  %8s\n' "function binary" "arch" "bytes" "size" >&2
    printf '%s\n' "${rows[@]}" >&2
    printf '\n' >&2
    if [[ ${#failures[@]} -gt 0 ]]; then
        die "${failures[@]}"
    fi
}
