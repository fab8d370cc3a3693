//! The relay's hand-written messages against zbus's own reading and writing of them.

use super::marshal::*;
use std::collections::HashMap;
use zbus::message::{Flags, Message};
use zbus::wire::serialized::{Context, Data};
use zbus::wire::{Endian, LE};

/// What zbus reads of a message the relay wrote.
fn parsed(bytes: Vec<u8>) -> Message {
    // SAFETY: zbus checks the encoding as it parses; a bad one fails the test.
    unsafe { Message::from_bytes(Data::new(bytes, Context::new(LE, 0))) }.unwrap()
}
use zbus::OwnedVariant;

/// The relay's call, as zbus reads it: every header field and the arguments come through.
#[test]
fn zbus_reads_the_calls_the_relay_writes() {
    let dict = [
        ("tmux_pane", Value::Str("%3")),
        ("tmux", Value::Str("/tmp/t,1,0")),
        ("answerer", Value::Bool(true)),
    ];
    let payload = r#"{"hook_event_name":"Notification","message":"héllo"}"#;
    let bytes = Call {
        flags: NO_AUTO_START,
        path: "/org/trusty/Mpm1",
        destination: "org.trusty.Mpm1",
        interface: "org.trusty.Mpm1.Manager",
        member: "HandleHook",
        args: &[Arg::Str(payload), Arg::Dict(&dict)],
    }
    .encode(7)
    .unwrap();
    let msg = parsed(bytes);
    let h = msg.header();
    assert_eq!(h.primary().serial_num().get(), 7);
    assert!(h.primary().flags().contains(Flags::NO_AUTO_START));
    assert_eq!(h.path().unwrap().as_str(), "/org/trusty/Mpm1");
    assert_eq!(h.destination().unwrap().as_str(), "org.trusty.Mpm1");
    assert_eq!(h.interface().unwrap().as_str(), "org.trusty.Mpm1.Manager");
    assert_eq!(h.member().unwrap().as_str(), "HandleHook");
    let (text, ctx): (String, HashMap<String, OwnedVariant>) = msg.body().deserialize().unwrap();
    assert_eq!(text, payload);
    assert_eq!(ctx.len(), 3);
    assert_eq!(String::try_from(ctx["tmux_pane"].clone()).unwrap(), "%3");
    assert_eq!(String::try_from(ctx["tmux"].clone()).unwrap(), "/tmp/t,1,0");
    assert!(bool::try_from(ctx["answerer"].clone()).unwrap());
}

#[test]
fn a_call_without_arguments_has_no_signature() {
    let bytes = Call::to_bus("Hello", &[]).encode(1).unwrap();
    let msg = parsed(bytes);
    assert_eq!(msg.header().member().unwrap().as_str(), "Hello");
    assert_eq!(msg.header().signature().to_string(), "");
}

#[test]
fn a_nul_in_a_string_is_refused() {
    let call = Call {
        flags: 0,
        path: "/",
        destination: "a.b",
        interface: "a.b",
        member: "M",
        args: &[Arg::Str("a\0b")],
    };
    assert!(call.encode(1).is_err());
}

/// A reply zbus writes (in either byte order), as the relay reads it.
fn read_back(msg: Message) -> Reply {
    let data = msg.data();
    let len = message_len(&data[..FIXED], 1 << 20).unwrap();
    assert_eq!(len, data.len());
    Reply::decode(data).unwrap()
}

fn call_to_answer(member: &str) -> Message {
    Message::method_call("/org/trusty/Mpm1", member)
        .destination("org.trusty.Mpm1")
        .build(&())
        .unwrap()
}

#[test]
fn the_relay_reads_the_replies_zbus_writes() {
    let call = call_to_answer("HandleHook");
    let serial = call.primary_header().serial_num().get();
    let reply = Message::method_return(&call.header())
        .build(&("{\"decision\":\"é\"}", 2i32, "blocked"))
        .unwrap();
    let r = read_back(reply);
    assert_eq!((r.kind, r.reply_to), (METHOD_RETURN, Some(serial)));
    assert_eq!(
        r.str_int_str().unwrap(),
        ("{\"decision\":\"é\"}".into(), 2, "blocked".into())
    );
    assert!(r.bool().is_err(), "a reply of another signature");

    let call = call_to_answer("NameHasOwner");
    for owned in [true, false] {
        let reply = Message::method_return(&call.header())
            .build(&(owned,))
            .unwrap();
        assert_eq!(read_back(reply).bool().unwrap(), owned);
    }
}

#[test]
fn big_endian_replies_and_errors_are_read() {
    let call = call_to_answer("HandleHook");
    let serial = call.primary_header().serial_num().get();
    let reply = Message::method_return(&call.header())
        .endian(Endian::Big)
        .build(&("out", -1i32, "err"))
        .unwrap();
    let r = read_back(reply);
    assert_eq!(r.reply_to, Some(serial));
    assert_eq!(r.str_int_str().unwrap(), ("out".into(), -1, "err".into()));

    let error = Message::error(&call.header(), "org.trusty.Mpm1.Error.Failed")
        .build(&("no",))
        .unwrap();
    let r = read_back(error);
    assert_ne!(r.kind, METHOD_RETURN);
    assert_eq!(r.reply_to, Some(serial));
}

#[test]
fn messages_too_large_or_not_dbus_are_refused() {
    let mut fixed = [0u8; FIXED];
    fixed[0] = b'x';
    assert!(message_len(&fixed, 1 << 20).is_err());
    fixed[0] = b'l';
    fixed[4..8].copy_from_slice(&(2u32 << 20).to_le_bytes());
    assert!(message_len(&fixed, 1 << 20).is_err());
}
