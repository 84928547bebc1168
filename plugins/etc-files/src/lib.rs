//! Parsing and editing the `/etc` files that more than one bundled module reads or edits, so
//! that each format has one parser.
//!
//! - [`group`]: `/etc/group`, edited by the `groups`, `sshd` and `users` modules.
//! - [`passwd`]: `/etc/passwd`, edited by the `users` module.
//! - [`system_config`]: `/etc/system_config`, written by the `system` module and read by the
//!   `hosts` and `motd` modules.
//!
//! [`validate_name`] checks user and group names before they go into either account file. The
//! types here parse and render text only, except [`system_config::read`]. Modules read and
//! replace the files through the guard of `Context::file_lock`, held around each
//! read-modify-write, so that check mode records their writes.
//!
//! The crate is an rlib that each module links into its own cdylib, so every plugin carries its
//! own copy and no state is shared through it.

#![warn(missing_docs)]

mod account_name;
pub mod group;
pub mod passwd;
mod record_file;
pub mod system_config;

pub use account_name::validate_name;
