//! The texts of the mails the service sends. Each code stands alone on a line, so a person can
//! copy it and a program can find it.

use super::Mail;

pub fn invitation(to: &str, organization: &str, code: &str, valid_hours: i64) -> Mail {
    Mail {
        to: to.into(),
        subject: format!("You are invited to {organization}"),
        text: format!(
            "Hello,\n\n\
             you have been invited to join {organization} on BillForward.\n\n\
             Your invitation code:\n\n\
             {code}\n\n\
             Use it within {valid_hours} hours to accept the invitation, for example by setting \
             your password with it.\n\n\
             If you did not expect this invitation, ignore this mail.\n"
        ),
    }
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
