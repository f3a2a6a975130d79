//! The test harness's own rules: a test whose resource is missing fails when resources are required
//! (under `scripts/test.sh` and `CI=true`) and only skips otherwise.

mod common;

#[test]
fn a_missing_resource_fails_when_required() {
    let failed = std::panic::catch_unwind(|| common::require_if(true, false, "PostgreSQL", "start it"));
    let message = failed.expect_err("a required, missing resource must fail the test");
    let text = message.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("missing test resource: PostgreSQL (start it)"), "{text}");
}

#[test]
fn a_missing_resource_skips_only_when_not_required() {
    assert!(!common::require_if(false, false, "PostgreSQL", "start it"));
    assert!(common::require_if(true, true, "PostgreSQL", "start it"));
}

/// The test script exports `MAILGATE_REQUIRE_ALL`; under it (or CI) the policy is on.
#[test]
fn the_test_script_and_ci_require_every_resource() {
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test.sh")).unwrap();
    assert!(script.contains("export MAILGATE_REQUIRE_ALL=1"), "scripts/test.sh must require every resource");
    if std::env::var_os("MAILGATE_REQUIRE_ALL").is_some() || std::env::var("CI").as_deref() == Ok("true") {
        assert!(common::resources_required());
    }
}
