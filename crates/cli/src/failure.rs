//! How the CLI fails: one line saying what failed, why, and what to do, and an exit code that
//! tells a usage error (2, as clap uses for bad arguments) from a failure of the work (1).

use std::fmt;

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

/// Exit code of a command whose input was wrong: fix the command line or environment.
pub const EXIT_USAGE: i32 = 2;
/// Exit code of a command that was well formed but failed.
pub const EXIT_FAILED: i32 = 1;

#[derive(Debug)]
pub struct Failure {
    /// What was being done, e.g. "ReceiveMessage on https://sqs…/payhook-dlq".
    pub what: String,
    /// Why it failed, in a sentence.
    pub why: String,
    /// What the operator can do about it, when we know.
    pub hint: Option<String>,
    pub usage: bool,
}

impl Failure {
    /// The operator's input is wrong (a missing variable, an unreadable file, a bad value).
    pub fn usage(what: impl Into<String>, why: impl fmt::Display) -> Failure {
        Failure {
            what: what.into(),
            why: why.to_string(),
            hint: None,
            usage: true,
        }
    }

    /// The work itself failed.
    pub fn failed(what: impl Into<String>, why: impl fmt::Display) -> Failure {
        Failure {
            what: what.into(),
            why: why.to_string(),
            hint: None,
            usage: false,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }

    pub fn exit_code(&self) -> i32 {
        if self.usage { EXIT_USAGE } else { EXIT_FAILED }
    }

    /// An AWS call that failed, explained: the SDK's own rendering of these errors is a nested
    /// debug dump (hundreds of characters of connector and orchestrator state), so the common
    /// causes are named here and the service's own code and message kept for the rest.
    pub fn aws<E, R>(what: impl Into<String>, error: &SdkError<E, R>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + 'static,
    {
        let what = what.into();
        let chain = source_chain(error);
        let lower = chain.to_lowercase();
        if lower.contains("credential") {
            return Failure::failed(what, "no AWS credentials were found").hint(
                "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run \
                 `aws sso login`; for a local emulator pass --endpoint",
            );
        }
        if lower.contains("region") && lower.contains("no ") {
            return Failure::failed(what, "no AWS region is configured")
                .hint("set AWS_REGION (or AWS_DEFAULT_REGION, or a region in your profile)");
        }
        match error {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or("an unnamed error");
                let message = e.message().unwrap_or("no message");
                let failure = Failure::failed(what, format!("AWS answered {code}: {message}"));
                match code {
                    c if c.contains("NonExistentQueue") || c.contains("QueueDoesNotExist") => {
                        failure.hint("check the queue URL (the stack's outputs list it)")
                    }
                    c if c.contains("AccessDenied") || c.contains("UnrecognizedClient") => failure
                        .hint("the credentials in use lack this permission, or belong to another account"),
                    c if c.contains("ResourceNotFound") => {
                        failure.hint("check the table or secret name and the region")
                    }
                    _ => failure,
                }
            }
            SdkError::TimeoutError(_) => Failure::failed(what, "AWS did not answer in time")
                .hint("check the network, the region and --endpoint, then try again"),
            SdkError::DispatchFailure(_) => {
                Failure::failed(what, format!("could not reach AWS: {}", last_source(error)))
                    .hint("check the network, the region and --endpoint")
            }
            _ => Failure::failed(what, last_source(error)),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.why)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// Every message in an error's source chain, joined.
fn source_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

/// The innermost cause: usually the one that says what actually happened.
fn last_source(error: &(dyn std::error::Error + 'static)) -> String {
    let mut last = error;
    while let Some(e) = last.source() {
        last = e;
    }
    last.to_string()
}

pub type Result<T> = std::result::Result<T, Failure>;
