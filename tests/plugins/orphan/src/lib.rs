//! Test plugin exporting module `orphan`, which depends on `ghost`, a module no plugin exports.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "orphan",
    depends_on: ["ghost"],
    force_sequential: false,
}
