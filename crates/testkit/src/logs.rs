//! The consumer's log lines captured as the Lambda writes them (JSON), for assertions.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Captures what the consumer logs, as the JSON lines the Lambda writes.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Installs a JSON subscriber for this thread (tests run on a current-thread runtime).
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_target(false)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // A callsite first hit on another test's thread, while no scoped subscriber was alive,
        // can keep an interest of "never" cached; recomputed now, it includes this one.
        tracing::callsite::rebuild_interest_cache();
        (logs, guard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Each notice (a line with an `outcome`), parsed.
    pub fn notices(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.get("outcome").is_some())
            .collect()
    }

    pub fn outcomes(&self) -> Vec<String> {
        self.notices()
            .iter()
            .map(|n| n["outcome"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}
