//! Error and input text made safe and useful to log: an error with its causes, a JSON error
//! without the value it quotes, an attacker's string cut short.

/// An error and its causes, `: `-joined. hyper's client errors say only "client error
/// (Connect)"; their causes say what happened.
pub fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// serde_json's messages can quote the offending value, which here may be a secret: keep only
/// the kind of error and where it is.
pub fn describe_json_error(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "wrong or missing field",
        serde_json::error::Category::Eof => "unexpected end",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

/// At most `max_chars` characters of `s`: what an attacker chose goes into errors and logs short.
pub fn truncated(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}
