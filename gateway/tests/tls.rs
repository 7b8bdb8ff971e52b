//! HTTPS: with `ULTRA_TLS_CERT`/`ULTRA_TLS_KEY` set, the gateway serves over rustls. A
//! self-signed certificate made here, one request from a client that trusts only it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// PEM armour of a DER block.
fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).expect("ascii"));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

#[tokio::test]
async fn https_with_a_configured_certificate() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let dir = std::env::temp_dir().join(format!("ultra-gateway-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, pem("CERTIFICATE", certified.cert.der())).expect("cert");
    std::fs::write(
        &key_path,
        pem("PRIVATE KEY", &certified.signing_key.serialize_der()),
    )
    .expect("key");

    let mut env: HashMap<String, String> = [
        (
            "ULTRA_JWT_SECRET",
            "0123456789abcdef0123456789abcdef-test-secret",
        ),
        ("ULTRA_USERS_URL", "http://127.0.0.1:9"),
        ("ULTRA_FILES_URL", "http://127.0.0.1:9"),
        ("ULTRA_SIMULATION_URL", "http://127.0.0.1:9"),
        ("ULTRA_RESULTS_URL", "http://127.0.0.1:9"),
        ("ULTRA_BILLING_URL", "http://127.0.0.1:9"),
        ("ULTRA_ANALYTICS_URL", "http://127.0.0.1:9"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    env.insert("ULTRA_TLS_CERT".into(), cert_path.display().to_string());
    env.insert("ULTRA_TLS_KEY".into(), key_path.display().to_string());
    let config = ultra_gateway::Config::from_env(&env).expect("config");
    assert!(config.tls.is_some());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(ultra_gateway::serve(config, listener, shutdown.clone()));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).expect("root");
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut tls = connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake with the trusted certificate");
    tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut response))
        .await
        .expect("answer in time")
        .expect("read");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("x-request-id"), "{response}");

    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(addr).await.expect("connect");
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut answer)).await;
    assert!(!answer.starts_with(b"HTTP/1.1 200"));

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("drains")
        .expect("task")
        .expect("serve");
    let _ = std::fs::remove_dir_all(dir);
}
