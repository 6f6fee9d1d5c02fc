//! The error catalogue: every code the API may return, declared once.
//!
//! The variant name is the catalogue `name`; the status is the first three digits of the code.
//! A test holds this table against `shared/error-catalogue.tsv`.

macro_rules! catalogue {
    ($( $name:ident = $code:literal : $description:literal ; )*) => {
        /// One entry of the error catalogue.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $( $name, )* }

        impl ErrorCode {
            /// Every code, ordered by code.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$name, )* ];

            pub const fn code(self) -> u32 {
                match self { $( ErrorCode::$name => $code, )* }
            }

            pub const fn name(self) -> &'static str {
                match self { $( ErrorCode::$name => stringify!($name), )* }
            }

            pub const fn description(self) -> &'static str {
                match self { $( ErrorCode::$name => $description, )* }
            }
        }
    };
}

catalogue! {
    ArgumentMissingOrUnparseable = 400001: "A required argument was not provided or could not be parsed.";
    ValidationError = 400002: "The request failed validation; check the message for details.";
    FromMustBeNonNegative = 400003: "The from parameter must be greater than or equal to 0.";
    LimitMustBeNonNegative = 400004: "The limit parameter must be greater than or equal to 0.";
    LimitTooLarge = 400005: "The limit parameter exceeds the maximum allowed value.";
    UserAlreadyExists = 400006: "A user with this ID already exists.";
    AlreadyPaid = 400007: "The item has already been paid.";
    NoPaymentNecessary = 400008: "No payment is required for this operation.";
    EmailUpdateFailed = 400009: "The e-mail update failed (client-correctable issue).";
    OnlyInviteeCanAccept = 400010: "Only the invited user can accept this invitation.";
    ExceededMaxCsvDateRange = 400011: "The requested CSV export date range exceeds the allowed maximum.";
    PriceCalculationError = 400012: "Price calculation failed; see message for details.";
    CheckoutError = 400013: "Checkout failed; see message for details.";
    PasskeysAlreadyRequired = 400014: "Passkeys are already required by policy.";
    QueryError = 400015: "The server could not process the query; see message for details.";
    SubscriberRefundRequestTooLate = 400016: "The refund request was submitted after the refund period and was rejected.";
    AuthenticationRequired = 401001: "Authentication is required for this endpoint.";
    UserUnauthorized = 403001: "The user is not authorized to perform this action.";
    SignInAgainRequired = 403002: "Account is temporarily locked; sign in again interactively.";
    UserBanned = 403003: "The user is banned.";
    UserSuspended = 403004: "The user is suspended.";
    LockedOut = 403005: "This operation is locked out until a specified time.";
    ElevatedSecurityRequired = 403006: "Elevated security is required (passkey or recent interactive authentication per policy).";
    OnlyLegalSignatoryCanSign = 403007: "Only a legal signatory for the organization can sign this.";
    CreateForbidden = 403008: "The user is not allowed to create this resource.";
    ReadForbidden = 403009: "The user is not allowed to read this resource.";
    UpdateForbidden = 403010: "The user is not allowed to update this resource.";
    DeleteForbidden = 403011: "The user is not allowed to delete this resource.";
    WrongPasskeyResetCode = 403012: "The provided passkey reset code is incorrect.";
    TwoFactorRequired = 403013: "User requires 2FA verification via passkey.";
    ScopeMissing = 403014: "The required scope is missing from the access token.";
    UserNotFoundInDb = 404001: "The specified user was not found in the database.";
    NoActiveOffer = 404002: "The requested module has no active offer.";
    NotFound = 404003: "The requested entity was not found.";
    NoPasskeysRegistered = 404004: "No passkeys are registered for this account.";
    PriceCalculationInvalid = 409001: "The price calculation is invalid or outdated and needs to be refreshed.";
    OtpVerificationFailure = 422001: "One-time password (OTP) verification failed.";
    AccountTermsAcceptanceRequired = 451001: "You must accept the specified account terms version to proceed.";
    UnexpectedError = 500001: "An unexpected server error occurred.";
}

impl ErrorCode {
    /// The HTTP status: the first three digits of the code.
    pub const fn status(self) -> u16 {
        (self.code() / 1000) as u16
    }

    pub fn from_code(code: u32) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use std::collections::HashSet;

    #[test]
    fn codes_and_names_are_unique_and_ordered() {
        let codes: HashSet<u32> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        let names: HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert!(ErrorCode::ALL.windows(2).all(|w| w[0].code() < w[1].code()));
        assert_eq!(ErrorCode::ALL.len(), 39);
    }

    #[test]
    fn status_is_the_first_three_digits() {
        for c in ErrorCode::ALL {
            assert_eq!(c.status() as u32, c.code() / 1000);
            assert_eq!(c.code().to_string()[..3], c.status().to_string());
            assert!(http::StatusCode::from_u16(c.status()).is_ok());
        }
    }

    /// The shared catalogue is the contract; when it is beside the checkout, match it exactly.
    #[test]
    fn matches_the_shared_catalogue_when_present() {
        let candidates = [
            "../shared/error-catalogue.tsv",
            "../../shared/error-catalogue.tsv",
        ];
        let root = env!("CARGO_MANIFEST_DIR");
        let Some(text) = candidates
            .iter()
            .find_map(|p| std::fs::read_to_string(format!("{root}/{p}")).ok())
        else {
            eprintln!("shared/error-catalogue.tsv not found; skipping comparison");
            return;
        };
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split('\t').collect())
            .collect();
        assert_eq!(rows.len(), ErrorCode::ALL.len(), "number of codes");
        for (row, code) in rows.iter().zip(ErrorCode::ALL) {
            assert_eq!(row[0], code.code().to_string());
            assert_eq!(row[1], code.status().to_string());
            assert_eq!(row[2], code.name());
            assert_eq!(row[3], code.description());
        }
    }
}
