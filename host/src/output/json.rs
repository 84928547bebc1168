//! The encoding of paths in JSON output (`list`, `plan` and `run --format json`, and the
//! `run --report` file): strings, with each byte sequence that is not valid UTF-8 replaced by
//! U+FFFD, the replacement character, as `Path::display` shows it in text output.
//!
//! A Linux file name may contain any bytes except `/` and NUL, but a JSON string contains
//! Unicode text. serde's own encoding of a path fails on such a name, which would fail the whole
//! document because of one odd file in the plugin directory.
//!
//! NOTE: the replacement loses the original bytes, so two names that differ only in their
//! invalid bytes are written as the same string.
//!
//! Each function has the signature of serde's `serialize_with` attribute.

use std::path::Path;

use serde::Serializer;

/// Serializes `path` as a string, replacing invalid UTF-8.
pub fn serialize_path<P, S>(path: &P, serializer: S) -> Result<S::Ok, S::Error>
where
    P: AsRef<Path>,
    S: Serializer,
{
    serializer.serialize_str(&path.as_ref().to_string_lossy())
}

/// Serializes `path` as a string, replacing invalid UTF-8, or as `null` when it is `None`.
pub fn serialize_optional_path<P, S>(path: &Option<P>, serializer: S) -> Result<S::Ok, S::Error>
where
    P: AsRef<Path>,
    S: Serializer,
{
    match path {
        Some(path) => serialize_path(path, serializer),
        None => serializer.serialize_none(),
    }
}

/// Serializes `paths` as an array of strings, replacing invalid UTF-8.
pub fn serialize_paths<P, S>(paths: &[P], serializer: S) -> Result<S::Ok, S::Error>
where
    P: AsRef<Path>,
    S: Serializer,
{
    serializer.collect_seq(paths.iter().map(|path| path.as_ref().to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;
    use std::path::PathBuf;

    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Paths {
        #[serde(serialize_with = "serialize_path")]
        single: PathBuf,
        #[serde(serialize_with = "serialize_optional_path")]
        present: Option<PathBuf>,
        #[serde(serialize_with = "serialize_optional_path")]
        absent: Option<PathBuf>,
        #[serde(serialize_with = "serialize_paths")]
        list: Vec<PathBuf>,
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let odd = PathBuf::from(OsStr::from_bytes(b"/plugins/\xff\xfe.so"));
        let paths = Paths {
            single: odd.clone(),
            present: Some(odd.clone()),
            absent: None,
            list: vec![PathBuf::from("/etc/hosts"), odd],
        };

        let json = serde_json::to_value(&paths).unwrap();

        let replaced = "/plugins/\u{fffd}\u{fffd}.so";
        assert_eq!(json["single"], replaced);
        assert_eq!(json["present"], replaced);
        assert_eq!(json["absent"], serde_json::Value::Null);
        assert_eq!(json["list"], serde_json::json!(["/etc/hosts", replaced]));
    }
}
