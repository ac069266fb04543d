//! The one mapping from domain errors to `tonic::Status`.
//!
//! Handlers return [`ApiError`]; bad input carries `google.rpc.BadRequest` field
//! violations so that a client can point at the offending field, and internal failures
//! are logged with their cause chain but reach the client only as a generic message.
//!
//! What a status echoes back is bounded here, once for every service: a request with
//! 100,000 bad values must still get a small INVALID_ARGUMENT, not a multi-megabyte one
//! that the client's 16 KiB header limit turns into RESOURCE_EXHAUSTED. The message
//! names the first few violations, the `BadRequest` lists at most
//! [`MAX_LISTED_VIOLATIONS`] and says how many more there were, and every echoed text is
//! cut at a fixed length.

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

/// The most field violations a `BadRequest` detail lists; the rest are counted.
pub const MAX_LISTED_VIOLATIONS: usize = 20;
/// The most violations the status message names; the details list more.
const MAX_VIOLATIONS_IN_MESSAGE: usize = 3;
/// The longest field path echoed, in bytes (paths such as `events[12].amount` are far
/// shorter; a longer one echoes a caller's map key).
const MAX_FIELD_BYTES: usize = 80;
/// The longest violation description echoed, in bytes.
const MAX_DESCRIPTION_BYTES: usize = 120;
/// The longest status message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 512;

/// `text` cut to at most `max_bytes` on a character boundary, marked with an ellipsis
/// when it was cut.
pub fn bounded(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    const ELLIPSIS: &str = "…";
    let mut end = max_bytes.saturating_sub(ELLIPSIS.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}", &text[..end])
}

/// One violation as it is echoed: field and description bounded.
fn echoed(violation: &FieldViolation) -> FieldViolation {
    FieldViolation::new(
        bounded(&violation.field, MAX_FIELD_BYTES),
        bounded(&violation.description, MAX_DESCRIPTION_BYTES),
    )
}

/// "and N more" for the violations left out of a list, if any.
fn more_than_listed(total: usize, listed: usize) -> Option<String> {
    (total > listed).then(|| {
        let more = total - listed;
        let noun = if more == 1 { "violation" } else { "violations" };
        format!("and {more} more {noun}")
    })
}

/// The status message: the first few violations and how many more there are.
fn describe(violations: &[FieldViolation]) -> String {
    let listed = violations.len().min(MAX_VIOLATIONS_IN_MESSAGE);
    let mut parts: Vec<String> = violations[..listed]
        .iter()
        .map(echoed)
        .map(|violation| format!("{}: {}", violation.field, violation.description))
        .collect();
    parts.extend(more_than_listed(violations.len(), listed));
    bounded(&parts.join("; "), MAX_MESSAGE_BYTES)
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
            other if transient_sql(&other) => storage_unavailable(),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::InvalidArgument(violations) => {
                let listed = violations.len().min(MAX_LISTED_VIOLATIONS);
                let mut details = ErrorDetails::new();
                for violation in violations[..listed].iter().map(echoed) {
                    details.add_bad_request_violation(violation.field, violation.description);
                }
                if let Some(more) = more_than_listed(violations.len(), listed) {
                    details.add_bad_request_violation("", more);
                }
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid argument: {}", describe(&violations)),
                    details,
                )
            }
            ApiError::NotFound(message) => Status::not_found(bounded(&message, MAX_MESSAGE_BYTES)),
            ApiError::AlreadyExists(message) => {
                Status::already_exists(bounded(&message, MAX_MESSAGE_BYTES))
            }
            ApiError::FailedPrecondition(message) => {
                Status::failed_precondition(bounded(&message, MAX_MESSAGE_BYTES))
            }
            ApiError::PermissionDenied(message) => {
                Status::permission_denied(bounded(&message, MAX_MESSAGE_BYTES))
            }
            ApiError::DeadlineExceeded(message) => {
                Status::deadline_exceeded(bounded(&message, MAX_MESSAGE_BYTES))
            }
            ApiError::Unavailable {
                message,
                retry_after,
            } => unavailable(bounded(&message, MAX_MESSAGE_BYTES), retry_after),
            ApiError::Internal(cause) if is_transient(&cause) => {
                tracing::warn!(error = format!("{cause:#}"), "storage unavailable");
                unavailable(STORAGE_UNAVAILABLE, STORAGE_RETRY_AFTER)
            }
            ApiError::Internal(cause) => {
                // The cause chain may hold SQL or peer details: log it, do not send it.
                tracing::error!(error = format!("{cause:#}"), "internal error");
                Status::internal("internal error")
            }
        }
    }
}

/// The answer while the database or Redis cannot be reached (restarted, failing over,
/// connections cut): nothing was stored that the retry would repeat, since every write
/// is idempotent by its key.
fn storage_unavailable() -> ApiError {
    ApiError::Unavailable {
        message: STORAGE_UNAVAILABLE.to_owned(),
        retry_after: STORAGE_RETRY_AFTER,
    }
}

const STORAGE_UNAVAILABLE: &str = "storage is unavailable; retry";
const STORAGE_RETRY_AFTER: Duration = Duration::from_millis(500);

/// Whether `cause` is a lost, refused or timed-out connection to PostgreSQL or Redis
/// (or a server shutting down), which goes away by itself: the client should retry,
/// not report a bug. Found anywhere in the cause chain, so every `ApiError::internal`
/// of a store call is covered.
fn is_transient(cause: &anyhow::Error) -> bool {
    cause.chain().any(|error| {
        if let Some(sql) = error.downcast_ref::<sqlx::Error>() {
            return transient_sql(sql);
        }
        if let Some(redis) = error.downcast_ref::<redis::RedisError>() {
            return redis.is_io_error()
                || redis.is_connection_dropped()
                || redis.is_connection_refusal()
                || redis.is_timeout();
        }
        false
    })
}

/// SQLSTATE classes of a connection lost or refused (08), an operator intervention
/// such as a shutdown or restart (57P01..57P03), too many connections (53300).
fn transient_sql(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }),
        _ => false,
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

/// Keeps a parsed value, or notes why it could not be parsed. Handlers collect every
/// violation of a request this way and refuse it once with
/// [`refuse_violations`], so that a caller hears of every bad field at once.
pub fn collect<T>(
    result: Result<T, FieldViolation>,
    violations: &mut Vec<FieldViolation>,
) -> Option<T> {
    result.map_err(|violation| violations.push(violation)).ok()
}

/// INVALID_ARGUMENT naming every collected violation; Ok when there is none.
pub fn refuse_violations(violations: Vec<FieldViolation>) -> ApiResult<()> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ApiError::InvalidArgument(violations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_database_connection_is_unavailable_not_internal() {
        let lost = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let status: Status = ApiError::from(lost).into();
        assert_eq!(status.code(), Code::Unavailable);
        let wrapped = ApiError::internal(
            anyhow::Error::from(sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::UnexpectedEof,
            )))
            .context("inserting a transaction"),
        );
        let status: Status = wrapped.into();
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.get_error_details().retry_info().is_some());
        let bug: Status = ApiError::internal(anyhow::anyhow!("a broken invariant")).into();
        assert_eq!(bug.code(), Code::Internal);
        let decode: Status = ApiError::from(sqlx::Error::ColumnNotFound("x".into())).into();
        assert_eq!(decode.code(), Code::Internal);
    }

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
    fn a_flood_of_violations_is_bounded_and_counted() {
        let long_value = "x".repeat(100_000);
        let violations: Vec<FieldViolation> = (0..100_000)
            .map(|index| {
                FieldViolation::new(
                    format!("channels[{index}]"),
                    format!("'{long_value}' is not a Channel"),
                )
            })
            .collect();
        let status: Status = ApiError::InvalidArgument(violations).into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().len() <= "invalid argument: ".len() + MAX_MESSAGE_BYTES);
        assert!(
            status
                .message()
                .starts_with("invalid argument: channels[0]: ")
        );
        assert!(
            status.details().len() < 8 * 1024,
            "{}",
            status.details().len()
        );
        let details = status.get_error_details();
        let listed = &details.bad_request().expect("BadRequest").field_violations;
        assert_eq!(listed.len(), MAX_LISTED_VIOLATIONS + 1);
        assert_eq!(listed[0].field, "channels[0]");
        assert!(listed[0].description.len() <= MAX_DESCRIPTION_BYTES);
        assert_eq!(
            listed[MAX_LISTED_VIOLATIONS].description,
            format!("and {} more violations", 100_000 - MAX_LISTED_VIOLATIONS)
        );
    }

    #[test]
    fn echoed_messages_are_cut_on_a_character_boundary() {
        let status: Status =
            ApiError::not_found(format!("customer {} not found", "é".repeat(5_000))).into();
        assert!(status.message().len() <= MAX_MESSAGE_BYTES);
        assert!(status.message().ends_with('…'));
        assert_eq!(bounded("short", 10), "short");
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
