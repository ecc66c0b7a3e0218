//! MSK over TLS, as it runs on Lambda: the only CA that can verify the broker sits in the system trust store at the
//! path Amazon Linux (`provided.al2023`) uses, `/etc/pki/tls/certs/ca-bundle.crt`, and the client configuration
//! names no CA path.
//!
//! The broker is the embedded Kafka behind a TLS-terminating proxy whose certificate a fresh test CA signs. Each
//! check runs this test binary again in a private mount namespace (`unshare`: an unprivileged user namespace is
//! enough) where `/etc` is an overlay holding that CA bundle, so the machine's real `/etc` is never touched:
//! 1. our MSK client settings connect;
//! 2. the same settings without `ssl.ca.location=probe` do not (librdkafka's vendored OpenSSL looks under its
//!    build-time directory, which Lambda does not have): the check can fail;
//! 3. our settings without the CA in the bundle do not either: the certificate really is verified.

use rdkafka::consumer::{BaseConsumer, Consumer};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tributary_kafka::client_config;
use tributary_kafka::local::EmbeddedKafka;

/// Set in the child process: `<bootstrap> <probe|no-probe>`.
const CHILD_ENV: &str = "TRIBUTARY_TLS_CHECK";
/// Where `provided.al2023` keeps its CA bundle.
const AMAZON_LINUX_CA_BUNDLE: &str = "pki/tls/certs/ca-bundle.crt";

/// A CA, and a broker certificate for 127.0.0.1 / localhost that it signed (PEM).
struct TestPki {
    ca_pem: String,
    server_cert_der: Vec<u8>,
    server_key_der: Vec<u8>,
}

fn test_pki() -> TestPki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Tributary test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let mut server_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    server_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "127.0.0.1");
    let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();
    TestPki {
        ca_pem: ca.pem(),
        server_cert_der: server.der().to_vec(),
        server_key_der: server_key.serialize_der(),
    }
}

/// A TLS listener on loopback that forwards every connection to `upstream` in plaintext. Returns its address.
async fn tls_proxy(pki: &TestPki, upstream: String) -> String {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.server_cert_der.clone().into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(pki.server_key_der.clone().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                // A client that does not trust the certificate aborts the handshake: nothing to forward.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                if let Ok(mut broker) = TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
                }
            });
        }
    });
    address
}

/// Run the child check in a mount namespace whose `/etc` has `ca_bundle` (if any) at the Amazon Linux path.
fn check_in_namespace(bootstrap: &str, mode: &str, ca_bundle: Option<&str>) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("tributary-tls-{}", uuid::Uuid::new_v4().simple()));
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&upper).unwrap();
    if let Some(pem) = ca_bundle {
        let bundle = upper.join(AMAZON_LINUX_CA_BUNDLE);
        std::fs::create_dir_all(bundle.parent().unwrap()).unwrap();
        std::fs::write(&bundle, pem).unwrap();
    }
    let script = format!(
        "mount -t overlay overlay -o lowerdir=/etc,upperdir={},workdir={} /etc && exec \"$0\" tls_check_child --exact --include-ignored --nocapture",
        upper.display(),
        work.display()
    );
    let output = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
        .arg(std::env::current_exe().unwrap())
        .env(CHILD_ENV, format!("{bootstrap} {mode}"))
        .output()
        .expect("unshare (util-linux) runs: the TLS check needs a private mount namespace");
    let _ = std::fs::remove_dir_all(&dir);
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !log.contains("mount:") && !log.contains("unshare:"),
        "the private mount namespace could not be set up: {log}"
    );
    assert!(
        log.contains("tls_check_child"),
        "the child check ran: {log}"
    );
    (output.status.success(), log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msk_clients_trust_the_ca_bundle_where_amazon_linux_keeps_it() {
    let kafka = EmbeddedKafka::start().unwrap();
    let broker = kafka
        .bootstrap_servers()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let pki = test_pki();
    let proxy = tls_proxy(&pki, broker).await;
    let check = |mode: &'static str, bundle: Option<String>| {
        let proxy = proxy.clone();
        tokio::task::spawn_blocking(move || check_in_namespace(&proxy, mode, bundle.as_deref()))
    };

    let (connected, log) = check("probe", Some(pki.ca_pem.clone())).await.unwrap();
    assert!(
        connected,
        "our MSK settings verify the broker with /etc/pki's bundle:\n{log}"
    );

    let (connected, log) = check("no-probe", Some(pki.ca_pem.clone())).await.unwrap();
    assert!(
        !connected,
        "without ssl.ca.location=probe the vendored OpenSSL does not find /etc/pki's bundle:\n{log}"
    );

    let (connected, log) = check("probe", None).await.unwrap();
    assert!(
        !connected,
        "an untrusted broker certificate is refused:\n{log}"
    );
}

/// The check itself, run by the test above inside its namespace (ignored in a normal run).
#[test]
#[ignore = "run by msk_clients_trust_the_ca_bundle_where_amazon_linux_keeps_it in a private mount namespace"]
fn tls_check_child() {
    let spec = std::env::var(CHILD_ENV).expect("started by the TLS trust-store test");
    let (bootstrap, mode) = spec.split_once(' ').unwrap();
    // Our MSK client settings (SASL_SSL with OAUTHBEARER, and the trust-store settings). The local broker speaks TLS
    // without SASL, so only SASL is turned off; every TLS setting stays as deployed.
    let mut config = client_config(bootstrap, true);
    config
        .set("security.protocol", "SSL")
        .remove("sasl.mechanism");
    if mode == "no-probe" {
        config.remove("ssl.ca.location");
    }
    println!(
        "checking {bootstrap} with ssl.ca.location={:?}; CA bundle at /etc/{AMAZON_LINUX_CA_BUNDLE}: {}",
        config.get("ssl.ca.location"),
        Path::new("/etc").join(AMAZON_LINUX_CA_BUNDLE).exists()
    );
    let consumer: BaseConsumer = config
        .set("group.id", "tls-check")
        .create()
        .expect("a client");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(6))
        .expect("metadata over TLS");
    println!("connected: {} broker(s)", metadata.brokers().len());
}
