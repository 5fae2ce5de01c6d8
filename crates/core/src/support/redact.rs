//! URLs as they may be logged and kept: endpoints often carry tokens in their userinfo, query or
//! fragment.

/// `url` as it may be logged and kept in the audit trail: without userinfo, query and fragment,
/// where endpoints carry tokens.
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => shown(&parsed),
        Err(_) => format!("<unparseable URL of {} bytes>", url.len()),
    }
}

/// The URL without userinfo, query and fragment. The path stays: it is what tells an operator
/// which endpoint it was.
pub fn shown(url: &url::Url) -> String {
    let mut shown = url.clone();
    // These fail only for URLs that cannot have the parts anyway.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.into()
}
