//! Test plugin exporting module `check-dependent`, which supports check mode and depends on
//! `alpha`, which does not.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "check-dependent",
    depends_on: ["alpha"],
    force_sequential: false,
    supports_check: true,
}
