//! The few HTTP requests OIDC needs (discovery, JWKS, token): one HTTP/1.1 request per
//! connection on hyper, over rustls (ring, the platform's certificate store) for `https`.
//! Plain `http` is accepted for loopback hosts only (a provider on this machine: tests,
//! local development), never across a network.
//!
//! A provider's URLs come from an admin's configuration and the provider's discovery
//! document, so they must not reach into Ultra's own network: a host that resolves to a
//! private, link-local, loopback or otherwise non-public address is refused unless the
//! issuer itself is loopback (a local provider), and the connection goes to the address that
//! was checked (no second lookup to rebind). Discovery documents and JWKS are cached for
//! five minutes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A whole exchange (connect, TLS, request, response) must finish within this.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Discovery documents, JWKS and token responses are small.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long a fetched discovery document or JWKS is reused.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// At most this many cached documents (one provider has two); the cache is emptied beyond.
const CACHE_MAX_ENTRIES: usize = 1024;

/// Why a request to the provider failed (logged; the client only hears "SSO failed").
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL {0:?}")]
    Url(String),
    #[error("plain http is allowed for loopback providers only: {0}")]
    InsecureUrl(String),
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url} did not answer JSON: {reason}")]
    Json { url: String, reason: String },
    #[error(
        "{url} resolves to a non-public address ({address}); only a loopback issuer may use one"
    )]
    PrivateAddress { url: String, address: IpAddr },
}

/// Whether the provider at `issuer` may be reached on non-public addresses: only a loopback
/// issuer (a provider on this machine).
pub fn allows_private(issuer: &str) -> bool {
    issuer
        .parse::<Uri>()
        .ok()
        .and_then(|uri| uri.host().map(is_loopback))
        .unwrap_or(false)
}

/// Whether `ip` is one a provider on the internet never has: loopback, private (RFC 1918,
/// unique local), link-local, shared (CGNAT), unspecified, broadcast, multicast or
/// documentation ranges, and IPv4 mapped into IPv6 with any of those.
fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
        }
    }
}

/// The cached JSON documents by URL, with when they were fetched.
fn cache() -> &'static Mutex<HashMap<String, (Instant, serde_json::Value)>> {
    static CACHE: OnceLock<Mutex<HashMap<String, (Instant, serde_json::Value)>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

fn cached(url: &str) -> Option<serde_json::Value> {
    let cache = cache()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .get(url)
        .filter(|(fetched, _)| fetched.elapsed() < CACHE_TTL)
        .map(|(_, value)| value.clone())
}

fn remember(url: &str, value: &serde_json::Value) {
    let mut cache = cache()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if cache.len() >= CACHE_MAX_ENTRIES {
        cache.clear();
    }
    cache.insert(url.to_owned(), (Instant::now(), value.clone()));
}

/// `GET url` as JSON, answered from the five-minute cache when fresh (`fresh` bypasses it:
/// a JWKS without the ID token's key may have been rotated since).
pub async fn get_json_cached(
    url: &str,
    allow_private: bool,
    fresh: bool,
) -> Result<serde_json::Value, HttpError> {
    if !fresh && let Some(value) = cached(url) {
        return Ok(value);
    }
    let value = get_json(url, allow_private).await?;
    remember(url, &value);
    Ok(value)
}

/// A URL's scheme must be https, or http to a loopback host.
pub fn check_url(url: &str) -> Result<Uri, HttpError> {
    let uri: Uri = url.parse().map_err(|_| HttpError::Url(url.to_owned()))?;
    let host = uri.host().ok_or_else(|| HttpError::Url(url.to_owned()))?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(host) => Ok(uri),
        Some("http") => Err(HttpError::InsecureUrl(url.to_owned())),
        _ => Err(HttpError::Url(url.to_owned())),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `GET url` as JSON.
pub async fn get_json(url: &str, allow_private: bool) -> Result<serde_json::Value, HttpError> {
    exchange(url, Method::GET, None, allow_private).await
}

/// `POST url` with an `application/x-www-form-urlencoded` body, answered in JSON.
pub async fn post_form(
    url: &str,
    form: &[(&str, &str)],
    allow_private: bool,
) -> Result<serde_json::Value, HttpError> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    exchange(url, Method::POST, Some(body), allow_private).await
}

async fn exchange(
    url: &str,
    method: Method,
    form: Option<String>,
    allow_private: bool,
) -> Result<serde_json::Value, HttpError> {
    let transport = |reason: String| HttpError::Transport {
        url: url.to_owned(),
        reason,
    };
    let uri = check_url(url)?;
    let address = tokio::time::timeout(TIMEOUT, resolve(&uri, allow_private))
        .await
        .map_err(|_| transport("timed out resolving".into()))?
        .map_err(|error| match error {
            Resolved::Private(address) => HttpError::PrivateAddress {
                url: url.to_owned(),
                address,
            },
            Resolved::Failed(reason) => transport(reason),
        })?;
    let answer = tokio::time::timeout(TIMEOUT, send(&uri, address, method, form))
        .await
        .map_err(|_| transport("timed out".into()))?
        .map_err(transport)?;
    let (status, body) = answer;
    if !(200..300).contains(&status) {
        return Err(HttpError::Status {
            url: url.to_owned(),
            status,
            body: String::from_utf8_lossy(&body).chars().take(200).collect(),
        });
    }
    serde_json::from_slice(&body).map_err(|error| HttpError::Json {
        url: url.to_owned(),
        reason: error.to_string(),
    })
}

/// Why no address to connect to was found.
enum Resolved {
    Private(IpAddr),
    Failed(String),
}

/// The address to connect to for `uri`: every address its host resolves to must be public
/// unless `allow_private`.
async fn resolve(uri: &Uri, allow_private: bool) -> Result<SocketAddr, Resolved> {
    let host = uri.host().unwrap_or_default();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addresses: Vec<SocketAddr> =
        tokio::net::lookup_host((host.trim_start_matches('[').trim_end_matches(']'), port))
            .await
            .map_err(|error| Resolved::Failed(error.to_string()))?
            .collect();
    if !allow_private
        && let Some(private) = addresses.iter().find(|address| is_non_public(address.ip()))
    {
        return Err(Resolved::Private(private.ip()));
    }
    addresses
        .first()
        .copied()
        .ok_or_else(|| Resolved::Failed(format!("{host} has no address")))
}

async fn send(
    uri: &Uri,
    address: SocketAddr,
    method: Method,
    form: Option<String>,
) -> Result<(u16, Bytes), String> {
    let host = uri.host().unwrap_or_default().to_owned();
    let https = uri.scheme_str() == Some("https");
    let stream = TcpStream::connect(address)
        .await
        .map_err(|error| error.to_string())?;
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    let authority = uri
        .authority()
        .map_or(host.as_str(), |authority| authority.as_str());
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, authority)
        .header(header::ACCEPT, "application/json");
    if form.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let request = request
        .body(Full::new(Bytes::from(form.unwrap_or_default())))
        .map_err(|error| error.to_string())?;
    if https {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|error| error.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, stream)
            .await
            .map_err(|error| error.to_string())?;
        round_trip(TokioIo::new(tls), request).await
    } else {
        round_trip(TokioIo::new(stream), request).await
    }
}

async fn round_trip<I>(io: I, request: Request<Full<Bytes>>) -> Result<(u16, Bytes), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|error| error.to_string())?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|error| error.to_string())?
        .to_bytes();
    driver.abort();
    Ok((status, body))
}

/// The client TLS settings: the platform's trusted roots, loaded once.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let loaded = rustls_native_certs::load_native_certs();
            for certificate in loaded.certs {
                // A certificate the store cannot parse is skipped, as browsers do.
                let _ = roots.add(certificate);
            }
            if roots.is_empty() {
                return Err("no trusted root certificates found on this machine".into());
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|error| error.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = private.parse().expect("ip");
            assert!(is_non_public(ip), "{private} counted as public");
        }
        for public in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            let ip: IpAddr = public.parse().expect("ip");
            assert!(!is_non_public(ip), "{public} counted as private");
        }
        assert!(allows_private("http://127.0.0.1:8080"));
        assert!(allows_private("http://localhost:8080"));
        assert!(!allows_private("https://login.example.com"));
    }

    #[tokio::test]
    async fn a_non_loopback_issuer_cannot_reach_loopback_urls() {
        // A remote issuer's discovery naming a JWKS on this machine: refused before any
        // connection is made (port 9 would not answer anyway).
        let refused = get_json("http://127.0.0.1:9/jwks", false)
            .await
            .expect_err("refused");
        assert!(
            matches!(refused, HttpError::PrivateAddress { .. }),
            "{refused}"
        );
        let allowed = get_json("http://127.0.0.1:9/jwks", true)
            .await
            .expect_err("nothing listens");
        assert!(matches!(allowed, HttpError::Transport { .. }), "{allowed}");
    }

    #[test]
    fn cached_documents_expire() {
        let url = "https://cache-test.example/jwks";
        assert!(cached(url).is_none());
        remember(url, &serde_json::json!({"keys": []}));
        assert_eq!(cached(url), Some(serde_json::json!({"keys": []})));
        cache()
            .lock()
            .expect("cache")
            .get_mut(url)
            .expect("entry")
            .0 -= CACHE_TTL;
        assert!(cached(url).is_none());
    }
}
