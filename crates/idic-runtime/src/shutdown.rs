//! The shutdown signal: SIGTERM (Kubernetes) or SIGINT (Ctrl-C).

use std::future::Future;

/// Listens for SIGTERM and SIGINT from this call on; the future completes on the
/// first. Call it before announcing that the process listens: a signal that arrives
/// before anyone listens for it takes its default action and ends the process without
/// draining (a test that stopped a server right after its start saw no shutdown).
/// Must be called inside the Tokio runtime.
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            tokio::select! {
                () = received(interrupt, "SIGINT") => tracing::info!("SIGINT received"),
                () = received(terminate, "SIGTERM") => tracing::info!("SIGTERM received"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::error!(%error, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
            tracing::info!("Ctrl-C received");
        }
    }
}

/// Completes when `listener` sees its signal; never, when it could not be set up.
#[cfg(unix)]
async fn received(listener: std::io::Result<tokio::signal::unix::Signal>, name: &str) {
    match listener {
        Ok(mut listener) => {
            listener.recv().await;
        }
        Err(error) => {
            tracing::error!(%error, "cannot listen for {name}");
            std::future::pending::<()>().await;
        }
    }
}
