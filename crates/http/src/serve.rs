//! One binary, two modes: inside Lambda (`AWS_LAMBDA_RUNTIME_API` set) the router runs under `lambda_http`;
//! anywhere else it is served as a plain local HTTP server.

use axum::Router;
use std::net::SocketAddr;
use tracing_subscriber::EnvFilter;

/// Whether this process runs inside AWS Lambda.
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Logs: JSON in Lambda (CloudWatch, with the JSON log format), human-readable elsewhere. `RUST_LOG` filters.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if in_lambda() {
        builder
            .json()
            .without_time()
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
    // A second call (tests, devstack embedding a function) keeps the first subscriber.
    let _ = result;
}

/// Serve `router`: under Lambda, or on `local_addr`.
pub async fn serve(router: Router, local_addr: SocketAddr) -> Result<(), lambda_http::Error> {
    if in_lambda() {
        lambda_http::run(router).await
    } else {
        let listener = tokio::net::TcpListener::bind(local_addr).await?;
        tracing::info!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
