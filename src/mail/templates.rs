//! Every message Charter sends: a subject, a text body a person can read, and the template's
//! variables (`data`), which the file outbox records for machines.

use serde_json::json;

use super::Mail;

fn minutes(seconds: i64) -> i64 {
    (seconds + 59) / 60
}

pub fn sign_in_code(to: &str, code: &str, ttl_secs: i64) -> Mail {
    Mail {
        to: to.into(),
        subject: "Your Charter sign-in code".into(),
        text: format!(
            "Your sign-in code is {code}.\n\nIt expires in {} minutes and works once. If you did not try to sign in, ignore this message; nobody can sign in without the code.\n",
            minutes(ttl_secs)
        ),
        template: "sign-in-code",
        data: json!({ "code": code }),
    }
}

pub fn elevation_code(to: &str, code: &str, ttl_secs: i64) -> Mail {
    Mail {
        to: to.into(),
        subject: "Your Charter confirmation code".into(),
        text: format!(
            "Use {code} to confirm it is you before a sensitive change.\n\nIt expires in {} minutes. If you did not ask for it, someone may be using your session: sign out everywhere.\n",
            minutes(ttl_secs)
        ),
        template: "elevation-code",
        data: json!({ "code": code }),
    }
}

pub fn email_change_code(to: &str, code: &str, ttl_secs: i64) -> Mail {
    Mail {
        to: to.into(),
        subject: "Confirm your new e-mail address".into(),
        text: format!(
            "Enter {code} to make this address the e-mail of your Charter account.\n\nIt expires in {} minutes. If you did not ask for this, ignore this message.\n",
            minutes(ttl_secs)
        ),
        template: "email-change-code",
        data: json!({ "code": code }),
    }
}

pub fn passkey_reset_code(to: &str, code: &str, ttl_secs: i64) -> Mail {
    Mail {
        to: to.into(),
        subject: "Your Charter passkey reset code".into(),
        text: format!(
            "Your passkey reset code is {code}.\n\nUsing it removes every passkey of your account and signs out your other sessions. It expires in {} minutes. If you did not ask for it, ignore this message.\n",
            minutes(ttl_secs)
        ),
        template: "passkey-reset-code",
        data: json!({ "code": code }),
    }
}

/// The answer to a passkey reset asked for an address no account uses: the same work as a
/// code (4.1), and useful to a person who forgot which address they signed up with.
pub fn passkey_reset_no_account(to: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: "Your Charter passkey reset request".into(),
        text: "Someone asked to reset the passkeys of a Charter account at this address, but no account uses it.\n\nIf it was you, you may have signed up with another address. If it was not, ignore this message.\n".into(),
        template: "passkey-reset-no-account",
        data: json!({}),
    }
}

/// To an owner (or a platform administrator) of an organization that requires passkeys: a
/// member recovered their account by mailbox alone and is on hold (4.5).
pub fn member_recovered(
    to: &str,
    member: &str,
    org_name: &str,
    until: crate::time::Timestamp,
) -> Mail {
    Mail {
        to: to.into(),
        subject: format!("A member of {org_name} reset their passkeys"),
        text: format!(
            "{member} reset the passkeys of their Charter account with a code sent to their mailbox. Because {org_name} requires passkeys, they cannot use it until {until}.\n\nIf you know it was them, an owner may end the hold now. If not, remove them from the organization.\n"
        ),
        template: "member-recovered",
        data: json!({ "member": member, "organization": org_name, "heldUntil": until }),
    }
}

/// A security change on the account (passkeys, tokens, e-mail, reset).
pub fn security_notice(to: &str, what: &str, template: &'static str) -> Mail {
    Mail {
        to: to.into(),
        subject: "Security change on your Charter account".into(),
        text: format!(
            "{what}\n\nIf this was you, there is nothing to do. If it was not, reset your passkeys and review your sessions and access tokens now.\n"
        ),
        template,
        data: json!({ "change": what }),
    }
}

pub fn invitation(to: &str, invitation_id: &str, org_name: &str, role: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: format!("You are invited to {org_name} on Charter"),
        text: format!(
            "You have been invited to join {org_name} as {role}.\n\nSign in with this address and accept invitation {invitation_id}. The invitation expires in 7 days.\n"
        ),
        template: "invitation",
        data: json!({ "invitationId": invitation_id, "organization": org_name, "role": role }),
    }
}

pub fn renewal_failed(to: &str, org_name: &str, module: &str, next_try: Option<&str>) -> Mail {
    let next = match next_try {
        Some(t) => format!("We will try again at {t}."),
        None => "There are no retries left: the subscription has ended.".into(),
    };
    Mail {
        to: to.into(),
        subject: format!("Payment for {module} failed"),
        text: format!(
            "The renewal payment of {org_name}'s subscription to {module} was declined. {next}\n\nUpdate the payment method to keep the subscription.\n"
        ),
        template: "renewal-failed",
        data: json!({ "organization": org_name, "module": module, "nextTry": next_try }),
    }
}
