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

# skip_requested VAR WHAT: whether the environment variable VAR asks to skip a step (set, and
# not 0 or false). Refused (dies) when CI is set: CI always runs WHAT.
skip_requested() {
    local var="$1" what="$2"
    local skip="${!var:-}"
    if [[ -z "$skip" || "$skip" == "0" || "${skip,,}" == "false" ]]; then
        return 1
    fi
    if is_ci; then
        die "$var=$skip is refused when CI is set (CI=$CI): CI always runs $what"
    fi
    return 0
}

# Whether the Lambda build is skipped: HERALD_SKIP_LAMBDA_BUILD=1 outside CI.
lambda_build_skipped() {
    skip_requested HERALD_SKIP_LAMBDA_BUILD "the Lambda build (what \`sam build\` would deploy)"
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

# build_lambdas_for ARCH_FLAG LAMBDA_DIR: builds every function with `cargo lambda build --release
# ARCH_FLAG` (--arm64 or --x86-64) into LAMBDA_DIR/<binary>/bootstrap, then checks and reports each
# bootstrap. Fails when a bootstrap is missing, was not written by this build, or is not an
# executable of the expected machine.
build_lambdas_for() {
    local arch_flag="$1" lambda_dir="$2"
    local binaries=()
    mapfile -t binaries < <(lambda_binaries)
    if [[ ${#binaries[@]} -eq 0 ]]; then
        die "template.yaml names no BuildProperties.Binary: nothing to build"
    fi
    local want_machine
    case "$arch_flag" in
        --arm64) want_machine=aarch64 ;;
        --x86-64) want_machine=x86_64 ;;
        *) die "build_lambdas_for: unknown architecture flag $arch_flag (want --arm64 or --x86-64)" ;;
    esac

    local bin_args=() bin
    for bin in "${binaries[@]}"; do
        bin_args+=(--bin "$bin")
    done

    # cargo-lambda and zig (the ziglang wheel, which cargo-lambda finds as `python3 -m ziglang`)
    # come from .venv, so .venv/bin goes first on PATH for this command. The size settings are
    # the release profile's (Cargo.toml): `sam build` runs this very command, one binary at a
    # time, so what is measured here is what is deployed.
    local stamp
    stamp=$(mktemp "${TMPDIR:-/tmp}/herald-lambda-build.XXXXXX")
    log "cargo lambda build --release $arch_flag --locked --lambda-dir $lambda_dir ${bin_args[*]}"
    local started=$SECONDS
    PATH="$PWD/.venv/bin:$PATH" cargo lambda build --release "$arch_flag" --locked \
        --lambda-dir "$lambda_dir" "${bin_args[@]}"
    log "cargo lambda build $arch_flag took $((SECONDS - started)) s"

    local failures=() file size machine
    local rows=()
    for bin in "${binaries[@]}"; do
        file="$lambda_dir/$bin/bootstrap"
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

# Builds every function for the architecture template.yaml deploys (arm64; x86_64 when the arm64
# standard library cannot be had, said loudly) into target/lambda/<binary>/bootstrap, where
# `sam build` puts them, and reports their sizes.
build_lambdas() {
    build_lambdas_for "$(lambda_arch_flag)" "${CARGO_TARGET_DIR:-target}/lambda"
}

# Where the x86_64 builds of the benchmark go, beside target/lambda (the deployed arm64 ones).
lambda_x86_dir() {
    printf '%s/lambda-x86_64' "${CARGO_TARGET_DIR:-target}"
}

# bench_lambdas QUICK STARTUP OUT: benchmark B5 with bench's `startup` program (STARTUP, built by
# scripts/bench). Full run: builds every function for arm64 (target/lambda) and x86_64
# (target/lambda-x86_64) as `sam build` would, reports both sizes and the start-up of the x86_64
# ones (this machine cannot run arm64 code), 20 starts each. Quick run (QUICK=true): the host's
# debug builds of the functions (the test command's), 5 starts each, no Lambda build: its figures
# only show that the benchmark works. Writes OUT as
# {"functions": {"<binary>": {"arm64Bytes", "x86_64Bytes", "startupMsMedian", ...}}}.
bench_lambdas() {
    local quick="$1" startup="$2" out="$3"
    [[ -x "$startup" ]] || die "$startup is missing: build it first (cargo build -p herald-bench --bin startup)"
    local binaries=() bin files=() runs=20
    mapfile -t binaries < <(lambda_binaries)
    if [[ "$quick" == true ]]; then
        runs=5
        local bin_args=()
        for bin in "${binaries[@]}"; do
            bin_args+=(--bin "$bin")
            files+=("${CARGO_TARGET_DIR:-target}/debug/$bin")
        done
        log "quick: host debug builds of the functions, no Lambda build"
        cargo build --locked "${bin_args[@]}"
    else
        local arm_dir x86_dir
        arm_dir="${CARGO_TARGET_DIR:-target}/lambda"
        x86_dir=$(lambda_x86_dir)
        if [[ "$(lambda_arch_flag)" == "--arm64" ]]; then
            build_lambdas_for --arm64 "$arm_dir"
            for bin in "${binaries[@]}"; do
                files+=("$arm_dir/$bin/bootstrap")
            done
        else
            log "WARNING: no arm64 build: B5 reports x86_64 sizes only"
        fi
        build_lambdas_for --x86-64 "$x86_dir"
        for bin in "${binaries[@]}"; do
            files+=("$x86_dir/$bin/bootstrap")
        done
    fi

    local figures
    figures=$(mktemp "${TMPDIR:-/tmp}/herald-b5.XXXXXX")
    "$startup" --runs "$runs" --json "$figures" "${files[@]}"
    printf '{"functions": %s}\n' "$(cat "$figures")" >"$out"
    rm -f "$figures"
}
