//! Concurrency limit with load shedding: past the limit a call is answered at once with
//! UNAVAILABLE and a retry hint instead of queueing, so an overloaded server keeps its
//! latency for the calls it does accept. Health checks are never shed, so that
//! Kubernetes does not restart a pod for being busy.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use super::{GrpcRequest, GrpcResponse, refuse};
use crate::auth::is_public_path;
use crate::error::unavailable;

#[derive(Clone)]
pub struct LoadShedLayer {
    permits: Arc<Semaphore>,
}

impl LoadShedLayer {
    pub fn new(limit: usize) -> Self {
        LoadShedLayer {
            permits: Arc::new(Semaphore::new(limit)),
        }
    }
}

impl<S> Layer<S> for LoadShedLayer {
    type Service = LoadShed<S>;
    fn layer(&self, inner: S) -> Self::Service {
        LoadShed {
            inner,
            permits: self.permits.clone(),
        }
    }
}

#[derive(Clone)]
pub struct LoadShed<S> {
    inner: S,
    permits: Arc<Semaphore>,
}

impl<S> Service<GrpcRequest> for LoadShed<S>
where
    S: Service<GrpcRequest, Response = GrpcResponse> + Send,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = GrpcResponse;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<GrpcResponse, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: GrpcRequest) -> Self::Future {
        if is_public_path(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            ::metrics::counter!("idic_grpc_shed_total").increment(1);
            let status = unavailable("server overloaded, retry later", Duration::from_millis(100));
            return Box::pin(futures::future::ready(Ok(refuse(status))));
        };
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await;
            drop(permit);
            response
        })
    }
}
