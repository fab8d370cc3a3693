//! The client side of the contract: typed zbus proxies for `org.trusty.Mpm1` and
//! `org.trusty.Mpm1.Session`, used by the client subcommands and the integration tests.

pub mod hooks;
pub mod proxy;
