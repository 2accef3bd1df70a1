//! The error type of every fallible operation in the library.

use std::fmt;

/// What went wrong, with enough context to find where.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// Two shapes that an operation cannot combine.
    ShapeMismatch {
        /// The operation, as in `"add"` or `"matmul"`.
        op: &'static str,
        /// The first operand's shape.
        lhs: Vec<usize>,
        /// The second operand's shape.
        rhs: Vec<usize>,
        /// Why they do not fit.
        reason: String,
    },
    /// An argument outside what the operation accepts.
    InvalidArgument {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A storage buffer whose length does not match the shape it is used with.
    StorageLength {
        /// The operation.
        op: &'static str,
        /// Elements the shape needs.
        expected: usize,
        /// Elements the buffer has.
        actual: usize,
    },
    /// A failure inside a backend (a device error, an unsupported feature).
    Backend {
        /// The backend's name.
        backend: String,
        /// What the backend reported.
        message: String,
    },
}

impl Error {
    /// An [`Error::InvalidArgument`] for `op`.
    pub fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            message: message.into(),
        }
    }

    /// An [`Error::ShapeMismatch`] for `op`.
    pub fn shapes(
        op: &'static str,
        lhs: &[usize],
        rhs: &[usize],
        reason: impl Into<String>,
    ) -> Self {
        Error::ShapeMismatch {
            op,
            lhs: lhs.to_vec(),
            rhs: rhs.to_vec(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ShapeMismatch {
                op,
                lhs,
                rhs,
                reason,
            } => write!(f, "{op}: shapes {lhs:?} and {rhs:?} do not fit: {reason}"),
            Error::InvalidArgument { op, message } => write!(f, "{op}: {message}"),
            Error::StorageLength {
                op,
                expected,
                actual,
            } => write!(
                f,
                "{op}: storage holds {actual} elements but its shape needs {expected}"
            ),
            Error::Backend { backend, message } => write!(f, "backend {backend}: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
