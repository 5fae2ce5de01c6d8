//! Reading what the operator gives: values or @FILE, secrets from the environment (never from
//! arguments, which leak into shell history and process lists), private files written 0600.

use std::path::Path;

use crate::failure::{Failure, Result};

/// `value`, or the trimmed contents of FILE for `@FILE`.
pub fn value_or_file(flag: &str, value: &str) -> Result<String> {
    match value.strip_prefix('@') {
        Some(path) => Ok(read_file(flag, Path::new(path))?.trim().to_string()),
        None => Ok(value.to_string()),
    }
}

pub fn read_file(flag: &str, path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("{flag} {}", path.display()), e))
}

/// A secret from the environment.
pub fn env_secret(name: &str) -> Result<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Failure::usage(name, "is not set").hint(format!(
                "export {name}=… (secrets are never taken as arguments)"
            ))
        })
}

/// Writes `contents` readable by its owner only.
pub fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .map_err(|e| Failure::failed(format!("writing {}", path.display()), e))
}

/// `whsec_…acme`: enough to tell secrets apart, not enough to use one.
pub fn mask(secret: &str) -> String {
    let prefix = ["whsec_", "sk_test_", "sk_live_", "rk_test_", "rk_live_"]
        .into_iter()
        .find(|p| secret.starts_with(p))
        .unwrap_or("");
    let tail: String = if secret.len() >= prefix.len() + 12 {
        let chars: Vec<char> = secret.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    } else {
        String::new()
    };
    format!("{prefix}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_the_kind_and_at_most_four_characters() {
        assert_eq!(mask("whsec_0123456789abcdefacme"), "whsec_…acme");
        assert_eq!(mask("sk_test_short"), "sk_test_…");
        assert_eq!(mask("opaque"), "…");
    }
}
