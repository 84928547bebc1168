//! Test plugin that declares module interface version 2.0.0, an incompatible major version for
//! a host built with plugin-api 1.x. The host must reject it at load with one line naming the
//! file and both interface versions.

use abi_stable::{
    declare_root_module_statics, export_root_module,
    library::RootModule,
    prefix_type::PrefixTypeTrait,
    sabi_types::VersionStrings,
    std_types::{RResult, RString},
    StableAbi,
};

/// A module interface from a future major release.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = FutureLibRef)))]
pub struct FutureLib {
    /// Returns the module's name.
    #[sabi(last_prefix_field)]
    pub metadata: extern "C" fn() -> RResult<RString, RString>,
}

impl RootModule for FutureLibRef {
    declare_root_module_statics! {FutureLibRef}

    const BASE_NAME: &'static str = "configurator_module";
    const NAME: &'static str = "configurator module";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("2.0.0");
}

extern "C" fn metadata() -> RResult<RString, RString> {
    RResult::ROk("future".into())
}

/// Exports the root module.
#[export_root_module]
pub fn root_module() -> FutureLibRef {
    FutureLib { metadata }.leak_into_prefix()
}
