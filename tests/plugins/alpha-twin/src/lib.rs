//! Test plugin exporting a second module named `alpha`, version 2.0.0, for the duplicate check.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "alpha",
    depends_on: [],
    force_sequential: false,
}
