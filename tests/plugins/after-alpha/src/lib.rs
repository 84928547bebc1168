//! Test plugin exporting module `after-alpha`, which runs after `alpha` when `alpha` is in the
//! run and has no dependencies.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "after-alpha",
    depends_on: [],
    after: ["alpha"],
    force_sequential: false,
}
