//! Test plugin exporting module `cycle-a`, which depends on `cycle-b`, which depends on it.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "cycle-a",
    depends_on: ["cycle-b"],
    force_sequential: false,
}
