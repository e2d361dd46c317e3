# shellcheck shell=bash
# Checks the machine-level prerequisites of scripts/test. Sourced, never run.
# Every missing prerequisite is reported (all of them, not just the first), then the script exits 1.

# major_version "17.0.15" -> 17 ; "v20.20.2" -> 20 ; "1.8.0_392" -> 1
major_version() {
    local v="${1#v}"
    printf '%s' "${v%%.*}"
}

check_prereqs() {
    local missing=()

    if ! command -v java >/dev/null 2>&1; then
        missing+=("java not found: install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless); DynamoDB Local runs on it")
    else
        local java_version
        # `java -version` prints e.g.: openjdk version "17.0.15" 2025-04-15 (on stderr)
        java_version=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)
        if [[ -z "$java_version" || "$(major_version "$java_version")" -lt 17 ]]; then
            missing+=("java ${java_version:-of unknown version} is too old: DynamoDB Local 3.x needs Java 17+ (Debian: apt-get install openjdk-17-jre-headless)")
        fi
    fi

    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        missing+=("node and npm not found: install Node.js 18+ with npm (Debian: apt-get install nodejs npm); npm installs DynamoDB Local")
    elif [[ "$(major_version "$(node --version)")" -lt 18 ]]; then
        missing+=("node $(node --version) is too old: install Node.js 18+")
    fi

    if ! command -v python3 >/dev/null 2>&1; then
        missing+=("python3 not found: install Python 3.9+ with venv (Debian: apt-get install python3 python3-venv); it hosts moto and aws-sam-cli")
    elif ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)'; then
        missing+=("python3 $(python3 --version 2>&1) is too old: install Python 3.9+")
    elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        missing+=("python3 has no venv/ensurepip module: install it (Debian: apt-get install python3-venv)")
    fi

    if ! command -v cargo >/dev/null 2>&1; then
        missing+=("cargo not found: install Rust 1.95+ with rustup (https://rustup.rs) and make sure ~/.cargo/bin is on PATH")
    fi

    if [[ ${#missing[@]} -gt 0 ]]; then
        die "missing prerequisites, nothing was run:" "${missing[@]}"
    fi
}
