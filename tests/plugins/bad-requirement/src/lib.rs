//! Test plugin exporting module `bad-requirement`, whose `depends_on` entry `alpha >=one` carries
//! a version requirement that is not valid semver syntax.
//!
//! Its settings table drives what it does when it runs; `configurator-testkit` contains that code.

configurator_testkit::export_test_module! {
    name: "bad-requirement",
    depends_on: ["alpha >=one"],
    force_sequential: false,
}
