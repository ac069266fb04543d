//! The console's routes: login and logout, then pages that need a session (or none when
//! authentication is off). Handlers only gather (see [`super::data`]) and render (see
//! [`super::pages`]).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use idic_runtime::config::Secret;
use maud::Markup;
use serde::Deserialize;

use super::data::{self, Calls, SearchOutcome};
use super::session::{self, SessionUser};
use super::state::ConsoleState;
use super::{charts, pages};

/// A header value that is always valid (constant text).
fn constant_header(text: &'static str) -> HeaderValue {
    HeaderValue::from_static(text)
}

/// Forms are small: a key or a search text.
const MAX_FORM_BYTES: usize = 16 * 1024;
/// Longer customer ids are not ids.
const MAX_CUSTOMER_ID_BYTES: usize = 200;

pub fn routes(state: Arc<ConsoleState>) -> Router {
    let pages = Router::new()
        .route("/console/", get(search_page))
        .route("/console/search", post(search))
        .route("/console/customers/{customer_id}", get(customer))
        .route("/console/value", get(value))
        .route("/console/channels", get(channels))
        .route("/console/learning", get(learning))
        .route("/console/logout", post(logout))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_user,
        ));
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/login", get(login_page).post(login))
        .merge(pages)
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// The user of a request: the session's, or anonymous when authentication is off. A
/// request without a live session, or whose key was revoked since login, goes to login.
async fn require_user(
    State(state): State<Arc<ConsoleState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let user = if state.authenticator.enabled() {
        let Some(token) = session::token_from_cookies(request.headers()) else {
            return Redirect::to("/console/login").into_response();
        };
        let still_valid = state.sessions.user(&token).filter(|user| {
            user.key
                .as_ref()
                .and_then(|key| state.authenticator.client_for_key(key.expose()))
                .is_some()
        });
        match still_valid {
            Some(user) => user,
            None => {
                state.sessions.close(&token);
                return Redirect::to("/console/login").into_response();
            }
        }
    } else {
        SessionUser {
            client: "anonymous (authentication is off)".to_owned(),
            key: None,
        }
    };
    request.extensions_mut().insert(user);
    next.run(request).await
}

/// Pages hold customer data: never cached, never framed, no scripts, no referrer.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, constant_header("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, constant_header("DENY"));
    headers.insert(header::REFERRER_POLICY, constant_header("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, constant_header("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        constant_header(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

fn page(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

async fn login_page(State(state): State<Arc<ConsoleState>>) -> Response {
    if !state.authenticator.enabled() {
        return Redirect::to("/console/").into_response();
    }
    page(pages::login(None))
}

#[derive(Deserialize)]
struct LoginForm {
    api_key: String,
}

/// Checks the key against the keys this process accepts and opens a session. The key
/// travels once, in the form's body; the browser keeps only the session token.
async fn login(State(state): State<Arc<ConsoleState>>, Form(form): Form<LoginForm>) -> Response {
    if !state.authenticator.enabled() {
        return Redirect::to("/console/").into_response();
    }
    let key = form.api_key.trim();
    let Some(client) = state.authenticator.client_for_key(key) else {
        tracing::info!(target: "idic::access", "console login refused: unknown API key");
        return (
            StatusCode::UNAUTHORIZED,
            page(pages::login(Some("Unknown API key."))),
        )
            .into_response();
    };
    tracing::info!(target: "idic::access", client = %client, "console login");
    let token = state.sessions.open(SessionUser {
        client,
        key: Some(Secret::new(key)),
    });
    let mut response = Redirect::to("/console/").into_response();
    if let Ok(cookie) = session::session_cookie(&token, session::SESSION_LIFETIME).parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn logout(State(state): State<Arc<ConsoleState>>, headers: HeaderMap) -> Response {
    if let Some(token) = session::token_from_cookies(&headers) {
        state.sessions.close(&token);
    }
    let mut response = Redirect::to("/console/login").into_response();
    if let Ok(cookie) = session::cleared_cookie().parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn search_page(Extension(user): Extension<SessionUser>) -> Response {
    page(pages::search(&user, None, &[]))
}

#[derive(Deserialize)]
struct SearchForm {
    query: String,
}

/// A search is POSTed so that what was searched for stays out of URLs and logs.
async fn search(
    State(state): State<Arc<ConsoleState>>,
    Extension(user): Extension<SessionUser>,
    Form(form): Form<SearchForm>,
) -> Response {
    let calls = Calls {
        peers: &state.peers,
        key: user.key.as_ref(),
    };
    match data::search(&calls, &form.query).await {
        Ok(SearchOutcome::Customer(customer_id)) => {
            Redirect::to(&format!("/console/customers/{customer_id}")).into_response()
        }
        Ok(SearchOutcome::Candidates(candidates)) => page(pages::search(
            &user,
            Some(&format!("{} possible customers:", candidates.len())),
            &candidates,
        )),
        Ok(SearchOutcome::NotFound) => page(pages::search(&user, Some("No customer found."), &[])),
        Ok(SearchOutcome::Unreadable(why)) => page(pages::search(&user, Some(&why), &[])),
        Err(status) => page(pages::search(
            &user,
            Some(&format!("The search failed: {}", status.message())),
            &[],
        )),
    }
}

async fn customer(
    State(state): State<Arc<ConsoleState>>,
    Extension(user): Extension<SessionUser>,
    Path(customer_id): Path<String>,
) -> Response {
    if customer_id.len() > MAX_CUSTOMER_ID_BYTES {
        return (
            StatusCode::NOT_FOUND,
            page(pages::not_found(&user, "No such customer.")),
        )
            .into_response();
    }
    let calls = Calls {
        peers: &state.peers,
        key: user.key.as_ref(),
    };
    let view = data::customer_view(&calls, &customer_id).await;
    if let Err(status) = &view.customer
        && status.code() == tonic::Code::NotFound
    {
        return (
            StatusCode::NOT_FOUND,
            page(pages::not_found(&user, "No such customer.")),
        )
            .into_response();
    }
    page(pages::customer(&user, &customer_id, &view))
}

async fn value(
    State(state): State<Arc<ConsoleState>>,
    Extension(user): Extension<SessionUser>,
) -> Response {
    let calls = Calls {
        peers: &state.peers,
        key: user.key.as_ref(),
    };
    let (skew, strategy) = data::value_overview(&calls).await;
    let chart = skew.as_ref().ok().and_then(|skew| {
        let points: Vec<(f64, f64)> = skew
            .lorenz
            .iter()
            .map(|point| (point.customer_share, point.value_share))
            .collect();
        let marks: Vec<(f64, f64)> = skew
            .top_shares
            .iter()
            .filter(|top| top.top_percent == 2.0 || top.top_percent == 20.0)
            .map(|top| (top.top_percent, top.value_share))
            .collect();
        chart_or_log(charts::lorenz(&points, &marks, skew.gini))
    });
    page(pages::value(&user, &skew, &strategy, chart.as_deref()))
}

async fn channels(
    State(state): State<Arc<ConsoleState>>,
    Extension(user): Extension<SessionUser>,
) -> Response {
    let calls = Calls {
        peers: &state.peers,
        key: user.key.as_ref(),
    };
    let report = data::channel_report(&calls).await;
    let chart = report.as_ref().ok().and_then(|report| {
        let labels: Vec<String> = report
            .channels
            .iter()
            .map(|figures| super::format::channel(figures.channel))
            .collect();
        let contacts: Vec<f64> = report
            .channels
            .iter()
            .map(|figures| figures.contacts as f64)
            .collect();
        chart_or_log(charts::bars(
            "Contacts per channel",
            &labels,
            &contacts,
            "contacts",
            false,
        ))
    });
    page(pages::channels(&user, &report, chart.as_deref()))
}

async fn learning(
    State(state): State<Arc<ConsoleState>>,
    Extension(user): Extension<SessionUser>,
) -> Response {
    let calls = Calls {
        peers: &state.peers,
        key: user.key.as_ref(),
    };
    let report = data::learning_report(&calls).await;
    // The curve over time (the same chart as `idic report learning --svg`); before
    // any outcome there is nothing to draw and the table says so.
    let chart = report
        .as_ref()
        .ok()
        .filter(|report| !report.periods.is_empty())
        .and_then(|report| {
            chart_or_log(
                crate::cli::charts::learning_svg(report, data::LEARNING_PERIOD_DAYS)
                    .map_err(|error| error.to_string()),
            )
        });
    page(pages::learning(&user, &report, chart.as_deref()))
}

/// A chart that could not be drawn leaves the page without it (the table stays).
fn chart_or_log(chart: Result<String, String>) -> Option<String> {
    chart
        .inspect_err(|error| tracing::warn!(error = %error, "console chart not drawn"))
        .ok()
}
