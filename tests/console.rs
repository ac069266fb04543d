//! The operator console in a real browser: Debian's headless Chromium, driven through
//! chromedriver (the W3C WebDriver protocol, spoken by a few lines below). An operator is sent to the login page, logs in with an API key, finds
//! a customer seen in three channels by e-mail and sees the 360 view; then the value,
//! channel and learning pages. Plain HTTP checks cover what a browser hides: the
//! session cookie's flags, redirects without a session, a revoked or wrong key.

mod admin_http;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use admin_http::{AdminSuite, client, http};
use futures::FutureExt as _;
use idic_proto::v1 as pb;
use idic_proto::v1::customization_service_client::CustomizationServiceClient;
use idic_proto::v1::differentiation_service_client::DifferentiationServiceClient;
use idic_proto::v1::identity_service_client::IdentityServiceClient;
use idic_proto::v1::interaction_service_client::InteractionServiceClient;
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

fn by_email(email: &str) -> Option<pb::CustomerRef> {
    Some(pb::CustomerRef {
        r#ref: Some(pb::customer_ref::Ref::Identifier(pb::Identifier {
            kind: pb::IdentifierKind::Email as i32,
            value: email.to_owned(),
            ..Default::default()
        })),
    })
}

fn eur(minor_units: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency: "EUR".into(),
        minor_units,
    })
}

fn record(
    source: &str,
    id: &str,
    channel: pb::Channel,
    emails: &[&str],
    phones: &[&str],
) -> pb::SourceRecord {
    pb::SourceRecord {
        source_system: source.into(),
        source_record_id: id.into(),
        channel: channel as i32,
        name: Some(pb::PersonName {
            given: "Jane".into(),
            family: "Doe".into(),
            ..Default::default()
        }),
        date_of_birth: "1984-03-12".into(),
        emails: emails.iter().map(|e| (*e).to_owned()).collect(),
        phones: phones.iter().map(|p| (*p).to_owned()).collect(),
        ..Default::default()
    }
}

/// A small company: Jane Doe seen by the CRM, the web shop and a store (one customer
/// after matching), a few other customers with purchases, a complaint, a catalog and
/// an offering made to Jane. Returns Jane's customer id.
async fn seed(suite: &AdminSuite, key: &str) -> String {
    let channel = suite.channel(Some(key));
    let mut identity = IdentityServiceClient::new(channel.clone());
    let mut customer_id = String::new();
    for source in [
        record(
            "crm",
            "c-1",
            pb::Channel::CallCenter,
            &["jane.doe@example.com"],
            &["+44 20 7946 0958"],
        ),
        record(
            "webshop",
            "w-9",
            pb::Channel::Web,
            &["jane.doe@example.com"],
            &[],
        ),
        record(
            "store",
            "s-4",
            pb::Channel::Store,
            &[],
            &["+44 20 7946 0958"],
        ),
    ] {
        customer_id = identity
            .upsert_record(pb::UpsertRecordRequest {
                record: Some(source),
                strict: false,
            })
            .await
            .unwrap()
            .into_inner()
            .customer_id;
    }
    let mut transactions = Vec::new();
    for (index, amount) in [(0, 120_000), (1, 9_000), (2, 4_000), (3, 1_500), (4, 800)] {
        let customer = if index == 0 {
            by_email("jane.doe@example.com")
        } else {
            by_email(&format!("other{index}@example.com"))
        };
        transactions.push(pb::TransactionInput {
            customer,
            order_id: format!("order-{index}"),
            kind: pb::TransactionKind::Purchase as i32,
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_772_445_600 + index * 86_400,
                nanos: 0,
            }),
            amount: eur(amount),
            channel: pb::Channel::Web as i32,
            ..Default::default()
        });
    }
    DifferentiationServiceClient::new(channel.clone())
        .record_transactions(pb::RecordTransactionsRequest {
            transactions,
            strict: false,
        })
        .await
        .unwrap();
    InteractionServiceClient::new(channel.clone())
        .record_interaction(pb::RecordInteractionRequest {
            customer: by_email("jane.doe@example.com"),
            channel: pb::Channel::CallCenter as i32,
            r#type: pb::InteractionType::Complaint as i32,
            direction: pb::Direction::Inbound as i32,
            topic: "late delivery".into(),
            summary: "Parcel two weeks late".into(),
            open_thread: true,
            idempotency_key: "call-1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut customization = CustomizationServiceClient::new(channel);
    let component = |id: &str, name: &str, slot: pb::Slot| pb::Component {
        component_id: id.into(),
        slot: slot as i32,
        name: name.into(),
        cost: eur(100),
        available: true,
        ..Default::default()
    };
    customization
        .upsert_components(pb::UpsertComponentsRequest {
            components: vec![
                component("packaging.standard", "standard box", pb::Slot::Packaging),
                component("delivery.express", "express delivery", pb::Slot::Delivery),
            ],
        })
        .await
        .unwrap();
    let offering = customization
        .get_tailored_offering(pb::GetTailoredOfferingRequest {
            customer: by_email("jane.doe@example.com"),
            channel: pb::Channel::CallCenter as i32,
            idempotency_key: "offer-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // Jane takes the first choice: an outcome, so the learning page has a curve to draw.
    let first_slot = offering
        .choices
        .first()
        .expect("an offering with a choice")
        .slot;
    customization
        .record_outcome(pb::RecordOutcomeRequest {
            offering_id: offering.offering_id,
            outcomes: vec![pb::SlotOutcome {
                slot: first_slot,
                outcome: pb::OutcomeKind::Accepted as i32,
                changed_to: String::new(),
            }],
            channel: pb::Channel::CallCenter as i32,
        })
        .await
        .unwrap();
    customer_id
}

/// chromedriver on a free port, killed when dropped; `None` when it is not installed
/// (a failure under CI, which installs it).
async fn start_chromedriver() -> Option<(tokio::process::Child, u16)> {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let spawned = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let child = match spawned {
        Ok(child) => child,
        Err(error) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "chromedriver is required under CI (apt-get install chromium chromium-driver): {error}"
            );
            eprintln!(
                "skipped: chromedriver not found ({error}); apt-get install chromium chromium-driver"
            );
            return None;
        }
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some((child, port));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on port {port}");
}

/// A WebDriver session (the W3C protocol, JSON over HTTP) with chromedriver: only the
/// few commands these tests use.
struct Browser {
    driver: std::net::SocketAddr,
    session: String,
}

impl Browser {
    async fn start(port: u16, profile: &std::path::Path) -> Browser {
        let arguments = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": arguments}
        }}});
        let driver = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let answer = command(driver, "POST", "/session", Some(capabilities)).await;
        let session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver starts a headless chromium: {answer}"))
            .to_owned();
        let browser = Browser { driver, session };
        // Finding an element waits up to five seconds for a page a click is still loading.
        browser
            .call("POST", "/timeouts", Some(json!({ "implicit": 5000 })))
            .await;
        browser
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        command(self.driver, method, &path, body).await
    }

    async fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// The path of the page shown now.
    async fn path(&self) -> String {
        let url = self.call("GET", "/url", None).await;
        let url = url.as_str().expect("a URL").to_owned();
        let after_host = url.splitn(4, '/').nth(3).unwrap_or_default();
        format!("/{after_host}")
    }

    /// The path once it is `expected` (a click's navigation may still be under way),
    /// or whatever it is after five seconds.
    async fn path_after_navigation(&self, expected: &str) -> String {
        for _ in 0..50 {
            let path = self.path().await;
            if path == expected {
                return path;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.path().await
    }

    async fn find_all(&self, css: &str) -> Vec<String> {
        let found = self
            .call(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found
            .as_array()
            .map(|elements| {
                elements
                    .iter()
                    .filter_map(|element| element.as_object()?.values().next()?.as_str())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn find(&self, css: &str) -> String {
        self.find_all(css)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{css} on the page"))
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Clicks and waits for the page the click leads to.
    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        let text = self
            .call("GET", &format!("/element/{element}/text"), None)
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    async fn close(self) {
        command(
            self.driver,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        )
        .await;
    }
}

/// One WebDriver command; its `value`, after checking it is no error.
async fn command(
    driver: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let answer = http(
        driver,
        method,
        path,
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
    .await;
    let mut json = answer.json();
    assert!(
        answer.status == 200 && json["value"]["error"].is_null(),
        "{method} {path}: {} {json}",
        answer.status
    );
    json["value"].take()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_a_customer_in_the_browser() {
    let Some((_chromedriver, driver_port)) = start_chromedriver().await else {
        return;
    };
    let key = idic_testkit::api_key("steward");
    let suite = AdminSuite::start(vec![client("steward", &["admin"])]).await;
    let jane = seed(&suite, &key).await;
    let base = format!("http://{}", suite.admin);
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::start(driver_port, profile.path()).await;

    // The browser is closed however the story ends: a panic must not leave chromium running.
    let story = std::panic::AssertUnwindSafe(operator_story(&browser, &base, &jane, &key))
        .catch_unwind()
        .await;
    browser.close().await;
    suite.stop().await;
    if let Err(panic) = story {
        std::panic::resume_unwind(panic);
    }
}

/// What the operator does and sees, from the login form to logging out.
async fn operator_story(browser: &Browser, base: &str, jane: &str, key: &str) {
    // Without a session every page leads to the login form.
    browser
        .goto(&format!("{base}/console/customers/{jane}"))
        .await;
    assert_eq!(browser.path().await, "/console/login");
    browser.type_into("#api_key", "wrong-key-0123456789").await;
    browser.click("#login").await;
    assert_eq!(browser.text("#login-error").await, "Unknown API key.");

    browser.type_into("#api_key", key).await;
    browser.click("#login").await;
    assert_eq!(
        browser.path_after_navigation("/console/").await,
        "/console/"
    );
    assert!(browser.text("#client").await.contains("steward"));

    // Search by e-mail: one customer, so straight to its page, the text in no URL.
    browser.type_into("#query", "jane.doe@example.com").await;
    browser.click("#search").await;
    let customer_path = format!("/console/customers/{jane}");
    assert_eq!(
        browser.path_after_navigation(&customer_path).await,
        customer_path
    );
    assert_eq!(browser.text("h1").await, "Jane Doe");
    assert_eq!(browser.text("#customer-id").await, jane);
    let golden = browser.text("#golden").await;
    assert!(
        golden.contains("jane.doe@example.com") && golden.contains("+442079460958"),
        "{golden}"
    );
    assert!(golden.contains("1984-03-12"), "{golden}");
    let records = browser.text("#records").await;
    for source in ["crm", "webshop", "store"] {
        assert!(
            records.contains(source),
            "{source} among the linked records: {records}"
        );
    }
    assert_eq!(browser.find_all("#records tr.record").await.len(), 3);
    let history = browser.text("#history").await;
    assert!(
        history.contains("merged") || history.contains("No merges"),
        "{history}"
    );
    let value = browser.text("#value").await;
    assert!(value.contains("1200.00 EUR"), "{value}");
    let timeline = browser.text("#timeline").await;
    assert!(
        timeline.contains("late delivery") && timeline.contains("complaint"),
        "{timeline}"
    );
    let offerings = browser.text("#offerings").await;
    assert!(
        offerings.contains("standard box") || offerings.contains("express delivery"),
        "{offerings}"
    );
    assert!(!browser.text("#needs").await.contains("Not available"));

    // A name with a birth date lists candidates instead.
    browser.goto(&format!("{base}/console/")).await;
    browser.type_into("#query", "Jane Doe 1984-03-12").await;
    browser.click("#search").await;
    assert!(browser.text("#candidates").await.contains(jane));

    browser.goto(&format!("{base}/console/value")).await;
    let skew = browser.text("#skew").await;
    assert!(skew.contains("5 customers"), "{skew}");
    assert!(
        !browser.find_all("#lorenz svg").await.is_empty(),
        "the Lorenz curve is drawn"
    );
    assert!(!browser.text("#focus").await.is_empty());

    browser.goto(&format!("{base}/console/channels")).await;
    let channels = browser.text("#channels").await;
    assert!(channels.contains("call center"), "{channels}");
    assert!(!browser.find_all("#channel-chart svg").await.is_empty());

    browser.goto(&format!("{base}/console/learning")).await;
    assert!(browser.text("#learning").await.contains("control"));
    assert!(
        !browser.find_all("#learning-chart svg").await.is_empty(),
        "the learning curve is drawn once an outcome is recorded"
    );

    // Logging out ends the session: the pages lead to login again.
    browser.click("header form button").await;
    // The logout's POST and its redirect must land before the next navigation, which
    // would otherwise cancel them (a CI run saw the session still open).
    browser.path_after_navigation("/console/login").await;
    browser.goto(&format!("{base}/console/value")).await;
    assert_eq!(browser.path().await, "/console/login");
}

/// What the process logs, for checking that the access log holds no personal data.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLog {
    type Writer = CapturedLog;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl CapturedLog {
    fn install() -> CapturedLog {
        let log = CapturedLog::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("the only subscriber of this test binary");
        log
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_a_page_needs_it() {
    let log = CapturedLog::install();
    let key = idic_testkit::api_key("reader");
    let steward = client("steward", &["admin"]);
    let suite = AdminSuite::start(vec![
        client("reader", &["differentiation:read", "identity:read"]),
        steward.clone(),
    ])
    .await;
    let admin = suite.admin;
    let jane = seed(&suite, &idic_testkit::api_key("steward")).await;

    let anonymous = http(admin, "GET", "/console/value", &[], b"").await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.header("location"), Some("/console/login"));
    let forged = http(
        admin,
        "GET",
        "/console/value",
        &[("cookie", "idic_console=00ff")],
        b"",
    )
    .await;
    assert_eq!(forged.status, 303, "an unknown token is no session");

    let wrong = http(
        admin,
        "POST",
        "/console/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"api_key=not-a-key-0123456789",
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none());

    let form = format!("api_key={key}");
    let login = http(
        admin,
        "POST",
        "/console/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
    .await;
    assert_eq!(login.status, 303);
    let cookie = login
        .header("set-cookie")
        .expect("a session cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(&key),
        "the cookie holds a token, not the key"
    );
    let token = cookie.split(';').next().unwrap().to_owned();

    let page = http(admin, "GET", "/console/value", &[("cookie", &token)], b"").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page.body.contains("Value skew"), "{}", page.body);
    // The key reads differentiation only: the learning page says what it lacks.
    let learning = http(
        admin,
        "GET",
        "/console/learning",
        &[("cookie", &token)],
        b"",
    )
    .await;
    assert_eq!(learning.status, 200);
    assert!(
        learning.body.contains("Not available") && learning.body.contains("customization:read"),
        "{}",
        learning.body
    );

    // A search: POSTed, answered with the customer's page; the log names routes only.
    let search = http(
        admin,
        "POST",
        "/console/search",
        &[
            ("cookie", &token),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        b"query=jane.doe%40example.com",
    )
    .await;
    assert_eq!(search.status, 303);
    assert_eq!(
        search.header("location"),
        Some(format!("/console/customers/{jane}").as_str())
    );
    let page = http(
        admin,
        "GET",
        &format!("/console/customers/{jane}"),
        &[("cookie", &token)],
        b"",
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Jane Doe"), "{}", page.body);
    let logged: String = log
        .text()
        .lines()
        .filter(|line| line.contains("idic::access"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        logged.contains("/console/customers/{customer_id}"),
        "{logged}"
    );
    assert!(logged.contains("/console/search"), "{logged}");
    for personal in ["jane.doe", &jane, "Jane", &key] {
        assert!(
            !logged.contains(personal),
            "'{personal}' in the log: {logged}"
        );
    }

    let logout = http(admin, "POST", "/console/logout", &[("cookie", &token)], b"").await;
    assert_eq!(logout.status, 303);
    let after = http(admin, "GET", "/console/value", &[("cookie", &token)], b"").await;
    assert_eq!(after.status, 303, "the token is dead after logout");

    // A key revoked by a reload ends its sessions at once.
    let again = http(
        admin,
        "POST",
        "/console/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
    .await;
    let token = again
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        http(admin, "GET", "/console/value", &[("cookie", &token)], b"")
            .await
            .status,
        200
    );
    suite.reload_keys(vec![steward]);
    let revoked = http(admin, "GET", "/console/value", &[("cookie", &token)], b"").await;
    assert_eq!(revoked.status, 303);
    assert_eq!(revoked.header("location"), Some("/console/login"));
    suite.stop().await;
}
