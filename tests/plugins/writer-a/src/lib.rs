//! Test plugin exporting module `writer-a`, which has no dependencies, for the file-lock checks.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "writer-a",
    depends_on: [],
    force_sequential: false,
}
