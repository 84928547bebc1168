//! Test plugin exporting module `cycle-b`, which depends on `cycle-a`, which depends on it.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "cycle-b",
    depends_on: ["cycle-a"],
    force_sequential: false,
}
