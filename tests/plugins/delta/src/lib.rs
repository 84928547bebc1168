//! Test plugin exporting module `delta`, which depends on `alpha` and `beta`.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "delta",
    depends_on: ["alpha", "beta"],
    force_sequential: false,
}
