//! Config tests; each names the SPEC section it checks.

mod env;
mod errors;
mod load;
mod merge;

use std::path::PathBuf;

use tempfile::TempDir;

use super::{load_with_env, Config, ConfigError};

pub(super) fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write temp file");
    p
}

pub(super) fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

/// Loads one YAML document (as `config.yaml`) with an empty environment.
pub(super) fn load_yaml(yaml: &str) -> Result<Config, ConfigError> {
    let dir = TempDir::new().expect("tempdir");
    load_with_env(&[write(&dir, "config.yaml", yaml)], no_env())
}

pub(super) fn err_yaml(yaml: &str) -> String {
    match load_yaml(yaml) {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}
