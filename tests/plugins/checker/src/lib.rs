//! Test plugin exporting module `checker`, which has no dependencies and supports check mode.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "checker",
    depends_on: [],
    force_sequential: false,
    supports_check: true,
}
