//! Gatehouse benchmark helpers.
