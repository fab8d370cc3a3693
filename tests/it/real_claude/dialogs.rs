//! Claude's own dialogs: a claude that shows a dialog instead of its prompt (here the folder
//! trust question, asked in a folder it was never told to trust) needs input, named by the
//! dialog's title, and text sent to it is refused instead of typed into the dialog.

use super::{Version, World};
use crate::harness::*;

pub async fn a_dialog_needs_input_and_takes_no_text(version: Version) {
    let w = World::new(version, &[]).await;
    let dir = w.untrusted("strange");
    let m = w.env.manager().await;
    let (_, _, path) = m
        .start_session(&dir, "strange", Default::default())
        .await
        .expect("StartSession");
    let s = w.env.session_uncached(&path).await;
    w.wait("strange", "the dialog is recognised", || async {
        s.activity().await.unwrap() == "needs-input"
    })
    .await;
    let title = s.activity_detail().await.unwrap();
    assert!(!title.is_empty(), "the dialog has no title");
    let e = assert_error(m.send_command("strange", "hello").await, "InvalidState");
    assert!(e.contains(&title), "{e}");
    let screen = m.capture_output("strange", 50, "off").await.unwrap();
    assert!(
        !screen.contains("hello"),
        "typed into the dialog:\n{screen}"
    );
}
