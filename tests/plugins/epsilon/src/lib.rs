//! Test plugin exporting module `epsilon`, which depends on `gamma`.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "epsilon",
    depends_on: ["gamma"],
    force_sequential: false,
}
