#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need from Debian's packages,
# starts throwaway services, checks formatting and lints, runs every test, stops the services.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-services.sh install
eval "$(scripts/test-services.sh start)"
trap 'scripts/test-services.sh stop "$MG_SERVICES_DIR"' EXIT

# Every test resource is required here: a test whose service is missing fails, it never skips.
export MAILGATE_REQUIRE_ALL=1
export MAILGATE_TEST_PG="$MG_PG_URL"
export MAILGATE_TEST_SMTP=1
export MAILGATE_TEST_IMAP=1
export MAILGATE_TEST_BROWSER=1
export MAILGATE_CORPUS="${MAILGATE_CORPUS:-$(cd .. && pwd)/shared/corpus}"

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --lib --bins --tests
