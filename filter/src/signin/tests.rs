//! Unit tests of the sign-in's steps (the gateway's part is tested in filter/tests/signin.rs).
