//! Test plugin exporting module `beta`, which has no dependencies.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "beta",
    depends_on: [],
    force_sequential: false,
}
