//! Test plugin exporting module `gamma`, which depends on `alpha`.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "gamma",
    depends_on: ["alpha"],
    force_sequential: false,
}
