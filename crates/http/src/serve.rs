//! One binary, two modes: inside Lambda (`AWS_LAMBDA_RUNTIME_API` set) the router runs under `lambda_http`;
//! anywhere else it is served as a plain local HTTP server.

use axum::Router;
use std::net::SocketAddr;
use tributary_runtime::in_lambda;

/// Serve `router`: under Lambda, or on `local_addr`.
pub async fn serve(router: Router, local_addr: SocketAddr) -> Result<(), lambda_http::Error> {
    if in_lambda() {
        lambda_http::run(router).await
    } else {
        let listener = tokio::net::TcpListener::bind(local_addr).await?;
        tracing::info!("listening on http://{}", listener.local_addr()?);
        axum::serve(crate::listener::ProblemListener(listener), router)
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
