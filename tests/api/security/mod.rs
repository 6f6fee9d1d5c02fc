//! The security review's findings (issue 10), each as the attack that worked before its fix.

mod abuse;
mod invitations;
mod recovery;
mod secrets;
mod sessions;
