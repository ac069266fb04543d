//! Refuses calls without valid credentials or without the scope the RPC needs, records
//! the caller in the request's extensions for handlers, and runs the handler on the
//! caller's behalf, so that peer calls it makes carry the caller's scopes.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};

use super::{GrpcRequest, GrpcResponse, refuse};
use crate::auth::{Authenticator, Caller, is_public_path};
use crate::delegation::acting_for;

#[derive(Clone)]
pub struct AuthLayer {
    authenticator: Arc<Authenticator>,
}

impl AuthLayer {
    pub fn new(authenticator: Arc<Authenticator>) -> Self {
        AuthLayer { authenticator }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            authenticator: self.authenticator.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    authenticator: Arc<Authenticator>,
}

impl<S> Service<GrpcRequest> for Auth<S>
where
    S: Service<GrpcRequest, Response = GrpcResponse>,
{
    type Response = GrpcResponse;
    type Error = S::Error;
    type Future =
        Either<Ready<Result<GrpcResponse, S::Error>>, TaskLocalFuture<Option<Caller>, S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: GrpcRequest) -> Self::Future {
        if is_public_path(request.uri().path()) {
            return Either::Right(acting_for(None, self.inner.call(request)));
        }
        match self
            .authenticator
            .authorize(request.uri().path(), request.headers())
        {
            Ok(caller) => {
                request.extensions_mut().insert(caller.clone());
                Either::Right(acting_for(Some(caller), self.inner.call(request)))
            }
            Err(status) => Either::Left(ready(Ok(refuse(status)))),
        }
    }
}
