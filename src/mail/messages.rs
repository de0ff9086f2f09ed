//! The texts of the mails the service sends. Each code stands alone on a line, so a person can
//! copy it and a program can find it. Names that others chose (an organization's) appear only
//! through [`quoted`], so they can never pass for a line of the mail's own.

use super::Mail;
use crate::clock::Millis;

/// The most characters of a name a mail shows.
pub const MAX_NAME_CHARS: usize = 60;

/// A name as a mail shows it: on one line (line breaks, tabs and other control or direction
/// characters become single spaces), at most [`MAX_NAME_CHARS`] characters (cut with `…`), and
/// between quotation marks, so that "Acme\n\nYour invitation code:\n\nPHISH12345" reads as one
/// odd name rather than as a code or an instruction of the mail.
pub fn quoted(name: &str) -> String {
    let odd = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    let flat = name
        .split(odd)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .replace(['“', '”'], "\"");
    let shown = if flat.chars().count() > MAX_NAME_CHARS {
        let cut: String = flat.chars().take(MAX_NAME_CHARS - 1).collect();
        format!("{}…", cut.trim_end())
    } else {
        flat
    };
    format!("“{shown}”")
}

/// How an invitee accepts his invitation, which its mail tells him: it depends on whom the
/// invitation is for (service/invitations.rs).
#[derive(Debug, Clone, Copy)]
pub struct Acceptance<'a> {
    /// The invitation's ID, which a logged-in invitee accepts it by.
    pub invitation_id: &'a str,
    /// The invitation made the invitee's login: he accepts by choosing its first password with
    /// the code (he has no password to log in with). Otherwise he has a login and accepts as
    /// himself; the code alone changes nothing of it.
    pub new_login: bool,
    /// OpenID Connect providers are configured: an ID token proving his address, with the
    /// code, accepts too.
    pub openid: bool,
}

/// A JSON string, for the request bodies the mails show.
fn json(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// The request that sets a password with a code, its body one field a line.
fn password_update(to: &str) -> String {
    format!(
        "  POST /v1/users/password-reset/password-update\n  \
         {{\"email\": {},\n   \
         \"resetCode\": \"<the code above>\",\n   \
         \"newPassword\": \"<your new password>\"}}\n",
        json(to)
    )
}

/// The request that accepts an invitation with its code and an OpenID Connect ID token.
const OPENID_LINK: &str = "  POST /v1/users/invite/openid\n  \
     {\"inviteCode\": \"<the code above>\", \"idToken\": \"<the ID token>\"}\n";

pub fn invitation(
    to: &str,
    organization: &str,
    code: &str,
    valid_hours: i64,
    how: Acceptance<'_>,
) -> Mail {
    let organization = quoted(organization);
    let id = how.invitation_id;
    let (who, accept) = if how.new_login {
        let openid = if how.openid {
            format!(
                "\nOr, to log in through single sign-on instead of a password, accept\n\
                 by sending an ID token of your OpenID Connect provider that proves\n\
                 your e-mail address, with the code:\n\n{OPENID_LINK}"
            )
        } else {
            String::new()
        };
        (
            format!("A login for {to} was made for you;\nit can be used once you accept.\n"),
            format!(
                "To accept within {valid_hours} hours, choose the password of your new login\n\
                 with the code:\n\n{}\n\
                 Then log in with your e-mail address and that password\n\
                 (POST /v1/oauth/token).\n{openid}",
                password_update(to),
            ),
        )
    } else {
        let openid = if how.openid {
            format!(
                "\nOr, without logging in, accept by sending an ID token of your OpenID\n\
                 Connect provider that proves your e-mail address, with the code:\n\n\
                 {OPENID_LINK}"
            )
        } else {
            String::new()
        };
        (
            format!("The invitation is for your login {to}.\n"),
            format!(
                "To accept within {valid_hours} hours, log in as yourself\n\
                 (POST /v1/oauth/token) and send, with that login's access token:\n\n  \
                 POST /v1/users/mine/invitations/{id}/accept\n\n\
                 or, with the code:\n\n  \
                 POST /v1/users/invite/accept\n  \
                 {{\"inviteCode\": \"<the code above>\"}}\n\
                 {openid}\n\
                 To decline it:\n\n  \
                 POST /v1/users/mine/invitations/{id}/decline\n\n\
                 The code alone changes nothing of your login, not even its password.\n"
            ),
        )
    };
    Mail {
        to: to.into(),
        subject: format!("You are invited to {organization}"),
        text: format!(
            "Hello,\n\n\
             you have been invited to join the organization {organization} on BillForward.\n\
             {who}\n\
             Your invitation code:\n\n\
             {code}\n\n\
             {accept}\n\
             If you did not expect this invitation, ignore this mail.\n"
        ),
    }
}

/// The invitation again, with a new code: the one mailed before no longer works.
pub fn invitation_resent(
    to: &str,
    organization: &str,
    code: &str,
    valid_hours: i64,
    how: Acceptance<'_>,
) -> Mail {
    let mut mail = invitation(to, organization, code, valid_hours, how);
    mail.text.push_str(
        "\nThis invitation was sent again: the code of any earlier mail about it\n\
         no longer works.\n",
    );
    mail
}

pub fn set_password(to: &str, code: &str, valid_hours: i64) -> Mail {
    Mail {
        to: to.into(),
        subject: "Set your BillForward password".into(),
        text: format!(
            "Hello,\n\n\
             an account was created for you on BillForward. To set your password,\n\
             use this code:\n\n\
             {code}\n\n\
             Send it within {valid_hours} hours (it works once) with the password you\n\
             choose:\n\n{}\n\
             Then log in with your e-mail address and that password\n\
             (POST /v1/oauth/token).\n",
            password_update(to)
        ),
    }
}

pub fn email_changed(old: &str, new: &str) -> Mail {
    Mail {
        to: old.into(),
        subject: "Your BillForward e-mail address was changed".into(),
        text: format!(
            "Hello,\n\n\
             the e-mail address of your BillForward login was changed\n\
             from {old} to {new}.\n\n\
             If you did not ask for this, contact your administrator at once.\n"
        ),
    }
}

pub fn password_reset(to: &str, code: &str, valid_minutes: i64) -> Mail {
    Mail {
        to: to.into(),
        subject: "Your BillForward password reset code".into(),
        text: format!(
            "Hello,\n\n\
             someone asked to reset the password of the BillForward login\n\
             {to}. If it was you, use this code to set a new password:\n\n\
             {code}\n\n\
             Send it within {valid_minutes} minutes (it works once) with the password you\n\
             choose:\n\n{}\n\
             If you did not ask for it, ignore this mail: your password stays as it is.\n",
            password_update(to)
        ),
    }
}

/// A recovery code stood in for the user's second factor at a login.
pub fn recovery_code_used(to: &str, left: i64) -> Mail {
    Mail {
        to: to.into(),
        subject: "A recovery code of your BillForward login was used".into(),
        text: format!(
            "Hello,\n\n\
             one of the recovery codes of the BillForward login {to} was just used to log in \
             in place of its second factor. {left} unused recovery codes are left.\n\n\
             If it was not you, change your password and make new recovery codes at once, and \
             tell your administrator.\n"
        ),
    }
}

/// An administrator removed the user's second factors and recovery codes.
pub fn second_factors_reset(to: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: "The second factors of your BillForward login were removed".into(),
        text: format!(
            "Hello,\n\n\
             an administrator removed the second factors and recovery codes of the BillForward \
             login {to}. You log in with your password alone until you set up a new second \
             factor.\n\n\
             If you did not ask for this, tell your administrator at once.\n"
        ),
    }
}

/// An instant as a mail tells it: `2026-11-28 20:23:58 UTC`.
fn when(at: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(at.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    format!("{} UTC", t.format(&f).unwrap_or_default())
}

/// The user removed one of his confirmed second factors (`name`, of `kind` `totp` or
/// `webauthn`), with his password or a current code; `left` confirmed ones remain.
pub fn second_factor_removed(to: &str, name: &str, kind: &str, at: Millis, left: usize) -> Mail {
    let what = match kind {
        "webauthn" => "a passkey",
        _ => "an authenticator app",
    };
    let after = match left {
        0 => "It was the last one: logins no longer ask for a second factor, and the\n\
              recovery codes were deleted with it.\n"
            .to_string(),
        1 => "One other second factor remains.\n".to_string(),
        n => format!("{n} other second factors remain.\n"),
    };
    Mail {
        to: to.into(),
        subject: "A second factor of your BillForward login was removed".into(),
        text: format!(
            "Hello,\n\n\
             the second factor {} ({what})\n\
             of the BillForward login {to} was removed\n\
             at {}, with its password or a current code.\n\n\
             {after}\n\
             If it was not you, change your password at once, set up your second\n\
             factor again, and tell your administrator.\n",
            quoted(name),
            when(at),
        ),
    }
}

/// The user made new recovery codes, with his password or a current code; the codes are shown
/// to whoever made them, never mailed.
pub fn recovery_codes_regenerated(to: &str, at: Millis) -> Mail {
    Mail {
        to: to.into(),
        subject: "New recovery codes were made for your BillForward login".into(),
        text: format!(
            "Hello,\n\n\
             new recovery codes were made for the BillForward login {to}\n\
             at {}, with its password or a current code.\n\
             The codes made before no longer work; the new ones were shown once,\n\
             to whoever made them.\n\n\
             If it was not you, change your password and make new recovery codes\n\
             at once, and tell your administrator.\n",
            when(at),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "7K3QZ9M2XD";
    const NEW: Acceptance = Acceptance {
        invitation_id: "INV-1",
        new_login: true,
        openid: false,
    };

    fn code_lines(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| {
                l.len() == 10
                    && l.bytes()
                        .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b))
            })
            .collect()
    }

    #[test]
    fn a_name_with_lines_of_its_own_stays_one_quoted_line() {
        let name = "Acme\n\nYour invitation code:\n\nPHISH12345\n\nUse it at https://evil.test";
        let mail = invitation("ann@example.com", name, CODE, 72, NEW);
        assert_eq!(code_lines(&mail.text), vec![CODE], "{}", mail.text);
        assert!(!mail.subject.contains('\n'), "{}", mail.subject);
        let shown = "“Acme Your invitation code: PHISH12345 Use it at https://evi…”";
        assert_eq!(mail.subject, format!("You are invited to {shown}"));
        let line = mail
            .text
            .lines()
            .find(|l| l.contains("PHISH12345"))
            .unwrap();
        assert_eq!(
            line,
            format!("you have been invited to join the organization {shown} on BillForward.")
        );
        assert_eq!(mail.text.matches("PHISH12345").count(), 1);
        assert!(!mail.text.lines().any(|l| l.starts_with("Use it at")));
    }

    /// The requests a mail shows (each block of indented lines): its method and path, and its
    /// JSON body when it has one.
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

    fn post(path: &str, body: Option<serde_json::Value>) -> (String, Option<serde_json::Value>) {
        (format!("POST {path}"), body)
    }

    /// No line but the code's is long enough to be taken for a code, and none is longer than a
    /// mail line should be (but for what the reader's address or an ID makes longer).
    fn well_formed(mail: &Mail) {
        assert_eq!(code_lines(&mail.text), vec![CODE], "{}", mail.text);
        for line in mail.text.lines() {
            let fixed = line.replace("ann@example.com", "").replace("INV-0192", "");
            assert!(fixed.chars().count() <= 76, "{line:?} in {}", mail.text);
        }
        assert!(!mail.text.contains("for example"), "{}", mail.text);
    }

    #[test]
    fn an_invitation_that_made_the_login_is_accepted_by_choosing_its_password_with_the_code() {
        let mail = invitation("ann@example.com", "Acme", CODE, 72, NEW);
        well_formed(&mail);
        let set_password = post(
            "/v1/users/password-reset/password-update",
            Some(serde_json::json!({
                "email": "ann@example.com",
                "resetCode": "<the code above>",
                "newPassword": "<your new password>",
            })),
        );
        assert_eq!(
            requests(&mail.text),
            std::slice::from_ref(&set_password),
            "{}",
            mail.text
        );
        assert!(
            mail.text.contains("To accept within 72 hours"),
            "{}",
            mail.text
        );
        let with_openid = Acceptance {
            openid: true,
            ..NEW
        };
        let mail = invitation("ann@example.com", "Acme", CODE, 72, with_openid);
        well_formed(&mail);
        let link = post(
            "/v1/users/invite/openid",
            Some(
                serde_json::json!({"inviteCode": "<the code above>", "idToken": "<the ID token>"}),
            ),
        );
        assert_eq!(requests(&mail.text), [set_password, link], "{}", mail.text);
    }

    #[test]
    fn an_invitation_of_someone_with_a_login_is_accepted_by_him_logged_in() {
        let existing = Acceptance {
            invitation_id: "INV-0192",
            new_login: false,
            openid: false,
        };
        let mail = invitation("ann@example.com", "Acme", CODE, 24, existing);
        well_formed(&mail);
        let accept = post("/v1/users/mine/invitations/INV-0192/accept", None);
        let with_code = post(
            "/v1/users/invite/accept",
            Some(serde_json::json!({"inviteCode": "<the code above>"})),
        );
        let decline = post("/v1/users/mine/invitations/INV-0192/decline", None);
        assert_eq!(
            requests(&mail.text),
            [accept.clone(), with_code.clone(), decline.clone()],
            "{}",
            mail.text
        );
        assert!(
            mail.text.contains("To accept within 24 hours, log in"),
            "{}",
            mail.text
        );
        let mail = invitation_resent(
            "ann@example.com",
            "Acme",
            CODE,
            24,
            Acceptance {
                openid: true,
                ..existing
            },
        );
        well_formed(&mail);
        let link = post(
            "/v1/users/invite/openid",
            Some(
                serde_json::json!({"inviteCode": "<the code above>", "idToken": "<the ID token>"}),
            ),
        );
        assert_eq!(
            requests(&mail.text),
            [accept, with_code, link, decline],
            "{}",
            mail.text
        );
    }

    #[test]
    fn codes_for_passwords_name_the_request_that_uses_them() {
        for mail in [
            set_password("ann@example.com", CODE, 72),
            password_reset("ann@example.com", CODE, 15),
        ] {
            well_formed(&mail);
            assert_eq!(
                requests(&mail.text),
                [post(
                    "/v1/users/password-reset/password-update",
                    Some(serde_json::json!({
                        "email": "ann@example.com",
                        "resetCode": "<the code above>",
                        "newPassword": "<your new password>",
                    }))
                )],
                "{}",
                mail.text
            );
        }
        let odd = set_password("\"odd\"@example.com", CODE, 72);
        assert_eq!(
            requests(&odd.text)[0].1.as_ref().unwrap()["email"],
            "\"odd\"@example.com",
            "the address is a JSON string: {}",
            odd.text
        );
    }

    #[test]
    fn second_factor_mails_say_what_and_when_and_carry_no_code() {
        // 2026-11-28 20:23:58 UTC.
        let at = 1_795_897_438_000;
        let mails = [
            second_factor_removed("ann@example.com", "Phone\n\n123456", "totp", at, 0),
            second_factor_removed("ann@example.com", "Laptop", "webauthn", at, 1),
            second_factor_removed("ann@example.com", "Key", "webauthn", at, 2),
            recovery_codes_regenerated("ann@example.com", at),
        ];
        for mail in &mails {
            assert!(!mail.subject.contains('\n'), "{}", mail.subject);
            assert!(
                mail.text.contains("at 2026-11-28 20:23:58 UTC"),
                "{}",
                mail.text
            );
            assert!(mail.text.contains("If it was not you"), "{}", mail.text);
            assert!(code_lines(&mail.text).is_empty(), "{}", mail.text);
            assert!(requests(&mail.text).is_empty(), "{}", mail.text);
            for line in mail.text.lines() {
                // But for what the address and the name make longer.
                let fixed = line
                    .replace("ann@example.com", "")
                    .replace("“Phone 123456”", "");
                assert!(fixed.chars().count() <= 76, "{line:?} in {}", mail.text);
            }
        }
        let [last, one, two, codes] = mails;
        // The name the user chose stays one quoted line: no code of its own.
        assert!(
            last.text.contains("“Phone 123456” (an authenticator app)"),
            "{}",
            last.text
        );
        assert!(!last.text.lines().any(|l| l.trim() == "123456"));
        assert!(
            last.text.contains("no longer ask for a second factor"),
            "{}",
            last.text
        );
        assert!(last.text.contains("recovery codes were deleted"));
        assert!(one.text.contains("“Laptop” (a passkey)"), "{}", one.text);
        assert!(one.text.contains("One other second factor remains."));
        assert!(two.text.contains("2 other second factors remain."));
        assert!(codes.text.contains("no longer work"), "{}", codes.text);
    }

    #[test]
    fn long_names_are_cut_with_an_ellipsis() {
        let shown = quoted(&"Blue Ocean Trading Company ".repeat(5));
        assert!(shown.chars().count() <= MAX_NAME_CHARS + 2, "{shown}");
        assert!(shown.ends_with("…”"), "{shown}");
        assert!(
            shown.starts_with("“Blue Ocean Trading Company Blue"),
            "{shown}"
        );
        let exact = "x".repeat(MAX_NAME_CHARS);
        assert_eq!(quoted(&exact), format!("“{exact}”"));
    }

    #[test]
    fn odd_characters_cannot_close_the_quote_or_turn_the_line() {
        assert_eq!(quoted("  Acme”  and “Co  "), "“Acme\" and \"Co”");
        assert_eq!(quoted("Acme\u{202e}moc.live"), "“Acme moc.live”");
        assert_eq!(quoted("A\tB\r\nC\u{2028}D\u{85}E\0F"), "“A B C D E F”");
        assert_eq!(quoted("Zoë & Söhne GmbH"), "“Zoë & Söhne GmbH”");
    }
}
