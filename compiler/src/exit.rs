//! The exit codes of every `gatehouse` command, in one place.

/// Exit code: success (warnings allowed).
pub const EXIT_OK: u8 = 0;
/// Exit code: the policy (or the command line) is invalid.
pub const EXIT_INVALID: u8 = 1;
/// Exit code: the tool failed (I/O error writing output, a bug).
pub const EXIT_FAILURE: u8 = 2;
/// Exit code: a negative answer (`check`/`explain` denied, a failing `test` case,
/// `diff --exit-code` with changes).
pub const EXIT_DENIED: u8 = 3;
