//! Test plugin built against a skewed copy of the module interface: same interface name and a
//! compatible version number, but `configure` takes an extra argument. The host must reject it
//! at load with one line naming the file and both interface versions.

use abi_stable::{
    declare_root_module_statics, export_root_module,
    library::RootModule,
    prefix_type::PrefixTypeTrait,
    sabi_types::VersionStrings,
    std_types::{RResult, RStr, RString},
    StableAbi,
};

/// A module interface that diverged from `plugin_api::ffi::ModuleLib`.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = SkewedLibRef)))]
pub struct SkewedLib {
    /// Returns the module's name.
    pub metadata: extern "C" fn() -> RResult<RString, RString>,

    /// Takes an argument that the real interface does not have.
    #[sabi(last_prefix_field)]
    pub configure: extern "C" fn(u32, RStr<'_>) -> RResult<RString, RString>,
}

impl RootModule for SkewedLibRef {
    declare_root_module_statics! {SkewedLibRef}

    const BASE_NAME: &'static str = "configurator_module";
    const NAME: &'static str = "configurator module";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("1.0.3");
}

extern "C" fn metadata() -> RResult<RString, RString> {
    RResult::ROk("skewed".into())
}

extern "C" fn configure(_: u32, _: RStr<'_>) -> RResult<RString, RString> {
    RResult::ROk("never called".into())
}

/// Exports the skewed root module.
#[export_root_module]
pub fn root_module() -> SkewedLibRef {
    SkewedLib {
        metadata,
        configure,
    }
    .leak_into_prefix()
}
