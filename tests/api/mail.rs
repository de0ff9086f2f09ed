//! Mail that really leaves: through a real SMTP conversation with a sink on loopback, with
//! retries and backoff, across a restart, or into a directory of `.eml` files.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::both_stores;
use crate::common::{
    create_member, create_organization, token_of, StoreKind, TestApp, ADMIN_EMAIL,
};
use crate::smtp_sink::{Received, SmtpSink};
use bf_security::clock::Clock;
use bf_security::mail::sender;
use bf_security::mail::transport::Destination;
use bf_security::store::outbox;

both_stores!(
    a_set_password_mail_is_delivered_over_smtp_with_the_code_alone_on_a_line,
    a_refusing_server_gets_retries_with_exponential_backoff,
    mail_queued_before_a_restart_is_sent_after_it_exactly_once,
    credentials_in_the_smtp_url_are_used,
    with_a_mail_directory_each_mail_becomes_an_eml_file,
    organization_names_reach_invitations_quoted_on_one_line,
    mail_claimed_by_a_node_that_died_is_delivered_by_another_within_seconds,
    a_mail_delivered_twice_leaves_two_files,
    only_the_sender_holding_a_lease_renews_it,
    an_invitation_mail_names_the_request_that_accepts_it,
);

/// Stories that start a server with settings of their own.
mod own_settings {
    use super::without_a_mail_setting_mail_goes_beside_a_sqlite_file_and_waits_on_postgresql;
    crate::stories_of_kind!(
        without_a_mail_setting_mail_goes_beside_a_sqlite_file_and_waits_on_postgresql
    );
}

/// Settings for a sender that delivers and looks for due mail often, so tests do not wait.
fn fast(settings: &mut bf_security::config::Settings) {
    crate::common::delivering(settings);
    settings.mail.poll_millis = 20;
}

async fn spawn_with_smtp(app: TestApp, url: &str) -> TestApp {
    let kind = if app.settings.database_url.starts_with("sqlite:") {
        StoreKind::Sqlite
    } else {
        StoreKind::Postgres
    };
    drop(app);
    let url = url.to_string();
    TestApp::spawn_with(kind, move |s| {
        fast(s);
        s.mail.smtp_url = Some(url);
    })
    .await
    .expect("app")
}

/// Creates a user without a password whom the service mails a code; answers the code row
/// count check's subject: the user's e-mail.
async fn create_user_mailed(app: &TestApp, token: &str, email: &str) {
    let (status, body) = app
        .post(
            "/v1/users",
            token,
            json!({"email": email, "firstName": "Ann", "sendEmail": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The code in a mail: the one line of 10 symbols of the code alphabet.
fn code_in(mail: &Received) -> String {
    let lines: Vec<&str> = mail
        .data
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| {
            l.len() == 10
                && l.bytes()
                    .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b))
        })
        .collect();
    assert_eq!(lines.len(), 1, "one code line in {}", mail.data);
    lines[0].to_string()
}

async fn metric(app: &TestApp, outcome: &str) -> u64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("bf_security_mails_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

async fn outbox_row(app: &TestApp, recipient: &str) -> (Option<i64>, String, i64, i64) {
    sqlx::query_as::<_, (Option<i64>, String, i64, i64)>(
        "SELECT sent, body_text, attempts, next_attempt FROM mail_outbox WHERE recipient = $1",
    )
    .bind(recipient)
    .fetch_one(app.app.store.pool())
    .await
    .unwrap()
}

/// Waits until the outbox row of `recipient` is marked sent.
async fn wait_sent(app: &TestApp, recipient: &str) {
    for _ in 0..300 {
        if outbox_row(app, recipient).await.0.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the mail to {recipient} was not marked sent");
}

async fn a_set_password_mail_is_delivered_over_smtp_with_the_code_alone_on_a_line(app: TestApp) {
    let sink = SmtpSink::start(0).await;
    let app = spawn_with_smtp(app, &sink.url()).await;
    let token = app.admin_token().await;
    create_user_mailed(&app, &token, "ann.new@example.com").await;
    let mails = sink.wait_messages(1).await;
    let mail = &mails[0];
    assert_eq!(mail.to, vec!["<ann.new@example.com>"]);
    assert!(mail.from.contains("no-reply@localhost"), "{}", mail.from);
    assert!(mail.data.contains("Subject: Set your BillForward password"));
    let code = code_in(mail);
    // The code is stored as a digest only.
    let digests: Vec<String> = sqlx::query_scalar("SELECT digest FROM codes WHERE kind = 'reset'")
        .fetch_all(app.app.store.pool())
        .await
        .unwrap();
    assert_eq!(
        digests,
        vec![bf_security::security::secrets::code_digest(&code)]
    );
    // Marked sent, with the body (and its code) blanked.
    wait_sent(&app, "ann.new@example.com").await;
    let (_, body, attempts, _) = outbox_row(&app, "ann.new@example.com").await;
    assert_eq!((body.as_str(), attempts), ("", 1));
    assert_eq!(metric(&app, "queued").await, 1);
    assert_eq!(metric(&app, "sent").await, 1);
    assert_eq!(metric(&app, "failed").await, 0);
    // Sent once, not again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sink.messages().len(), 1);
}

async fn a_refusing_server_gets_retries_with_exponential_backoff(app: TestApp) {
    let sink = SmtpSink::start(2).await;
    let app = spawn_with_smtp(app, &sink.url()).await;
    let token = app.admin_token().await;
    let queued_at = app.clock.now();
    create_user_mailed(&app, &token, "busy@example.com").await;
    sink.wait_transactions(1).await;
    // Refused once: the next attempt waits 30 s of the application's clock.
    for _ in 0..300 {
        if metric(&app, "failed").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (sent, body, attempts, next) = outbox_row(&app, "busy@example.com").await;
    assert_eq!((sent, attempts), (None, 1));
    assert!(!body.is_empty(), "the body is kept until sent");
    assert_eq!(next, queued_at + 30_000);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sink.transactions(), 1, "no retry before the backoff");
    app.clock.advance_seconds(30);
    sink.wait_transactions(2).await;
    for _ in 0..300 {
        if metric(&app, "failed").await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, _, attempts, next) = outbox_row(&app, "busy@example.com").await;
    assert_eq!(attempts, 2);
    assert_eq!(next, queued_at + 30_000 + 60_000, "the wait doubles");
    app.clock.advance_seconds(60);
    let mails = sink.wait_messages(1).await;
    assert!(mails[0].has_line(&code_in(&mails[0])));
    wait_sent(&app, "busy@example.com").await;
    assert_eq!(metric(&app, "failed").await, 2);
    assert_eq!(metric(&app, "sent").await, 1);
}

async fn mail_queued_before_a_restart_is_sent_after_it_exactly_once(mut app: TestApp) {
    // No transport yet: the mail waits in the outbox.
    let token = app.admin_token().await;
    create_user_mailed(&app, &token, "later@example.com").await;
    let sink = SmtpSink::start(0).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(outbox_row(&app, "later@example.com").await.0, None);
    app.settings.mail.smtp_url = Some(sink.url());
    fast(&mut app.settings);
    app.restart().await;
    let mails = sink.wait_messages(1).await;
    assert_eq!(mails[0].to, vec!["<later@example.com>"]);
    wait_sent(&app, "later@example.com").await;
    app.restart().await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(sink.messages().len(), 1, "sent exactly once");
}

async fn credentials_in_the_smtp_url_are_used(app: TestApp) {
    let sink = SmtpSink::start(0).await;
    let url = format!("smtp://mailer:s%40cret@{}", sink.addr);
    let app = spawn_with_smtp(app, &url).await;
    let token = app.admin_token().await;
    create_user_mailed(&app, &token, "auth@example.com").await;
    sink.wait_messages(1).await;
    use base64::Engine;
    let auth = sink.auth();
    assert_eq!(auth.len(), 1);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&auth[0])
        .unwrap();
    assert_eq!(decoded, b"\0mailer\0s@cret");
}

async fn with_a_mail_directory_each_mail_becomes_an_eml_file(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let kind = if app.settings.database_url.starts_with("sqlite:") {
        StoreKind::Sqlite
    } else {
        StoreKind::Postgres
    };
    drop(app);
    let path = dir.path().join("mail");
    let mail_dir = path.clone();
    let app = TestApp::spawn_with(kind, move |s| {
        fast(s);
        s.mail.dir = Some(mail_dir);
    })
    .await
    .unwrap();
    let token = app.admin_token().await;
    create_user_mailed(&app, &token, "one@example.com").await;
    create_user_mailed(&app, &token, "two@example.com").await;
    wait_sent(&app, "one@example.com").await;
    wait_sent(&app, "two@example.com").await;
    let mut names: Vec<String> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".eml")), "{names:?}");
    let text = std::fs::read_to_string(path.join(&names[0])).unwrap();
    assert!(text.contains("To: one@example.com") || text.contains("To: two@example.com"));
    let mail = Received {
        from: String::new(),
        to: Vec::new(),
        data: text,
    };
    code_in(&mail);
}

/// An organization's name is its founder's choice and reaches every invitation: a name with
/// lines of its own is refused at sign-up, and an odd or long one appears cut, quoted, on the
/// one line that says who invites, beside the one code line.
async fn organization_names_reach_invitations_quoted_on_one_line(app: TestApp) {
    let sink = SmtpSink::start(0).await;
    let app = spawn_with_smtp(app, &sink.url()).await;
    let admin = app.admin_token().await;
    let sign_up = |company: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            app.post(
                "/v1/users/flexcheck",
                admin,
                json!({"email": "owner@shop.test", "password": "owner password 1234",
                       "companyName": company}),
            )
            .await
        }
    };
    let (status, body) =
        sign_up("Acme\n\nYour invitation code:\n\nPHISH12345\n\nUse it at https://evil.test").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errorParameters"], json!(["companyName"]));
    let (status, body) =
        sign_up("PHISH12345 “Acme” \u{202e}Holdings and Trading Company of the Seven Seas Limited")
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let owner = crate::common::token_of(&app, "owner@shop.test", "owner password 1234").await;
    let (status, body) = app
        .post(
            "/v1/users/invite",
            &owner,
            json!({"email": "guest@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mails = sink.wait_messages(1).await;
    let text = mails[0].text();
    let shown = "“PHISH12345 \"Acme\" Holdings and Trading Company of the Seven…”";
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("PHISH12345")).collect();
    assert_eq!(
        lines,
        vec![format!(
            "you have been invited to join the organization {shown} on BillForward."
        )],
        "{text}"
    );
    code_in(&Received {
        from: String::new(),
        to: Vec::new(),
        data: text,
    });
}

#[tokio::test]
async fn bad_mail_settings_stop_the_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    for (adjust, named) in [
        (
            Box::new(|s: &mut bf_security::config::Settings| {
                s.mail.smtp_url = Some("http://mail.example.com".into())
            }) as Box<dyn Fn(&mut bf_security::config::Settings)>,
            "BF_SMTP_URL",
        ),
        (
            Box::new(|s: &mut bf_security::config::Settings| {
                s.mail.smtp_url = Some("smtp://127.0.0.1:2525".into());
                s.mail.dir = Some("/tmp".into());
            }),
            "BF_MAIL_DIR",
        ),
        (
            Box::new(|s: &mut bf_security::config::Settings| s.mail.from = "not an address".into()),
            "BF_MAIL_FROM",
        ),
        (
            // Held in the outbox and sent through SMTP cannot both be meant.
            Box::new(|s: &mut bf_security::config::Settings| {
                s.mail.delivery = bf_security::config::MailDelivery::Outbox;
                s.mail.smtp_url = Some("smtp://127.0.0.1:2525".into());
            }),
            "BF_MAIL_DELIVERY",
        ),
    ] {
        let mut settings = crate::common::test_settings();
        settings.database_url = format!("sqlite://{}", dir.path().join("bad.db").display());
        adjust(&mut settings);
        let clock = bf_security::clock::ManualClock::starting_now();
        let err = match bf_security::startup::build(settings, clock).await {
            Ok(_) => panic!("{named} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.starts_with(named), "{err}");
    }
}

/// The `.eml` files in a mail directory, sorted.
fn eml_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".eml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// A node claims a mail and dies before delivering it; another node (or the same one started
/// again) delivers it seconds later, not when a long lease runs out.
async fn mail_claimed_by_a_node_that_died_is_delivered_by_another_within_seconds(mut app: TestApp) {
    // No transport here: the mail waits in the outbox.
    let token = app.admin_token().await;
    create_user_mailed(&app, &token, "orphan@example.com").await;
    // Claimed as a sender claims it, by a node that dies at once.
    let claimed_at = app.clock.now();
    let mut tx = app.app.store.write().await.unwrap();
    let claimed = outbox::claim_due(&mut tx, claimed_at, claimed_at + sender::LEASE_MS, 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claimed.len(), 1);
    let dir = tempfile::tempdir().unwrap();
    app.settings.mail.dir = Some(dir.path().to_path_buf());
    fast(&mut app.settings);
    let _other = app.another_node().await;
    let started = std::time::Instant::now();
    while outbox_row(&app, "orphan@example.com").await.0.is_none() {
        let waited = app.clock.now() - claimed_at;
        assert!(
            waited <= 20_000,
            "not delivered {waited} ms after the claim"
        );
        assert!(started.elapsed() < Duration::from_secs(10), "not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
        app.clock.advance_seconds(1);
    }
    let files = eml_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(dir.path().join(&files[0])).unwrap();
    assert!(text.contains("To: orphan@example.com"), "{text}");
}

/// A mail is sent twice only when a node stops between its delivery and marking it sent; the
/// second delivery into a mail directory is then a file of its own, not an overwrite.
async fn a_mail_delivered_twice_leaves_two_files(mut app: TestApp) {
    let token = app.admin_token().await;
    create_user_mailed(&app, &token, "twice@example.com").await;
    let body = outbox_row(&app, "twice@example.com").await.1;
    let dir = tempfile::tempdir().unwrap();
    app.settings.mail.dir = Some(dir.path().to_path_buf());
    fast(&mut app.settings);
    app.restart().await;
    wait_sent(&app, "twice@example.com").await;
    assert_eq!(eml_files(dir.path()).len(), 1);
    // As if the mark had been lost: the mail is due again, as it was.
    sqlx::query(
        "UPDATE mail_outbox SET sent = NULL, body_text = $1, next_attempt = $2
         WHERE recipient = $3",
    )
    .bind(&body)
    .bind(app.clock.now())
    .bind("twice@example.com")
    .execute(app.app.store.pool())
    .await
    .unwrap();
    wait_sent(&app, "twice@example.com").await;
    let files = eml_files(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    let ids: Vec<String> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
            text.lines()
                .find(|l| l.starts_with("Message-ID:"))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids[0], ids[1], "one mail, delivered twice");
}

/// A sender renews the lease of the mail it is sending; once the lease ran out and another
/// sender claimed the mail, the first one's renewals no longer touch it.
async fn only_the_sender_holding_a_lease_renews_it(app: TestApp) {
    let token = app.admin_token().await;
    create_user_mailed(&app, &token, "leased@example.com").await;
    let store = &app.app.store;
    let now = app.clock.now();
    let first_lease = now + sender::LEASE_MS;
    let mut tx = store.write().await.unwrap();
    let claimed = outbox::claim_due(&mut tx, now, first_lease, 10)
        .await
        .unwrap();
    let id = claimed[0].id.clone();
    let renewed = outbox::renew_leases(&mut tx, &[&id], first_lease, first_lease + 5_000)
        .await
        .unwrap();
    assert_eq!(renewed, vec![id.clone()]);
    tx.commit().await.unwrap();
    assert_eq!(
        outbox_row(&app, "leased@example.com").await.3,
        first_lease + 5_000
    );
    // Not due while renewed; due once the renewed lease is over, and another sender takes it.
    let mut tx = store.write().await.unwrap();
    let early = outbox::claim_due(&mut tx, first_lease, first_lease + 1, 10)
        .await
        .unwrap();
    assert!(early.is_empty());
    let later = first_lease + 5_000;
    let taken = outbox::claim_due(&mut tx, later, later + sender::LEASE_MS, 10)
        .await
        .unwrap();
    assert_eq!((taken.len(), taken[0].attempts), (1, 2));
    let renewed = outbox::renew_leases(&mut tx, &[&id], first_lease + 5_000, later + 60_000)
        .await
        .unwrap();
    assert!(renewed.is_empty(), "the first sender lost it");
    tx.commit().await.unwrap();
    assert_eq!(
        outbox_row(&app, "leased@example.com").await.3,
        later + sender::LEASE_MS
    );
}

/// A fresh install names no mail setting. On SQLite its mail goes into `mail/` beside the
/// database file, made when the first mail comes, one `.eml` file each, its code alone on a
/// line and working. On PostgreSQL there is no file to stand beside, and a folder on one node of
/// many would be a place nobody reads: the mail waits in the outbox, undelivered, until a
/// transport is set.
async fn without_a_mail_setting_mail_goes_beside_a_sqlite_file_and_waits_on_postgresql(
    kind: StoreKind,
) {
    let Some(app) = TestApp::spawn_with(kind, fast).await else {
        return;
    };
    assert!(app.settings.mail.smtp_url.is_none() && app.settings.mail.dir.is_none());
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/v1/users/password-reset/request-reset-code",
            None,
            Some(json!({ "email": ADMIN_EMAIL })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    if kind == StoreKind::Postgres {
        assert_eq!(app.app.mail.destination, Destination::Nowhere);
        for _ in 0..5 {
            app.clock.advance_seconds(60);
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        let (sent, body, attempts, _) = outbox_row(&app, ADMIN_EMAIL).await;
        assert_eq!((sent, attempts), (None, 0), "nothing tried to deliver it");
        assert!(!body.is_empty(), "the mail waits whole");
        return;
    }
    let database = app
        .settings
        .database_url
        .strip_prefix("sqlite://")
        .expect("a SQLite file");
    let folder = std::path::Path::new(database)
        .parent()
        .unwrap()
        .join("mail");
    assert_eq!(
        app.app.mail.destination,
        Destination::BesideDatabase(folder.clone())
    );
    wait_sent(&app, ADMIN_EMAIL).await;
    let files = eml_files(&folder);
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(folder.join(&files[0])).unwrap();
    assert!(text.contains(&format!("To: {ADMIN_EMAIL}")), "{text}");
    assert!(
        text.contains("Subject: Your BillForward password reset code"),
        "{text}"
    );
    let code = code_in(&Received {
        from: String::new(),
        to: Vec::new(),
        data: text,
    });
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&folder), 0o700, "the folder is the service's user's");
        assert_eq!(
            mode(&folder.join(&files[0])),
            0o600,
            "a mail holds a live code"
        );
    }
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            "/v1/users/password-reset/password-update",
            None,
            Some(json!({"email": ADMIN_EMAIL, "resetCode": code, "newPassword": "a new password 1234"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let admin = app.login(ADMIN_EMAIL, "a new password 1234").await;

    // A file is read as written (`cat mail/*.eml`), whatever the text holds: the quoted
    // organization name as UTF-8, the code and the request on lines of their own.
    let token = admin["access_token"].as_str().unwrap();
    let (status, body) = app
        .post(
            "/v1/users/invite",
            token,
            json!({"email": "guest@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_sent(&app, "guest@example.com").await;
    let invitation = eml_files(&folder)
        .iter()
        .map(|f| std::fs::read_to_string(folder.join(f)).unwrap())
        .find(|text| text.contains("To: guest@example.com"))
        .expect("the invitation's file");
    assert!(
        invitation.contains("Content-Transfer-Encoding: 8bit"),
        "{invitation}"
    );
    assert!(
        invitation.contains("the organization “Default” on BillForward.\r\n"),
        "{invitation}"
    );
    assert!(
        invitation.contains("\r\n  POST /v1/users/password-reset/password-update\r\n"),
        "{invitation}"
    );
    code_in(&Received {
        from: String::new(),
        to: Vec::new(),
        data: invitation,
    });
}

/// The body of the last mail queued for `to`.
async fn last_mail_to(app: &TestApp, to: &str) -> String {
    let (body,): (String,) = sqlx::query_as(
        "SELECT body_text FROM mail_outbox WHERE recipient = $1 ORDER BY created DESC, id DESC",
    )
    .bind(to)
    .fetch_one(app.app.store.pool())
    .await
    .unwrap();
    body
}

/// The requests a mail tells its reader to send (each block of indented lines): the method and
/// path, and the JSON body when there is one.
fn requests(text: &str) -> Vec<(String, Option<serde_json::Value>)> {
    let mut blocks: Vec<String> = Vec::new();
    let mut within = false;
    for line in text.lines() {
        match line.strip_prefix("  ") {
            Some(part) if within => {
                let block = blocks.last_mut().unwrap();
                block.push('\n');
                block.push_str(part);
            }
            Some(part) => blocks.push(part.to_string()),
            None => {}
        }
        within = line.starts_with("  ");
    }
    blocks
        .iter()
        .map(|b| match b.split_once('\n') {
            Some((request, body)) => (
                request.to_string(),
                Some(serde_json::from_str(body).expect("a JSON body")),
            ),
            None => (b.clone(), None),
        })
        .collect()
}

/// Sends a request as a mail shows it, its placeholders filled in.
async fn send_as_shown(
    app: &TestApp,
    (request, body): &(String, Option<serde_json::Value>),
    token: Option<&str>,
    fill: &[(&str, &str)],
) -> (StatusCode, serde_json::Value) {
    let path = request.strip_prefix("POST ").expect("a POST");
    let mut body = body.clone().unwrap_or(json!({}));
    for value in body.as_object_mut().unwrap().values_mut() {
        if let Some((_, with)) = fill.iter().find(|(placeholder, _)| value == placeholder) {
            *value = json!(with);
        }
    }
    app.call(reqwest::Method::POST, path, token, Some(body))
        .await
}

/// An invitation mail says how to accept it, and doing what it says accepts it: a newcomer
/// (whose login the invitation made) chooses his password with the code; someone with a login
/// logs in and accepts the invitation the mail names.
async fn an_invitation_mail_names_the_request_that_accepts_it(app: TestApp) {
    let admin = app.admin_token().await;
    let (status, body) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "new@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let text = last_mail_to(&app, "new@example.com").await;
    let code = code_in(&Received {
        from: String::new(),
        to: Vec::new(),
        data: text.clone(),
    });
    let shown = requests(&text);
    assert_eq!(shown.len(), 1, "{text}");
    assert_eq!(
        shown[0].0, "POST /v1/users/password-reset/password-update",
        "{text}"
    );
    let (status, body) = send_as_shown(
        &app,
        &shown[0],
        None,
        &[
            ("<the code above>", &code),
            ("<your new password>", "new password 1234"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.login("new@example.com", "new password 1234").await;

    let home = crate::common::home_organization(&app, &admin).await;
    create_member(
        &app,
        &home,
        "member@example.com",
        "member password 1234",
        &[],
    )
    .await;
    let (other, _) = create_organization(&app, "Other").await;
    let (status, body) = app
        .post(
            "/v1/users/invite",
            &admin,
            json!({"email": "member@example.com", "organizationID": other}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let invitation = body["results"][0]["id"].as_str().unwrap().to_string();
    let text = last_mail_to(&app, "member@example.com").await;
    let shown = requests(&text);
    let paths: Vec<&str> = shown.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        paths,
        [
            format!("POST /v1/users/mine/invitations/{invitation}/accept").as_str(),
            "POST /v1/users/invite/accept",
            format!("POST /v1/users/mine/invitations/{invitation}/decline").as_str(),
        ],
        "{text}"
    );
    assert!(text.contains("log in as yourself"), "{text}");
    let member = token_of(&app, "member@example.com", "member password 1234").await;
    let (status, body) = send_as_shown(&app, &shown[0], Some(&member), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, mine) = app.get("/v1/users/mine/organizations", &member).await;
    assert!(
        mine["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == other.as_str()),
        "{mine}"
    );
}
