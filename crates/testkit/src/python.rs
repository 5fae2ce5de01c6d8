//! Independent producers and checkers from the project's `.venv` (scripts/test.sh installs
//! them): Stripe's own Python library, libsodium through PyNaCl, the Python Standard Webhooks
//! library. A test hands a script JSON on stdin and reads what it prints.

use crate::{BoxError, repo_path};

/// Runs `script` with the `.venv`'s Python, `input` as JSON on stdin; its stdout, or an error
/// with its stderr.
pub fn run(script: &str, input: &serde_json::Value) -> Result<String, BoxError> {
    use std::io::Write;
    let python = repo_path(".venv/bin/python");
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "run {} (scripts/test.sh installs it): {e}",
                python.display()
            )
        })?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(input.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("python failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
