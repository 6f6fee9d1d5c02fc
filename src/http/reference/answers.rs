//! What the policy table cannot tell about an operation, keyed by operationId: the codes its
//! own rules answer (each with when), and the fields its `query` filter offers. The generic
//! codes (token, scope, role, elevation, paging, body, idempotency) are derived in `codes`.
//! The API tests hold every answer they receive against this (tests/api/support/openapi.rs).

use crate::error::ErrorCode::{self, *};
use crate::query::{self, Field};

type Answers = &'static [(ErrorCode, &'static str)];

/// The route-specific codes, by operationId, in the order of the document's tags.
#[rustfmt::skip]
const ANSWERS: &[(&str, Answers)] = &[
    // Sign-in.
    ("startEmailOtp", &[
        (LockedOut, "more sign-in starts from this address than the per-minute limit, or more codes for this e-mail address than its quota"),
    ]),
    ("verifyEmailOtp", &[
        (OtpVerificationFailure, "the code is wrong, or the challenge is unknown, used or expired"),
        (LockedOut, "too many wrong codes for this e-mail address (until `lockedUntil`)"),
        (UserBanned, "the account is banned"),
        (UserSuspended, "the account is suspended (until `suspendedUntil`)"),
        (TwoFactorRequired, "the account requires passkeys and has one: finish with `POST /v1/auth/passkey/finish` and the `challengeId` and `publicKey` given"),
    ]),
    ("startPasskeySignIn", &[
        (LockedOut, "more sign-in starts from this address than the per-minute limit"),
        (NoPasskeysRegistered, "no account with this e-mail address has a passkey"),
    ]),
    ("finishPasskeySignIn", &[
        (AuthenticationRequired, "the challenge is unknown, used or expired, or the assertion does not verify"),
        (UserBanned, "the account is banned"),
        (UserSuspended, "the account is suspended (until `suspendedUntil`)"),
    ]),
    ("startPasskeyReset", &[
        (LockedOut, "more sign-in starts from this address than the per-minute limit"),
    ]),
    ("finishPasskeyReset", &[
        (WrongPasskeyResetCode, "the code is wrong or expired"),
        (LockedOut, "too many wrong codes for this e-mail address (until `lockedUntil`)"),
        (UserBanned, "the account is banned"),
        (UserSuspended, "the account is suspended (until `suspendedUntil`)"),
    ]),
    // Sessions and elevation.
    ("deleteSession", &[(NotFound, "the caller has no live session with this id")]),
    ("startElevation", &[
        (ValidationError, "`method` is not one this user can elevate with"),
        (LockedOut, "more codes for the account's address than its quota (`email-otp`)"),
    ]),
    ("finishElevation", &[
        (ValidationError, "neither or both of `credential` and `code`; the assertion does not verify, or its challenge is unknown, used or expired"),
        (OtpVerificationFailure, "the code is wrong, or its challenge is unknown, used or expired"),
        (LockedOut, "too many wrong codes for the account's address"),
    ]),
    // The signed-in user.
    ("startEmailChange", &[
        (EmailUpdateFailed, "the new address is malformed, the current one, or another account's"),
        (LockedOut, "more codes for the new address than its quota"),
    ]),
    ("verifyEmailChange", &[
        (OtpVerificationFailure, "the code is wrong, or the challenge is unknown, used, expired or another user's"),
        (LockedOut, "too many wrong codes for the new address"),
        (EmailUpdateFailed, "another account took the address meanwhile"),
    ]),
    ("requireMyPasskeys", &[
        (NoPasskeysRegistered, "the user has no passkey yet"),
        (PasskeysAlreadyRequired, "passkeys are required already, by the user or by an organization"),
    ]),
    // Passkeys.
    ("finishPasskeyRegistration", &[
        (ValidationError, "the credential does not verify, its challenge is unknown, used, expired or another session's, or it is registered already"),
    ]),
    ("renamePasskey", &[(NotFound, "the user has no passkey with this id")]),
    ("deletePasskey", &[
        (NotFound, "the user has no passkey with this id"),
        (ValidationError, "it is the last passkey of a user who must sign in with passkeys"),
    ]),
    // Access tokens.
    ("deleteToken", &[(NotFound, "the user has no live access token with this id")]),
    // Terms.
    ("getCurrentTerms", &[(NotFound, "no terms are published")]),
    ("publishTerms", &[(ValidationError, "this version was published already")]),
    ("acceptTerms", &[(ValidationError, "`version` is not the current version")]),
    // Users.
    ("createUser", &[(UserAlreadyExists, "a user has this id or e-mail address")]),
    ("getUser", &[(UserNotFoundInDb, "no user has this id")]),
    ("banUser", &[(UserNotFoundInDb, "no user has this id")]),
    ("unbanUser", &[(UserNotFoundInDb, "no user has this id")]),
    ("suspendUser", &[
        (UserNotFoundInDb, "no user has this id"),
        (ValidationError, "`until` is not in the future"),
    ]),
    ("unsuspendUser", &[(UserNotFoundInDb, "no user has this id")]),
    ("lockUser", &[(UserNotFoundInDb, "no user has this id")]),
    ("updateUser", &[
        (UserNotFoundInDb, "no user has this id, also when the user was erased while the change waited"),
        (UserAlreadyExists, "another account has this e-mail address"),
        (ElevatedSecurityRequired, "a session that is not elevated changes `email` (an access token needs no elevation)"),
    ]),
    ("eraseUser", &[
        (UserNotFoundInDb, "no user has this id (an erased user has none either)"),
        (ValidationError, "the user is the last owner of an organization"),
    ]),
    ("eraseMe", &[(ValidationError, "the caller is the last owner of an organization")]),
    ("listUserOrgs", &[(UserNotFoundInDb, "no user has this id")]),
    // Organizations and members.
    ("deleteOrg", &[(ValidationError, "a subscription is active or past due without `cancelAtPeriodEnd`, or a payment or refund of the organization is under way")]),
    ("updateMember", &[
        (ElevatedSecurityRequired, "changing `legalSignatory` needs an elevated session"),
        (ValidationError, "the last owner's role would change"),
    ]),
    ("removeMember", &[
        (DeleteForbidden, "an admin removing an owner"),
        (ValidationError, "the last owner would go"),
    ]),
    ("endRecoveryHold", &[(NotFound, "the member has no recovery hold in this organization")]),
    ("requireOrgPasskeys", &[
        (NoPasskeysRegistered, "the owner has no passkey yet"),
        (PasskeysAlreadyRequired, "the organization requires passkeys already"),
    ]),
    // Invitations.
    ("createInvitation", &[
        (CreateForbidden, "the role is above the inviter's own"),
        (ValidationError, "the address is a member's"),
    ]),
    ("revokeInvitation", &[(NotFound, "the invitation is no longer pending")]),
    ("acceptInvitation", &[
        (NotFound, "no invitation has this id, or it expired or was answered or revoked"),
        (OnlyInviteeCanAccept, "the invitation is to another address, or the caller's address is not verified"),
    ]),
    ("declineInvitation", &[
        (NotFound, "no invitation has this id, or it expired or was answered or revoked"),
        (OnlyInviteeCanAccept, "the invitation is to another address, or the caller's address is not verified"),
    ]),
    // Agreements.
    ("signAgreement", &[(ValidationError, "the agreement is signed already")]),
    // Exports.
    ("exportTransactions", &[
        (ArgumentMissingOrUnparseable, "`since` or `until` is missing or not a `YYYY-MM-DD` date"),
        (ValidationError, "`since` is after `until`"),
        (ExceededMaxCsvDateRange, "the range spans more days than `maxDays`"),
    ]),
    // The catalogue.
    ("createModule", &[(ValidationError, "the key is in use")]),
    ("getModule", &[(NotFound, "no module has this id")]),
    ("updateModule", &[(NotFound, "no module has this id")]),
    ("archiveModule", &[(NotFound, "no module has this id")]),
    ("createOffer", &[
        (NotFound, "no module has this id"),
        (ValidationError, "the module is archived"),
    ]),
    ("endOffer", &[
        (NotFound, "no module has this id, or the module has no offer with this id"),
        (ValidationError, "`validUntil` is later than the offer's end, before now, or before its `validFrom`"),
    ]),
    ("listOffers", &[(NotFound, "no module has this id")]),
    ("getActiveOffer", &[
        (NotFound, "no module has this id"),
        (NoActiveOffer, "no offer of the module applies now"),
    ]),
    ("createCoupon", &[(ValidationError, "a live coupon has this code")]),
    ("getCoupon", &[(NotFound, "no coupon has this id, or it was deleted")]),
    ("deleteCoupon", &[(NotFound, "no coupon has this id, or it was deleted")]),
    // Billing.
    ("createPriceCalculation", &[
        (ValidationError, "`items` lists no module, or more than 100"),
        (PriceCalculationError, "a quantity outside 1 to 1000, a module listed twice, offers in different currencies, or a coupon that is unknown, expired, used up or in another currency"),
        (NoActiveOffer, "a module has no active offer or is archived (an unknown module has no offer either)"),
    ]),
    ("getPriceCalculation", &[(NotFound, "the organization has no price calculation with this id")]),
    ("createCheckout", &[
        (ValidationError, "no price calculation of the organization has this id, or `paymentMethod` is not a card"),
        (CheckoutError, "the calculation was checked out already, the organization subscribes to one of its modules already, or the card was declined (`declineCode`)"),
        (PriceCalculationInvalid, "the calculation expired, or an offer or the coupon it used changed, ended, expired, was used up or deleted, or a module of it was archived (`priceCalculationId`)"),
    ]),
    ("payInvoice", &[
        (ValidationError, "`paymentMethod` is not a card"),
        (AlreadyPaid, "the invoice is paid, or another payment of it is under way"),
        (NoPaymentNecessary, "the invoice's total is zero, or it is void"),
        (CheckoutError, "the card was declined (`declineCode`)"),
    ]),
    ("cancelSubscription", &[
        (ValidationError, "the subscription has ended, is paid and waits for an agreement (request a refund instead), or a payment of its invoice is under way"),
    ]),
    ("requestRefund", &[
        (NoPaymentNecessary, "the subscription was refunded already, nothing was paid for its current period, or a refund of it is under way"),
        (ValidationError, "the subscription has ended"),
        (SubscriberRefundRequestTooLate, "the offer's refund period since the period started is over"),
    ]),
    // The catalogue of errors, the test clock, operations.
    ("getError", &[(NotFound, "no code of the catalogue has this number")]),
    ("getDocsAsset", &[(NotFound, "no file of the pages has this name (an old version's name included)")]),
    ("advanceClock", &[(ValidationError, "`advanceSeconds` is outside 1 to 315,360,000")]),
    ("getReadiness", &[(UnexpectedError, "the database cannot be reached, or migrations are pending")]),
];

/// The codes `operation_id`'s own rules answer, with when.
pub(crate) fn of(operation_id: &str) -> Answers {
    ANSWERS
        .iter()
        .find(|(id, _)| *id == operation_id)
        .map(|(_, answers)| *answers)
        .unwrap_or(&[])
}

/// The operations of the table (a test checks each names an operation of the document).
#[cfg(test)]
pub(crate) fn operation_ids() -> impl Iterator<Item = &'static str> {
    ANSWERS.iter().map(|(id, _)| *id)
}

/// The fields of the lists that take `query`, by operationId.
const QUERY_FIELDS: &[(&str, &[Field])] = &[
    ("listUsers", query::USERS),
    ("listAuditEvents", query::AUDIT_EVENTS),
    ("listInvoices", query::INVOICES),
    ("listSubscriptions", query::SUBSCRIPTIONS),
    ("listAdminOrgs", query::ORGS),
];

/// The fields `operation_id`'s `query` offers.
pub(crate) fn query_fields(operation_id: &str) -> Option<&'static [Field]> {
    QUERY_FIELDS
        .iter()
        .find(|(id, _)| *id == operation_id)
        .map(|(_, fields)| *fields)
}
