//! The one mapping from domain errors to `tonic::Status`.
//!
//! Handlers return [`ApiError`]; bad input carries `google.rpc.BadRequest` field
//! violations so that a client can point at the offending field, and internal failures
//! are logged with their cause chain but reach the client only as a generic message.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One offending field of a request, by its path in the request message
/// (e.g. `customer.identifier.value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }

    /// The same violation, nested under `parent` (`customer` + `value` -> `customer.value`).
    pub fn under(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// A peer refused a call made for the caller: the message names the missing scope.
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after: Duration,
    },
    #[error("deadline exceeded: {0}")]
    DeadlineExceeded(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|violation| format!("{}: {}", violation.field, violation.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        ApiError::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound(message.into())
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(error.into())
    }
}

impl From<FieldViolation> for ApiError {
    fn from(violation: FieldViolation) -> Self {
        ApiError::InvalidArgument(vec![violation])
    }
}

impl From<Vec<FieldViolation>> for ApiError {
    fn from(violations: Vec<FieldViolation>) -> Self {
        ApiError::InvalidArgument(violations)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut => ApiError::Unavailable {
                message: "storage is busy".to_owned(),
                retry_after: Duration::from_millis(200),
            },
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for violation in &violations {
                    details.add_bad_request_violation(&violation.field, &violation.description);
                }
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid argument: {}", describe(&violations)),
                    details,
                )
            }
            ApiError::NotFound(message) => Status::not_found(message),
            ApiError::AlreadyExists(message) => Status::already_exists(message),
            ApiError::FailedPrecondition(message) => Status::failed_precondition(message),
            ApiError::PermissionDenied(message) => Status::permission_denied(message),
            ApiError::DeadlineExceeded(message) => Status::deadline_exceeded(message),
            ApiError::Unavailable {
                message,
                retry_after,
            } => unavailable(message, retry_after),
            ApiError::Internal(cause) => {
                // The cause chain may hold SQL or peer details: log it, do not send it.
                tracing::error!(error = format!("{cause:#}"), "internal error");
                Status::internal("internal error")
            }
        }
    }
}

/// UNAVAILABLE with a `google.rpc.RetryInfo` telling the client when to try again.
pub fn unavailable(message: impl Into<String>, retry_after: Duration) -> Status {
    Status::with_error_details(
        Code::Unavailable,
        message,
        ErrorDetails::with_retry_info(Some(retry_after)),
    )
}

/// Handler results: `?` on any domain error, converted to `Status` once at the edge.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_every_field() {
        let status: Status = ApiError::InvalidArgument(vec![
            FieldViolation::new("value", "must not be empty").under("customer.identifier"),
            FieldViolation::new("page.page_size", "at most 1000"),
        ])
        .into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad_request = details.bad_request().expect("BadRequest detail");
        let fields: Vec<_> = bad_request
            .field_violations
            .iter()
            .map(|violation| violation.field.as_str())
            .collect();
        assert_eq!(fields, ["customer.identifier.value", "page.page_size"]);
        assert!(status.message().contains("customer.identifier.value"));
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let status: Status =
            ApiError::internal(anyhow::anyhow!("relation \"secret_table\" does not exist")).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret_table"));
    }

    #[test]
    fn unavailable_carries_retry_info() {
        let status = unavailable("overloaded", Duration::from_millis(250));
        let details = status.get_error_details();
        let retry = details.retry_info().expect("RetryInfo detail");
        assert_eq!(retry.retry_delay, Some(Duration::from_millis(250)));
    }
}
