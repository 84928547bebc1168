//! The plugin side of the boundary, generated into each plugin by
//! [`export_module!`](crate::export_module).
//!
//! Every function the host calls is an `extern "C"` entry point here that runs the author's code
//! under `catch_unwind`: a panic that unwound across the boundary would abort the host, so it is
//! caught on the plugin's side and returned as a failure value carrying the panic message. This
//! is the only module of the crate with `unsafe` code.
#![allow(unsafe_code)]

use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use abi_stable::library::{
    __call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult,
};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RResult, RStr, RString, RVec};
use serde::de::DeserializeOwned;

use crate::ConfigurationModule;
use crate::context::Context;
use crate::ffi::{
    FailureKind, FfiFailure, FfiOutcome, FfiSettingsCheck, FfiSettingsProblem, HostServicesBox,
    ModuleLib, ModuleLibRef, ModuleMetadata,
};

/// The symbol abi_stable's loader looks up in a plugin. A unit test checks it against
/// `abi_stable::library::ROOT_MODULE_LOADER_NAME`.
#[doc(hidden)]
pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// Why a plugin built with `panic = "abort"` is rejected.
const ABORTS_ON_PANIC: &str = "the plugin was built with panic = \"abort\", so any panic in it \
     would end the host; build it with panic = \"unwind\", Rust's default";

/// Gives the generated glue the plugin's single module instance and crate version.
#[doc(hidden)]
pub trait ModuleInstance: ConfigurationModule {
    /// The plugin crate's Cargo version, the module version unless the module overrides it.
    const CRATE_VERSION: &'static str;

    /// Whether the plugin crate unwinds on panic (`panic = "unwind"`, Rust's default). A plugin
    /// built with `panic = "abort"` would end the host on any panic, so it is rejected at load.
    const UNWINDS: bool;

    /// Checks a settings table (TOML text) against the settings type the author declared with
    /// `export_module!(Module, settings = Type)`; `None` when the author declared none.
    const CHECK_SETTINGS: Option<fn(&str) -> Vec<FfiSettingsProblem>> = None;

    /// Returns the module instance, building it on first use.
    fn instance() -> &'static Self;
}

/// Builds the header abi_stable's loader reads from the plugin's exported static.
#[doc(hidden)]
pub const fn lib_header<M: ModuleInstance>() -> LibHeader {
    // SAFETY: `from_constructor::<ModuleLibRef>` requires that the constructor returns a prefix
    // reference erased from a `ModuleLibRef`. `root_module_loader::<M>` passes `module_lib::<M>`,
    // whose return type is `ModuleLibRef`, to abi_stable's own loader wrapper, which performs the
    // erasure from that type.
    unsafe {
        LibHeader::from_constructor::<ModuleLibRef>(root_module_loader::<M>, CheckTypeLayout::Yes)
    }
}

extern "C" fn root_module_loader<M: ModuleInstance>() -> RootModuleResult {
    __call_root_module_loader(module_lib::<M>)
}

fn module_lib<M: ModuleInstance>() -> ModuleLibRef {
    ModuleLib {
        metadata: metadata_entry::<M>,
        configure: configure_entry::<M>,
        after: after_entry::<M>,
        supports_check: supports_check_entry::<M>,
        check_settings: check_settings_entry::<M>,
    }
    .leak_into_prefix()
}

extern "C" fn metadata_entry<M: ModuleInstance>() -> RResult<ModuleMetadata, RString> {
    if !M::UNWINDS {
        return RResult::RErr(ABORTS_ON_PANIC.into());
    }
    match catch_panic(|| metadata_of(M::instance(), M::CRATE_VERSION)) {
        Ok(metadata) => RResult::ROk(metadata),
        Err(message) => RResult::RErr(message.into()),
    }
}

extern "C" fn after_entry<M: ModuleInstance>() -> RResult<RVec<RString>, RString> {
    match catch_panic(|| names_of(M::instance().after())) {
        Ok(names) => RResult::ROk(names),
        Err(message) => RResult::RErr(message.into()),
    }
}

extern "C" fn supports_check_entry<M: ModuleInstance>() -> RResult<bool, RString> {
    match catch_panic(|| M::instance().supports_check()) {
        Ok(supported) => RResult::ROk(supported),
        Err(message) => RResult::RErr(message.into()),
    }
}

extern "C" fn check_settings_entry<M: ModuleInstance>(settings: RStr<'_>) -> FfiSettingsCheck {
    let Some(check) = M::CHECK_SETTINGS else {
        return FfiSettingsCheck::Undeclared;
    };
    let problems = match catch_panic(|| check(settings.as_str())) {
        Ok(problems) => problems,
        Err(message) => vec![FfiSettingsProblem {
            path: RString::new(),
            message: format!("deserializing the settings panicked: {message}").into(),
        }],
    };
    if problems.is_empty() {
        FfiSettingsCheck::Valid
    } else {
        FfiSettingsCheck::Invalid(problems.into())
    }
}

/// Deserializes the settings table `text` into `T`, as `Context::settings` does, and returns
/// the first mistake serde reports, with its key path. serde stops at the first error, so a
/// table with several mistakes yields one problem.
#[doc(hidden)]
pub fn check_settings_as<T: DeserializeOwned>(text: &str) -> Vec<FfiSettingsProblem> {
    let deserializer = match toml::Deserializer::parse(text) {
        Ok(deserializer) => deserializer,
        Err(error) => {
            return vec![FfiSettingsProblem {
                path: RString::new(),
                message: error.message().into(),
            }];
        }
    };
    match serde_path_to_error::deserialize::<_, T>(deserializer) {
        Ok(_) => Vec::new(),
        Err(error) => vec![problem_at(error.path(), error.inner().message())],
    }
}

/// Builds the problem for `message` at `path`, which serde_path_to_error spells `.` for the
/// table itself and which ends with the key itself for an unknown key.
fn problem_at(path: &serde_path_to_error::Path, message: &str) -> FfiSettingsProblem {
    let path = path.to_string();
    FfiSettingsProblem {
        path: if path == "." {
            RString::new()
        } else {
            path.into()
        },
        message: message.into(),
    }
}

extern "C" fn configure_entry<M: ModuleInstance>(
    host: HostServicesBox,
    settings: RStr<'_>,
) -> RResult<FfiOutcome, FfiFailure> {
    let result = catch_panic(|| {
        let module = M::instance();
        let context = Context::new(host, module.name(), settings.as_str());
        let _current = CurrentContext::enter(&context);
        module.configure(&context)
    });
    match result {
        Ok(Ok(outcome)) => RResult::ROk(FfiOutcome {
            changed: outcome.is_changed(),
            message: outcome.message().into(),
        }),
        Ok(Err(error)) => RResult::RErr(FfiFailure {
            kind: FailureKind::Error,
            message: format!("{error:#}").into(),
        }),
        Err(message) => RResult::RErr(FfiFailure {
            kind: FailureKind::Panic,
            message: message.into(),
        }),
    }
}

/// Collects a module's metadata, filling in the crate version when the module sets none.
pub(crate) fn metadata_of<M: ConfigurationModule>(
    module: &M,
    crate_version: &str,
) -> ModuleMetadata {
    ModuleMetadata {
        name: module.name().into(),
        version: module.version().unwrap_or(crate_version).into(),
        description: module.description().into(),
        depends_on: names_of(module.depends_on()),
        force_sequential: module.force_sequential(),
    }
}

fn names_of(names: &[&str]) -> RVec<RString> {
    names.iter().map(|name| RString::from(*name)).collect()
}

thread_local! {
    /// The host services of the `configure` call running on this thread, for `utils::file_lock`.
    static CURRENT_HOST: RefCell<Option<HostServicesBox>> = const { RefCell::new(None) };

    /// Message and location of the last panic on this thread, recorded by the panic hook.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Makes a context's host services visible to `utils::file_lock` until dropped. The test
/// harness in `testing` enters it too.
pub(crate) struct CurrentContext {
    previous: Option<HostServicesBox>,
}

impl CurrentContext {
    pub(crate) fn enter(context: &Context) -> Self {
        let previous = CURRENT_HOST.with(|current| current.replace(Some(context.host().clone())));
        Self { previous }
    }
}

impl Drop for CurrentContext {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT_HOST.with(|current| *current.borrow_mut() = previous);
    }
}

/// Returns the host services of the `configure` call running on this thread, if any.
pub(crate) fn current_host() -> Option<HostServicesBox> {
    CURRENT_HOST.with(|current| current.borrow().clone())
}

/// Runs `f`, turning a panic into its message followed by its location.
fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_panic_hook();
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        LAST_PANIC
            .with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| payload_text(payload.as_ref()))
    })
}

/// Replaces this plugin's panic hook with one that records the panic for the failure report
/// instead of printing it, since the host reports the failure itself.
///
/// The hook belongs to the plugin's own copy of the standard library, so the host's hook and
/// other plugins' hooks are unaffected.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let text = payload_text(info.payload());
            let message = match info.location() {
                Some(location) => format!("{text} (at {location})"),
                None => text,
            };
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(message));
        }));
    });
}

/// Returns a panic payload's message, for the string payloads `panic!` produces.
pub(crate) fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

/// Exports a [`ConfigurationModule`] from a cdylib crate so that the host can load it.
///
/// Call it once per plugin crate, with the module type, optionally an expression that builds
/// the module (by default `Default::default()`) and optionally `settings = Type`, the type that
/// `configure` passes to [`Context::settings`](crate::Context::settings). The module is built
/// once, on first use.
///
/// With a declared settings type the host deserializes every module's table into its type
/// before any module runs, and rejects the run with the mistakes it found. Without one, mistakes
/// show only when `configure` calls `Context::settings`.
///
/// ```ignore
/// plugin_api::export_module!(HostsModule);
/// plugin_api::export_module!(HostsModule, HostsModule::new());
/// plugin_api::export_module!(HostsModule, settings = HostsSettings);
/// plugin_api::export_module!(HostsModule, HostsModule::new(), settings = HostsSettings);
/// ```
#[macro_export]
macro_rules! export_module {
    (@export $module:ty, $constructor:expr, $check_settings:expr) => {
        impl $crate::export::ModuleInstance for $module {
            const CRATE_VERSION: &'static str = ::core::env!("CARGO_PKG_VERSION");
            const UNWINDS: bool = ::core::cfg!(panic = "unwind");
            const CHECK_SETTINGS: ::core::option::Option<
                fn(&str) -> ::std::vec::Vec<$crate::ffi::FfiSettingsProblem>,
            > = $check_settings;

            fn instance() -> &'static Self {
                static INSTANCE: ::std::sync::OnceLock<$module> = ::std::sync::OnceLock::new();
                INSTANCE.get_or_init(|| $constructor)
            }
        }

        /// The header through which the host loads this plugin.
        #[unsafe(export_name = "_1as_0lib_1header_0root_bmodule_bloader")]
        pub static CONFIGURATOR_MODULE_HEADER: $crate::abi_stable::library::LibHeader =
            $crate::export::lib_header::<$module>();
    };
    // The `settings = ...` arms come before the constructor arm because `settings = Type` also
    // parses as an assignment expression.
    ($module:ty, settings = $settings:ty $(,)?) => {
        $crate::export_module!(
            @export $module,
            <$module as ::core::default::Default>::default(),
            ::core::option::Option::Some($crate::export::check_settings_as::<$settings>)
        );
    };
    ($module:ty, $constructor:expr, settings = $settings:ty $(,)?) => {
        $crate::export_module!(
            @export $module,
            $constructor,
            ::core::option::Option::Some($crate::export::check_settings_as::<$settings>)
        );
    };
    ($module:ty) => {
        $crate::export_module!(
            @export $module,
            <$module as ::core::default::Default>::default(),
            ::core::option::Option::None
        );
    };
    ($module:ty, $constructor:expr) => {
        $crate::export_module!(@export $module, $constructor, ::core::option::Option::None);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::{Outcome, Result};

    /// A module that orders itself after two others.
    struct Follower;

    impl ConfigurationModule for Follower {
        fn name(&self) -> &str {
            "follower"
        }

        fn description(&self) -> &str {
            "Runs after alpha and beta"
        }

        fn after(&self) -> &[&str] {
            &["alpha", "beta"]
        }

        fn supports_check(&self) -> bool {
            true
        }

        fn configure(&self, _ctx: &Context) -> Result<Outcome> {
            Ok(Outcome::unchanged("nothing to do"))
        }
    }

    impl ModuleInstance for Follower {
        const CRATE_VERSION: &'static str = "1.0.0";
        const UNWINDS: bool = true;

        fn instance() -> &'static Self {
            &Follower
        }
    }

    /// A module whose `after` panics.
    struct PanickyAfter;

    impl ConfigurationModule for PanickyAfter {
        fn name(&self) -> &str {
            "panicky-after"
        }

        fn description(&self) -> &str {
            "Panics while listing its ordering"
        }

        fn after(&self) -> &[&str] {
            panic!("no ordering today")
        }

        fn configure(&self, _ctx: &Context) -> Result<Outcome> {
            Ok(Outcome::unchanged("nothing to do"))
        }
    }

    impl ModuleInstance for PanickyAfter {
        const CRATE_VERSION: &'static str = "1.0.0";
        const UNWINDS: bool = true;

        fn instance() -> &'static Self {
            &PanickyAfter
        }
    }

    #[test]
    fn after_entry_returns_declared_names() {
        let names = after_entry::<Follower>();

        assert_eq!(
            names,
            RResult::ROk(RVec::from(vec![
                RString::from("alpha"),
                RString::from("beta")
            ]))
        );
    }

    #[test]
    fn supports_check_entry_returns_declared_support() {
        assert_eq!(supports_check_entry::<Follower>(), RResult::ROk(true));
        assert_eq!(supports_check_entry::<Aborting>(), RResult::ROk(false));
    }

    #[test]
    fn after_entry_reports_panic_as_error() {
        let result = after_entry::<PanickyAfter>();
        // The glue replaced the process's panic hook with one that prints nothing. Restoring the
        // default lets a failing test in this binary still print its message.
        drop(std::panic::take_hook());

        match result {
            RResult::RErr(message) => {
                assert!(message.contains("no ordering today"), "{message}");
            }
            RResult::ROk(names) => panic!("expected the panic message, got {names:?}"),
        }
    }

    /// A module built as if with `panic = "abort"`.
    struct Aborting;

    impl ConfigurationModule for Aborting {
        fn name(&self) -> &str {
            "aborting"
        }

        fn description(&self) -> &str {
            "Built with panic = abort"
        }

        fn configure(&self, _ctx: &Context) -> Result<Outcome> {
            Ok(Outcome::unchanged("nothing to do"))
        }
    }

    impl ModuleInstance for Aborting {
        const CRATE_VERSION: &'static str = "1.0.0";
        const UNWINDS: bool = false;

        fn instance() -> &'static Self {
            &Aborting
        }
    }

    #[test]
    fn plugin_built_to_abort_is_rejected() {
        match metadata_entry::<Aborting>() {
            RResult::RErr(message) => assert!(message.contains("panic = \"abort\""), "{message}"),
            RResult::ROk(metadata) => panic!("expected a rejection, got {metadata:?}"),
        }
    }

    /// A settings type like a bundled module's: an array of tables with required keys.
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized, to check the settings")]
    struct HostsSettings {
        #[serde(default)]
        entries: Vec<Entry>,
        #[serde(default)]
        comment: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized, to check the settings")]
    struct Entry {
        address: String,
        names: Vec<String>,
    }

    /// A settings type whose `Deserialize` panics.
    struct Exploding;

    impl<'de> serde::Deserialize<'de> for Exploding {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> std::result::Result<Self, D::Error> {
            panic!("settings exploded")
        }
    }

    struct Declares;

    impl ConfigurationModule for Declares {
        fn name(&self) -> &str {
            "declares"
        }

        fn description(&self) -> &str {
            "Declares a settings type"
        }

        fn configure(&self, _ctx: &Context) -> Result<Outcome> {
            Ok(Outcome::unchanged("nothing to do"))
        }
    }

    impl ModuleInstance for Declares {
        const CRATE_VERSION: &'static str = "1.0.0";
        const UNWINDS: bool = true;
        const CHECK_SETTINGS: Option<fn(&str) -> Vec<FfiSettingsProblem>> =
            Some(check_settings_as::<HostsSettings>);

        fn instance() -> &'static Self {
            &Declares
        }
    }

    struct PanicsInSettings;

    impl ConfigurationModule for PanicsInSettings {
        fn name(&self) -> &str {
            "panics-in-settings"
        }

        fn description(&self) -> &str {
            "Its settings type panics while deserializing"
        }

        fn configure(&self, _ctx: &Context) -> Result<Outcome> {
            Ok(Outcome::unchanged("nothing to do"))
        }
    }

    impl ModuleInstance for PanicsInSettings {
        const CRATE_VERSION: &'static str = "1.0.0";
        const UNWINDS: bool = true;
        const CHECK_SETTINGS: Option<fn(&str) -> Vec<FfiSettingsProblem>> =
            Some(check_settings_as::<Exploding>);

        fn instance() -> &'static Self {
            &PanicsInSettings
        }
    }

    /// Runs the glue's `check_settings` of `M` on `text` and returns its single problem.
    fn single_problem<M: ModuleInstance>(text: &str) -> FfiSettingsProblem {
        match check_settings_entry::<M>(RStr::from_str(text)) {
            FfiSettingsCheck::Invalid(problems) => {
                assert_eq!(problems.len(), 1, "{problems:?}");
                problems[0].clone()
            }
            other => panic!("expected one problem, got {other:?}"),
        }
    }

    #[test]
    fn check_settings_accepts_valid_table() {
        let text = "comment = \"managed\"\n[[entries]]\naddress = \"10.0.0.1\"\nnames = [\"db\"]\n";

        assert_eq!(
            check_settings_entry::<Declares>(RStr::from_str(text)),
            FfiSettingsCheck::Valid
        );
        assert_eq!(
            check_settings_entry::<Declares>(RStr::from_str("")),
            FfiSettingsCheck::Valid
        );
    }

    #[test]
    fn check_settings_without_declared_type() {
        assert_eq!(
            check_settings_entry::<Follower>(RStr::from_str("anything = 1")),
            FfiSettingsCheck::Undeclared
        );
    }

    #[test]
    fn check_settings_reports_wrong_type() {
        let problem = single_problem::<Declares>("comment = 5\n");

        assert_eq!(problem.path, "comment");
        assert!(
            problem.message.contains("invalid type: integer `5`"),
            "{problem:?}"
        );
        assert!(problem.message.contains("expected a string"), "{problem:?}");
    }

    #[test]
    fn check_settings_reports_wrong_type_in_array_of_tables() {
        let text = "[[entries]]\naddress = \"10.0.0.1\"\nnames = [\"db\"]\n\
                    [[entries]]\naddress = \"10.0.0.2\"\nnames = [\"web\"]\n\
                    [[entries]]\naddress = 5\nnames = [\"cache\"]\n";

        let problem = single_problem::<Declares>(text);

        assert_eq!(problem.path, "entries[2].address");
        assert!(problem.message.contains("expected a string"), "{problem:?}");
    }

    #[test]
    fn check_settings_reports_unknown_key() {
        let problem = single_problem::<Declares>("colour = \"red\"\n");

        assert_eq!(problem.path, "colour");
        assert!(
            problem.message.contains("unknown field `colour`"),
            "{problem:?}"
        );
    }

    #[test]
    fn check_settings_reports_missing_key() {
        let problem = single_problem::<Declares>("[[entries]]\naddress = \"10.0.0.1\"\n");

        assert_eq!(problem.path, "entries[0]");
        assert!(
            problem.message.contains("missing field `names`"),
            "{problem:?}"
        );
    }

    #[test]
    fn check_settings_reports_panic_in_deserialize() {
        let problem = single_problem::<PanicsInSettings>("");
        drop(std::panic::take_hook());

        assert_eq!(problem.path, "");
        assert!(problem.message.contains("settings exploded"), "{problem:?}");
    }

    #[test]
    fn root_module_symbol_matches_abi_stable() {
        assert_eq!(
            ROOT_MODULE_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }
}
