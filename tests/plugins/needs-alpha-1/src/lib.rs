//! Test plugin exporting module `needs-alpha-1`, which depends on `alpha` at a version
//! `>=1.0, <2`, which the test plugin `alpha` (1.0.0) meets.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "needs-alpha-1",
    depends_on: ["alpha >=1.0, <2"],
    force_sequential: false,
}
