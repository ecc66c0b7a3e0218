//! The AWS SDK's HTTP client: hyper (HTTP/1.1, a connection pool) over the vendored OpenSSL that librdkafka links
//! for MSK, so a function carries one TLS library instead of OpenSSL beside rustls and aws-lc.
//!
//! A function builds one client ([`sdk_http_client`]) and shares it between its SDK clients: a connection pool
//! (and TLS session cache) per set of timeouts the SDK asks for, as the SDK's own client keeps them.
//! Servers are verified against the system's CA certificates wherever this system keeps them (`openssl-probe`,
//! `SSL_CERT_FILE`/`SSL_CERT_DIR` first): the vendored OpenSSL's built-in directory (`/usr/local/ssl`) does not
//! exist on Lambda's `provided.al2023`, whose bundle is `/etc/pki/tls/certs/ca-bundle.crt`. Plain `http://`
//! endpoints (local DynamoDB servers) go without TLS.
//!
//! What the SDK asks of a client, as its own hyper client does it: the connect timeout (TCP and TLS handshake)
//! and read timeout of the requested settings, errors classified so the SDK retries what is transient (I/O,
//! timeouts, a connection closed mid-response), and a connection that failed transiently taken out of the pool.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_openssl::client::legacy::HttpsConnector;
use hyper_util::client::legacy::connect::{capture_connection, HttpConnector as TcpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use openssl::error::ErrorStack;
use openssl::ssl::{SslConnector, SslConnectorBuilder, SslMethod, SslVersion};
use openssl_probe::ProbeResult;
use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

/// An HTTP client for the AWS SDK: hand it to every SDK configuration (no SDK crate here has a default client).
/// Its connection pools live as long as the configurations holding it: a function builds one configuration at
/// start ([`crate::config::aws_config`]), so all its SDK clients share one client. A pooled connection belongs to
/// the tokio runtime that opened it, as with the SDK's own client: a client is not for sharing across runtimes.
pub fn sdk_http_client() -> SharedHttpClient {
    // The CA bundle is read and parsed here (once per process), during init rather than in the first request.
    system_tls();
    SharedHttpClient::new(OpenSslClient::default())
}

/// TLS verified against the system's CA certificates (SSL_CERT_FILE / SSL_CERT_DIR, else the usual bundle
/// locations), set up once per process: parsing a CA bundle is the slow part, and the connector holds no
/// runtime-bound state (each pool clones it and shares its TLS session cache).
fn system_tls() -> &'static Result<HttpsConnector<TcpConnector>, String> {
    static SYSTEM_TLS: OnceLock<Result<HttpsConnector<TcpConnector>, String>> = OnceLock::new();
    SYSTEM_TLS.get_or_init(|| https(&openssl_probe::probe()).map_err(|e| e.to_string()))
}

/// TCP, then TLS for `https://` (verified against the system's CA certificates), plain for `http://`.
pub(crate) type TlsConnector = HttpsConnector<TcpConnector>;

/// The process's connector (the CA bundle parsed once), for another HTTP client of this process (span export).
pub(crate) fn system_tls_connector() -> Result<TlsConnector, String> {
    system_tls().clone()
}

/// Connectors by the timeouts they were asked for (the SDK asks per client; one pool each, as its own client does).
#[derive(Debug, Default)]
struct OpenSslClient {
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

/// Connect timeout, read timeout.
type Timeouts = (Option<Duration>, Option<Duration>);

/// TLS 1.2 or later, servers verified against the CA certificates `trust` names.
fn tls_settings(trust: &ProbeResult) -> Result<SslConnectorBuilder, ErrorStack> {
    let mut tls = SslConnector::builder(SslMethod::tls_client())?;
    tls.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    match &trust.cert_file {
        Some(bundle) => tls.set_ca_file(bundle)?,
        None => tls.set_default_verify_paths()?,
    }
    for directory in &trust.cert_dir {
        tls.load_verify_locations(None, Some(directory))?;
    }
    Ok(tls)
}

/// TCP, then TLS for `https://` (verified against the CA certificates `trust` names); plain for `http://`.
fn https(trust: &ProbeResult) -> Result<HttpsConnector<TcpConnector>, ErrorStack> {
    let mut tcp = TcpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    HttpsConnector::with_connector(tcp, tls_settings(trust)?)
}

/// A connector with its own pool, over `tls`.
fn pooled(timeouts: Timeouts, tls: HttpsConnector<TcpConnector>) -> OpenSslConnector {
    let client = Client::builder(TokioExecutor::new())
        // Without a timer the pool never closes idle connections.
        .pool_timer(TokioTimer::new())
        .build(ConnectTimeout {
            inner: tls,
            timeout: timeouts.0,
        });
    OpenSslConnector {
        client,
        read_timeout: timeouts.1,
    }
}

impl HttpClient for OpenSslClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let timeouts = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(t, _)| *t == timeouts) {
            return connector.clone();
        }
        let connector = match system_tls() {
            Ok(tls) => SharedHttpConnector::new(pooled(timeouts, tls.clone())),
            // Only an unreadable CA bundle can get here: every request says so.
            Err(error) => SharedHttpConnector::new(Unusable(format!(
                "cannot set up TLS (OpenSSL, CA certificates from the system's store): {error}"
            ))),
        };
        connectors.push((timeouts, connector.clone()));
        connector
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper-openssl", None))
    }
}

/// One pool of connections with one set of timeouts.
#[derive(Clone)]
struct OpenSslConnector {
    client: Client<ConnectTimeout<HttpsConnector<TcpConnector>>, SdkBody>,
    read_timeout: Option<Duration>,
}

impl std::fmt::Debug for OpenSslConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSslConnector")
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

impl HttpConnector for OpenSslConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(error) => {
                return HttpConnectorFuture::ready(Err(ConnectorError::user(error.into())))
            }
        };
        // Lets the SDK take a connection that failed transiently out of the pool.
        let connection = capture_connection(&mut request);
        if let Some(smithy) = request.extensions().get::<CaptureSmithyConnection>() {
            smithy.set_connection_retriever(move || {
                let poisoned = connection.clone();
                connection.connection_metadata().as_ref().map(|_| {
                    ConnectionMetadata::builder()
                        .proxied(false)
                        .poison_fn(move || {
                            if let Some(connected) = poisoned.connection_metadata().as_ref() {
                                connected.poison();
                            }
                        })
                        .build()
                })
            });
        }
        let response = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                None => response.await,
                Some(limit) => match tokio::time::timeout(limit, response).await {
                    Ok(response) => response,
                    Err(_) => {
                        return Err(ConnectorError::timeout(Box::new(TimedOut("read", limit))))
                    }
                },
            };
            match response {
                Ok(response) => HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|error| ConnectorError::other(error.into(), None)),
                Err(error) => Err(classify(error)),
            }
        })
    }
}

/// A connector that could not be set up: every request fails with why.
#[derive(Debug)]
struct Unusable(String);

impl HttpConnector for Unusable {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::ready(Err(ConnectorError::other(self.0.clone().into(), None)))
    }
}

/// A connection attempt (TCP connect and TLS handshake) or a response that took too long.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {0} timed out after {1:?}")]
struct TimedOut(&'static str, Duration);

/// What the SDK should make of a failed request: timeouts and I/O errors (refused or reset connections, failed
/// handshakes, DNS) are transient, and retried; so is a connection the server closed before answering.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    if find::<TimedOut>(&error as &(dyn Error + 'static)).is_some() {
        return ConnectorError::timeout(error.into());
    }
    let hyper = find::<hyper::Error>(&error as &(dyn Error + 'static));
    // A request hyper refused (a body that failed to read, say) is the caller's, even when an I/O error caused it.
    match hyper {
        Some(e) if e.is_timeout() => return ConnectorError::timeout(error.into()),
        Some(e) if e.is_user() => return ConnectorError::user(error.into()),
        _ => {}
    }
    if error.is_connect() || find::<std::io::Error>(&error as &(dyn Error + 'static)).is_some() {
        return ConnectorError::io(error.into());
    }
    match hyper {
        Some(e) if e.is_closed() || e.is_canceled() => ConnectorError::io(error.into()),
        Some(e) if e.is_incomplete_message() => {
            ConnectorError::other(error.into(), Some(ErrorKind::TransientError))
        }
        _ => ConnectorError::other(error.into(), None),
    }
}

/// The first error of type `E` in `error`'s chain.
fn find<'a, E: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        next = error.source();
    }
    None
}

/// Bounds a connection attempt, TLS handshake included.
#[derive(Clone)]
struct ConnectTimeout<C> {
    inner: C,
    timeout: Option<Duration>,
}

impl<C> tower_service::Service<http::Uri> for ConnectTimeout<C>
where
    C: tower_service::Service<http::Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                None => connecting.await.map_err(Into::into),
                Some(limit) => match tokio::time::timeout(limit, connecting).await {
                    Ok(connected) => connected.map_err(Into::into),
                    Err(_) => Err(TimedOut("connect", limit).into()),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::pkey::PKey;
    use openssl::ssl::SslAcceptor;
    use openssl::x509::X509;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    /// A CA (its PEM in a file, as a system bundle would hold it) and a certificate it signed for localhost.
    struct TestPki {
        ca_file: PathBuf,
        server_cert_der: Vec<u8>,
        server_key_der: Vec<u8>,
    }

    fn test_pki(name: &str) -> TestPki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("Tributary test CA {name}"),
        );
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();
        let ca_file = std::env::temp_dir().join(format!(
            "tributary-http-client-{name}-{}.pem",
            std::process::id()
        ));
        std::fs::write(&ca_file, ca.pem()).unwrap();
        TestPki {
            ca_file,
            server_cert_der: server.der().to_vec(),
            server_key_der: server_key.serialize_der(),
        }
    }

    fn trusting(pki: &TestPki) -> ProbeResult {
        ProbeResult {
            cert_file: Some(pki.ca_file.clone()),
            cert_dir: Vec::new(),
        }
    }

    /// A pooled connector trusting what `trust` names (the client's own trusts the system's store).
    fn connector(timeouts: Timeouts, trust: &ProbeResult) -> Result<OpenSslConnector, ErrorStack> {
        Ok(pooled(timeouts, https(trust)?))
    }

    /// Answers every request on a connection with `hello` until the client closes it.
    fn answer(mut stream: impl Read + Write) {
        let mut request = Vec::new();
        let mut buffer = [0u8; 1024];
        loop {
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            request.clear();
            let response = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
            if stream
                .write_all(response)
                .and_then(|_| stream.flush())
                .is_err()
            {
                return;
            }
        }
    }

    /// A server on loopback (TLS with `pki`'s certificate, else plain HTTP); returns its port and how many
    /// connections it accepted.
    fn server(pki: Option<&TestPki>) -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = pki.map(|pki| {
            let mut acceptor =
                SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
            acceptor
                .set_certificate(&X509::from_der(&pki.server_cert_der).unwrap())
                .unwrap();
            acceptor
                .set_private_key(&PKey::private_key_from_der(&pki.server_key_der).unwrap())
                .unwrap();
            Arc::new(acceptor.build())
        });
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                std::thread::spawn(move || match acceptor {
                    // A client that does not trust the certificate aborts the handshake.
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(stream) {
                            answer(tls);
                        }
                    }
                    None => answer(stream),
                });
            }
        });
        (port, accepted)
    }

    fn get(url: &str) -> HttpRequest {
        HttpRequest::try_from(http::Request::get(url).body(SdkBody::empty()).unwrap()).unwrap()
    }

    async fn body(response: HttpResponse) -> String {
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    const PATIENT: Timeouts = (Some(Duration::from_secs(5)), Some(Duration::from_secs(5)));

    #[tokio::test]
    async fn https_servers_are_verified_against_the_system_cas_and_connections_are_reused() {
        let pki = test_pki("trusted");
        let (port, accepted) = server(Some(&pki));
        let connector = connector(PATIENT, &trusting(&pki)).unwrap();
        for _ in 0..3 {
            let response = connector
                .call(get(&format!("https://localhost:{port}/")))
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            assert_eq!(body(response).await, "hello");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one pooled connection");
    }

    #[tokio::test]
    async fn a_server_the_cas_do_not_vouch_for_is_refused() {
        let (server_pki, other_pki) = (test_pki("server"), test_pki("other"));
        let (port, _) = server(Some(&server_pki));
        let untrusting = connector(PATIENT, &trusting(&other_pki)).unwrap();
        let error = untrusting
            .call(get(&format!("https://localhost:{port}/")))
            .await
            .unwrap_err();
        assert!(error.is_io(), "{error:?}");
        assert!(
            format!("{:?}", error).contains("certificate verify failed"),
            "{error:?}"
        );
        // Nor does a name the certificate does not carry, with the right CA.
        let trusting_the_ca = connector(PATIENT, &trusting(&server_pki)).unwrap();
        let error = trusting_the_ca
            .call(get(&format!("https://127.0.0.1:{port}/")))
            .await
            .unwrap_err();
        assert!(
            format!("{:?}", error).contains("certificate verify failed"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn plain_http_endpoints_need_no_tls() {
        let (port, _) = server(None);
        let connector = connector(PATIENT, &trusting(&test_pki("plain"))).unwrap();
        let response = connector
            .call(get(&format!("http://127.0.0.1:{port}/")))
            .await
            .unwrap();
        assert_eq!(body(response).await, "hello");
    }

    #[tokio::test]
    async fn a_handshake_that_never_ends_is_a_connect_timeout() {
        // Accepts TCP connections and never answers the TLS handshake.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let held: Vec<TcpStream> = listener.incoming().map_while(Result::ok).collect();
            drop(held);
        });
        let pki = test_pki("stalled");
        let connector =
            connector((Some(Duration::from_millis(200)), None), &trusting(&pki)).unwrap();
        let started = Instant::now();
        let error = connector
            .call(get(&format!("https://localhost:{port}/")))
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_response_that_never_comes_is_a_read_timeout() {
        // Accepts TCP connections and never answers the request.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let held: Vec<TcpStream> = listener.incoming().map_while(Result::ok).collect();
            drop(held);
        });
        let pki = test_pki("silent");
        let connector =
            connector((None, Some(Duration::from_millis(200))), &trusting(&pki)).unwrap();
        let error = connector
            .call(get(&format!("http://127.0.0.1:{port}/")))
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_transient_io_error() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let pki = test_pki("refused");
        let connector = connector(PATIENT, &trusting(&pki)).unwrap();
        let error = connector
            .call(get(&format!("http://127.0.0.1:{port}/")))
            .await
            .unwrap_err();
        assert!(error.is_io(), "{error:?}");
    }
}
