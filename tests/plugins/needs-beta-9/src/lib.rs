//! Test plugin exporting module `needs-beta-9`, which depends on `beta` at a version `>=9`, which
//! the test plugin `beta` (1.1.0) does not meet.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "needs-beta-9",
    depends_on: ["beta >=9"],
    force_sequential: false,
}
