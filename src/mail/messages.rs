//! The texts of the mails the service sends. Each code stands alone on a line, so a person can
//! copy it and a program can find it. Names that others chose (an organization's) appear only
//! through [`quoted`], so they can never pass for a line of the mail's own.

use super::Mail;

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

pub fn invitation(to: &str, organization: &str, code: &str, valid_hours: i64) -> Mail {
    let organization = quoted(organization);
    Mail {
        to: to.into(),
        subject: format!("You are invited to {organization}"),
        text: format!(
            "Hello,\n\n\
             you have been invited to join the organization {organization} on BillForward.\n\n\
             Your invitation code:\n\n\
             {code}\n\n\
             Use it within {valid_hours} hours to accept the invitation, for example by setting \
             your password with it.\n\n\
             If you did not expect this invitation, ignore this mail.\n"
        ),
    }
}

/// The invitation again, with a new code: the one mailed before no longer works.
pub fn invitation_resent(to: &str, organization: &str, code: &str, valid_hours: i64) -> Mail {
    let mut mail = invitation(to, organization, code, valid_hours);
    mail.text.push_str(
        "\nThis invitation was sent again: the code of any earlier mail about it no longer \
         works.\n",
    );
    mail
}

pub fn set_password(to: &str, code: &str, valid_hours: i64) -> Mail {
    Mail {
        to: to.into(),
        subject: "Set your BillForward password".into(),
        text: format!(
            "Hello,\n\n\
             an account was created for you on BillForward. To set your password, use this \
             code:\n\n\
             {code}\n\n\
             It is valid for {valid_hours} hours and can be used once.\n"
        ),
    }
}

pub fn email_changed(old: &str, new: &str) -> Mail {
    Mail {
        to: old.into(),
        subject: "Your BillForward e-mail address was changed".into(),
        text: format!(
            "Hello,\n\n\
             the e-mail address of your BillForward login was changed from {old} to {new}.\n\n\
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
             someone asked to reset the password of the BillForward login {to}. If it was you, \
             use this code to set a new password:\n\n\
             {code}\n\n\
             It is valid for {valid_minutes} minutes and can be used once. If you did not ask for \
             it, ignore this mail: your password stays as it is.\n"
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

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "7K3QZ9M2XD";

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
        let mail = invitation("ann@example.com", name, CODE, 72);
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
