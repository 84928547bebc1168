//! Test plugin exporting module `solo`, which must run with no other module running.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "solo",
    depends_on: [],
    force_sequential: true,
}
