//! What a failed D-Bus call must look like: one of the contract's error names and one readable
//! sentence. Shared by the integration tests and the D-Bus face's in-process tests.

/// The D-Bus error name of a failed call.
pub fn error_name(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, _, _) => name.to_string(),
        other => panic!("not a method error: {other:?}"),
    }
}

/// Asserts a call failed with `org.trusty.Mpm1.Error.<name>` and a one-sentence message.
pub fn assert_error<T: std::fmt::Debug>(r: zbus::Result<T>, name: &str) -> String {
    let e = r.expect_err(&format!("expected {name}"));
    assert_eq!(
        error_name(&e),
        format!("org.trusty.Mpm1.Error.{name}"),
        "{e:?}"
    );
    let zbus::Error::MethodError(_, Some(msg), _) = &e else {
        panic!("{name} without a message")
    };
    assert!(
        !msg.contains('\n') && msg.ends_with('.'),
        "not one sentence: {msg:?}"
    );
    assert!(
        !msg.contains("Error(") && !msg.contains("{ "),
        "debug output on the wire: {msg:?}"
    );
    msg.clone()
}
