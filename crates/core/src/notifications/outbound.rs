//! One HTTP POST of a notification to a subscriber's URL.
//!
//! The URL is the subscriber's to choose, so in live mode it is untrusted input aimed at our
//! network position: inside AWS a request to `169.254.169.254`, a VPC address or loopback
//! could read credentials or reach services nobody meant to expose. [`Policy::PublicHttpsOnly`]
//! therefore refuses everything but https to public addresses, and it vets the addresses the
//! connection is actually made to: names are resolved by our own resolver, which fails if any
//! answer is not public, and the connector dials only what that resolver returned. Checking a
//! name first and letting the connector resolve it again would leave a window for a DNS answer
//! that changes in between (rebinding).
//!
//! One pooled client serves every subscriber, so a warm execution environment keeps its
//! connections to busy receivers open. Redirects are not followed (hyper never does): a 3xx is
//! just a status that is not 2xx, and following it would be a way around the vetting.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

/// Where a notification may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Live mode: https only, and only to public addresses.
    PublicHttpsOnly,
    /// Test mode: http or https to any address, so that a receiver on the developer's own
    /// machine (`http://127.0.0.1:...`) works.
    Any,
}

/// A POST that did not produce an answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutboundError {
    /// Refused before any connection was made (or, for a name, before connecting to what it
    /// resolved to). `url` is shown without credentials, query or fragment, which is where
    /// URLs carry secrets.
    #[error("will not send to {url}: {why}")]
    NotAllowed { url: String, why: String },
    #[error("no answer within {after_ms} ms")]
    Timeout { after_ms: u128 },
    #[error("could not reach the receiver: {detail}")]
    Transport { detail: String },
}

impl OutboundError {
    /// Whether sending again cannot help: a refused URL stays refused until the subscriber
    /// changes it, while a timeout or a network failure may pass.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::NotAllowed { .. })
    }
}

/// The receiver's answer. Only its status matters; the body is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The receiver's `Retry-After`, in seconds from now: delay-seconds or an HTTP date (RFC
    /// 9110, 10.2.3); `None` when absent or unreadable.
    pub retry_after_secs: Option<u64>,
}

/// A `Retry-After` value as seconds from `now`.
pub(super) fn retry_after_secs(value: &str, now: std::time::SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).map(|d| d.as_secs()).unwrap_or(0))
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up HTTPS for notifications: {0}")]
pub struct OutboundSetupError(String);

/// A receiver's answer body is read only so that its connection can go back to the pool; a
/// larger one is dropped with its connection.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Kept below the keep-alive idle timeouts of common servers and load balancers (60 s and
/// more), so we seldom pick a connection the other end is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const USER_AGENT: &str = concat!("payhook-notifier/", env!("CARGO_PKG_VERSION"));

type HttpClient = Client<HttpsConnector<HttpConnector<VettingResolver>>, Full<Bytes>>;

/// Sends notifications; build once per execution environment and share.
#[derive(Clone)]
pub struct Outbound {
    policy: Policy,
    total_timeout: Duration,
    http: HttpClient,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("policy", &self.policy)
            .field("total_timeout", &self.total_timeout)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// `connect_timeout` bounds each TCP connect; `total_timeout` bounds a whole POST from
    /// resolving the name to the answer's status line. The system's trusted roots are loaded
    /// here, once.
    pub fn new(
        policy: Policy,
        connect_timeout: Duration,
        total_timeout: Duration,
    ) -> Result<Self, OutboundSetupError> {
        let resolver = VettingResolver {
            vet: policy == Policy::PublicHttpsOnly,
        };
        let mut tcp = HttpConnector::new_with_resolver(resolver);
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_nodelay(true);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| OutboundSetupError(format!("no trusted roots: {e}")))?;
        // post() already refuses http in live mode; the connector refusing it too means a
        // mistake there still cannot send a notification in clear text.
        let builder = match policy {
            Policy::PublicHttpsOnly => builder.https_only(),
            Policy::Any => builder.https_or_http(),
        };
        let https = builder.enable_http1().wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(https);
        Ok(Outbound {
            policy,
            total_timeout,
            http,
        })
    }

    /// POST `body` (JSON) with the given extra headers (name, value) to `url`. Any status is
    /// an answer, 3xx included; only no answer at all is an error.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Answer, OutboundError> {
        let target = vet_url(self.policy, url)?;
        let mut request = hyper::Request::post(target.uri)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| OutboundError::NotAllowed {
                url: target.shown.clone(),
                why: format!("cannot make a request of it: {e}"),
            })?;
        *request.headers_mut() = header_map(headers).map_err(|why| OutboundError::NotAllowed {
            url: target.shown.clone(),
            why,
        })?;

        let deadline = tokio::time::Instant::now() + self.total_timeout;
        let response = match tokio::time::timeout_at(deadline, self.http.request(request)).await {
            Err(_) => {
                return Err(OutboundError::Timeout {
                    after_ms: self.total_timeout.as_millis(),
                });
            }
            Ok(Err(e)) => return Err(classify(&target.shown, &e)),
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        let retry_after_secs = response
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after_secs(v, std::time::SystemTime::now()));
        // The status is the answer. Reading the body (within what is left of the time) lets
        // the connection be reused; an oversized, slow or broken body only costs that
        // connection, not the answer.
        let drain = Limited::new(response.into_body(), MAX_ANSWER_BYTES).collect();
        let _ = tokio::time::timeout_at(deadline, drain).await;
        Ok(Answer {
            status,
            retry_after_secs,
        })
    }
}

/// A URL that passed the policy, and how to name it in errors and logs.
struct Target {
    uri: hyper::Uri,
    shown: String,
}

fn vet_url(policy: Policy, input: &str) -> Result<Target, OutboundError> {
    let parsed = url::Url::parse(input).map_err(|e| OutboundError::NotAllowed {
        // Without parts to strip, the input could only be echoed whole, credentials and all.
        url: format!("<unparseable URL of {} bytes>", input.len()),
        why: format!("not a URL: {e}"),
    })?;
    let shown = crate::support::redact::shown(&parsed);
    let refuse = |why: String| {
        Err(OutboundError::NotAllowed {
            url: shown.clone(),
            why,
        })
    };

    match (policy, parsed.scheme()) {
        (_, "https") | (Policy::Any, "http") => {}
        (Policy::PublicHttpsOnly, scheme) => return refuse(format!("{scheme} is not https")),
        (Policy::Any, scheme) => return refuse(format!("{scheme} is neither http nor https")),
    }
    // Refused in test mode too: the credentials would otherwise be silently dropped (hyper
    // does not send userinfo), and a test should fail where live would.
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return refuse("the URL carries credentials".into());
    }
    match parsed.host() {
        None => return refuse("the URL has no host".into()),
        // The connector dials IP literals without asking the resolver, so they are judged
        // here. The url crate has already turned forms like `2130706433` or `0x7f.1` into
        // the address they mean.
        Some(url::Host::Ipv4(ip)) if policy == Policy::PublicHttpsOnly && !is_public(ip.into()) => {
            return refuse(format!("{ip} is not a public address"));
        }
        Some(url::Host::Ipv6(ip)) if policy == Policy::PublicHttpsOnly && !is_public(ip.into()) => {
            return refuse(format!("{ip} is not a public address"));
        }
        // Names are judged by the resolver, on the addresses the connection will use.
        Some(_) => {}
    }

    // The fragment is never sent; the request goes to the url crate's normalized form, so
    // hyper sees the same host that was judged above.
    let mut normalized = parsed;
    normalized.set_fragment(None);
    let uri = normalized
        .as_str()
        .parse::<hyper::Uri>()
        .map_err(|e| OutboundError::NotAllowed {
            url: shown.clone(),
            why: format!("not a URL hyper accepts: {e}"),
        })?;
    Ok(Target { uri, shown })
}

/// The caller's headers, then our Content-Type and User-Agent unless the caller gave its own.
fn header_map(headers: &[(&str, String)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::with_capacity(headers.len() + 2);
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{name:?} is not a header name"))?;
        // Framing and routing are ours to set: a caller's value for these could split or
        // redirect the request.
        let reserved = [
            header::HOST,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
            header::UPGRADE,
        ];
        if reserved.contains(&name) {
            return Err(format!("header {name} is set by the sender"));
        }
        // The value is not echoed: it is likely a signature.
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("the value of header {name} is not a valid header value"))?;
        map.append(name, value);
    }
    map.entry(header::CONTENT_TYPE)
        .or_insert(HeaderValue::from_static("application/json"));
    map.entry(header::USER_AGENT)
        .or_insert(HeaderValue::from_static(USER_AGENT));
    Ok(map)
}

/// A refusal by [`VettingResolver`], found again in hyper's error chain to tell a refused
/// name from one that could not be resolved.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

fn classify(shown: &str, e: &hyper_util::client::legacy::Error) -> OutboundError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<Refused>() {
            return OutboundError::NotAllowed {
                url: shown.to_string(),
                why: refused.0.clone(),
            };
        }
        source = s.source();
    }
    OutboundError::Transport {
        detail: crate::support::text::with_causes(e),
    }
}

type BoxError = Box<dyn StdError + Send + Sync>;

/// Resolves names for the connector. With `vet`, a name with any non-public address is
/// refused as a whole: connecting to the public ones only would still let a name that also
/// points inside be used to probe, and no legitimate receiver needs such a name.
#[derive(Debug, Clone, Copy)]
struct VettingResolver {
    vet: bool,
}

impl tower_service::Service<Name> for VettingResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let vet = self.vet;
        Box::pin(async move {
            // Port 0: the connector puts the URL's port on every address.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{name} has no addresses"),
                )
                .into());
            }
            if vet && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(Refused(format!(
                    "{name} resolves to {}, which is not a public address",
                    bad.ip()
                ))
                .into());
            }
            Ok(addrs.into_iter())
        })
    }
}

/// IPv4 networks that are not reachable public unicast (IANA special-purpose registry).
const V4_NOT_PUBLIC: [(Ipv4Addr, u8); 15] = [
    // "This network", unspecified included.
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    // Private.
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    // Carrier-grade NAT.
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    // Loopback.
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    // Link-local, the metadata service (169.254.169.254) included.
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    // IETF protocol assignments.
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    // Documentation.
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    // 6to4 relay anycast, deprecated.
    (Ipv4Addr::new(192, 88, 99, 0), 24),
    // Benchmarking.
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    // Multicast.
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    // Reserved, the broadcast address included.
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// IPv6 networks inside global unicast (2000::/3) that are still not public.
const V6_NOT_PUBLIC: [(Ipv6Addr, u8); 4] = [
    // IETF protocol assignments (Teredo, ORCHID, AS112, ...): none is a receiver, and Teredo
    // embeds an IPv4 address we would have to unpick.
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    // 6to4, deprecated (RFC 7526); embeds an IPv4 address.
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation (RFC 9637)
];

const NAT64: (Ipv6Addr, u8) = (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
const GLOBAL_UNICAST: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

/// Whether `ip` is a public unicast address, one a notification may be sent to in live mode.
/// IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64) are judged by that
/// address, since that is where the packets end up.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !V4_NOT_PUBLIC.iter().any(|&(net, len)| {
        // Every len in the table is 4 to 32: the shift stays within the u32.
        bits >> (32 - len) == u32::from(net) >> (32 - len)
    })
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let in_net = |(net, len): (Ipv6Addr, u8)| {
        u128::from(ip) >> (128 - len) == u128::from(net) >> (128 - len)
    };
    let [.., a, b, c, d] = ip.octets();
    let embedded = Ipv4Addr::new(a, b, c, d);
    // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible, deprecated; `::` and `::1` fall here
    // too and come out as 0.0.0.0/8) and 64:ff9b::a.b.c.d (NAT64) reach the IPv4 address.
    if ip.to_ipv4_mapped().is_some() || u128::from(ip) >> 32 == 0 || in_net(NAT64) {
        return is_public_v4(embedded);
    }
    // Only 2000::/3 is allocated for global unicast: what is outside (unique local fc00::/7,
    // link-local fe80::/10, multicast ff00::/8, discard 100::/64, translation forms, ...) is
    // refused without listing it.
    in_net(GLOBAL_UNICAST) && !V6_NOT_PUBLIC.iter().any(|&net| in_net(net))
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn outbound(policy: Policy, total: Duration) -> Outbound {
        Outbound::new(policy, Duration::from_secs(2), total).unwrap()
    }

    fn live() -> Outbound {
        outbound(Policy::PublicHttpsOnly, Duration::from_secs(5))
    }

    #[test]
    fn is_public_table() {
        let not_public = [
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "198.19.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "::a9fe:a9fe",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "2001::1",
            "2002:7f00:1::1",
            "3fff::1",
            "100::1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::8.8.8.8",
            "::ffff:0:8.8.8.8",
        ];
        for ip in not_public {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(!is_public(parsed), "{ip} must not be public");
        }
        let public = [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ];
        for ip in public {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(is_public(parsed), "{ip} must be public");
        }
    }

    #[test]
    fn only_a_refusal_is_permanent() {
        let refused = OutboundError::NotAllowed {
            url: "http://x/".into(),
            why: "no".into(),
        };
        assert!(refused.is_permanent());
        assert!(!OutboundError::Timeout { after_ms: 1 }.is_permanent());
        assert!(
            !OutboundError::Transport {
                detail: "refused".into()
            }
            .is_permanent()
        );
    }

    async fn refused_why(outbound: &Outbound, url: &str) -> String {
        match outbound.post(url, &[], b"{}".to_vec()).await {
            Err(OutboundError::NotAllowed { why, .. }) => why,
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn live_refuses_what_is_not_https_to_a_public_address() {
        let live = live();
        assert!(
            refused_why(&live, "http://example.com/x")
                .await
                .contains("not https")
        );
        assert!(
            refused_why(&live, "ftp://example.com/x")
                .await
                .contains("not https")
        );
        for url in [
            "https://127.0.0.1:9/x",
            "https://[::1]/x",
            "https://[::ffff:169.254.169.254]/latest/meta-data/",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/x",
            "https://0.0.0.0/x",
            // The url crate reads these as 127.0.0.1.
            "https://2130706433/",
            "https://0x7f.1/",
            "https://127.1/",
        ] {
            let why = refused_why(&live, url).await;
            assert!(why.contains("not a public address"), "{url}: {why}");
        }
        assert!(refused_why(&live, "not a url").await.contains("not a URL"));
        assert!(
            refused_why(&live, "https://user:pw@example.com/")
                .await
                .contains("credentials")
        );
        assert!(
            refused_why(&live, "https://user@example.com/")
                .await
                .contains("credentials")
        );
    }

    /// localhost has only loopback addresses: the resolver refuses it, and that surfaces as a
    /// refusal, not as a network failure to try again.
    #[tokio::test]
    async fn live_refuses_a_name_that_resolves_to_a_non_public_address() {
        let e = live()
            .post("https://localhost:9/x", &[], b"{}".to_vec())
            .await
            .unwrap_err();
        match &e {
            OutboundError::NotAllowed { url, why } => {
                assert_eq!(url, "https://localhost:9/x");
                assert!(why.contains("localhost resolves to"), "{why}");
                assert!(why.contains("not a public address"), "{why}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(e.is_permanent());
    }

    #[tokio::test]
    async fn a_refusal_does_not_repeat_the_url_secrets() {
        let e = live()
            .post(
                "https://user:hunter2@example.com/hook?token=s3cret#frag",
                &[],
                Vec::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            e,
            OutboundError::NotAllowed {
                url: "https://example.com/hook".into(),
                why: "the URL carries credentials".into()
            }
        );
        let e = live()
            .post("https://user:hunter2@[", &[], Vec::new())
            .await
            .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[tokio::test]
    async fn test_mode_still_wants_http_and_no_credentials() {
        let any = outbound(Policy::Any, Duration::from_secs(5));
        assert!(
            refused_why(&any, "ftp://127.0.0.1/x")
                .await
                .contains("neither http nor https")
        );
        assert!(
            refused_why(&any, "http://u:p@127.0.0.1/x")
                .await
                .contains("credentials")
        );
    }

    #[tokio::test]
    async fn bad_or_reserved_headers_are_refused() {
        let any = outbound(Policy::Any, Duration::from_secs(5));
        for (name, value) in [
            ("bad name", "x".to_string()),
            ("webhook-signature", "v1,a\r\nx: y".to_string()),
            ("Host", "elsewhere.example".to_string()),
            ("content-length", "0".to_string()),
            ("transfer-encoding", "chunked".to_string()),
        ] {
            // Refused before any connection is made: no listener is needed at the URL.
            let e = any
                .post("http://127.0.0.1:1/", &[(name, value)], Vec::new())
                .await
                .unwrap_err();
            assert!(e.is_permanent(), "{name}: {e:?}");
        }
    }

    /// Accepts one connection, reads one request (head and content-length body), answers 503
    /// and hands back the request as received.
    async fn one_answer_server() -> (SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut received = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "connection closed mid-request");
                received.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&received);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if received.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            socket
                .write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 120\r\ncontent-length: 0\r\n\r\n",
                )
                .await
                .unwrap();
            String::from_utf8(received).unwrap()
        });
        (addr, server)
    }

    #[tokio::test]
    async fn test_mode_posts_to_a_local_receiver_and_returns_its_status() {
        let (addr, server) = one_answer_server().await;
        let any = outbound(Policy::Any, Duration::from_secs(5));
        let answer = any
            .post(
                &format!("http://{addr}/hook?x=1"),
                &[("webhook-id", "msg_pi_1".to_string())],
                br#"{"type":"payment.credited"}"#.to_vec(),
            )
            .await
            .unwrap();
        assert_eq!(
            answer,
            Answer {
                status: 503,
                retry_after_secs: Some(120)
            }
        );

        let request = server.await.unwrap();
        let lower = request.to_ascii_lowercase();
        assert!(
            request.starts_with("POST /hook?x=1 HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            lower.contains("\r\ncontent-type: application/json\r\n"),
            "{request}"
        );
        assert!(
            lower.contains("\r\nuser-agent: payhook-notifier/"),
            "{request}"
        );
        assert!(lower.contains("\r\nwebhook-id: msg_pi_1\r\n"), "{request}");
        assert!(
            lower.contains(&format!("\r\nhost: {addr}\r\n")),
            "{request}"
        );
        assert!(
            request.ends_with(r#"{"type":"payment.credited"}"#),
            "{request}"
        );
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let holder = tokio::spawn(async move {
            // Keep the connection open and say nothing.
            let (_socket, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
        });
        let any = outbound(Policy::Any, Duration::from_millis(300));
        let started = std::time::Instant::now();
        let e = any
            .post(&format!("http://{addr}/"), &[], b"{}".to_vec())
            .await
            .unwrap_err();
        assert_eq!(e, OutboundError::Timeout { after_ms: 300 });
        assert!(!e.is_permanent());
        assert!(started.elapsed() < Duration::from_secs(3));
        holder.abort();
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_transport_error() {
        // A port that was just free: nothing listens on it now.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let any = outbound(Policy::Any, Duration::from_secs(5));
        let e = any
            .post(&format!("http://{addr}/"), &[], b"{}".to_vec())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, OutboundError::Transport { detail } if detail.contains("refused")),
            "{e:?}"
        );
        assert!(!e.is_permanent());
    }

    #[test]
    fn retry_after_reads_seconds_or_an_http_date() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(retry_after_secs("120", now), Some(120));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(3_600));
        assert_eq!(retry_after_secs(&later, now), Some(3_600));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(60));
        assert_eq!(retry_after_secs(&past, now), Some(0));
        assert_eq!(retry_after_secs("soon", now), None);
    }
}
