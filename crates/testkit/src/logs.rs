//! The consumer's log lines captured as the Lambda writes them (JSON), for assertions.

use std::io::Write;
use std::sync::{Arc, Mutex, Once};

use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber, span};

/// The process's global subscriber in tests: records nothing, and tells every callsite to ask
/// again each time. Without it, a callsite first hit on a thread with no subscriber while a
/// capturing test on another thread is being set up can cache "never" (tracing-core's
/// registration races the scoped subscriber's), and that test then misses its own notices.
struct AskEveryTime;

impl Subscriber for AskEveryTime {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

/// Installs [`AskEveryTime`] as the global subscriber, once per process, unless the process
/// already has one (a test binary that sets its own keeps it).
pub fn install_global() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing::subscriber::set_global_default(AskEveryTime);
    });
}

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
        install_global();
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_target(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
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
