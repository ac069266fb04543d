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
            let terminated = async {
                match terminate {
                    Ok(mut terminate) => {
                        terminate.recv().await;
                    }
                    Err(error) => {
                        tracing::error!(%error, "cannot listen for SIGTERM");
                        std::future::pending::<()>().await;
                    }
                }
            };
            let interrupted = async {
                match interrupt {
                    Ok(mut interrupt) => {
                        interrupt.recv().await;
                    }
                    Err(error) => {
                        tracing::error!(%error, "cannot listen for SIGINT");
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                () = interrupted => tracing::info!("SIGINT received"),
                () = terminated => tracing::info!("SIGTERM received"),
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
