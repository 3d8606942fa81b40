use super::*;

#[test]
fn recipients_accept_numbers_and_groups() {
    for ok in [
        "923001234567",
        "15551234567",
        "12345678",
        "123456789012345",
        "120363000000000000@g.us",
        "1234-5678@g.us",
    ] {
        assert_eq!(Recipient::parse(ok).unwrap().as_str(), ok);
    }
}

#[test]
fn recipients_refuse_what_whatsapp_cannot_route() {
    for bad in [
        "",
        "+923001234567",
        "1234567",
        "1234567890123456",
        "0923001234567",
        "92300 1234567",
        "abc",
        "123@s.whatsapp.net",
        "@g.us",
        "12-@g.us",
        "x1@g.us",
    ] {
        assert!(Recipient::parse(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn media_kind_follows_the_mime_type() {
    assert_eq!(MediaKind::from_mime("image/png"), MediaKind::Image);
    assert_eq!(MediaKind::from_mime("IMAGE/JPEG; q=1"), MediaKind::Image);
    assert_eq!(MediaKind::from_mime("image/svg+xml"), MediaKind::Document);
    assert_eq!(MediaKind::from_mime("audio/ogg; codecs=opus"), MediaKind::Audio);
    assert_eq!(MediaKind::from_mime("video/mp4"), MediaKind::Video);
    assert_eq!(MediaKind::from_mime("application/pdf"), MediaKind::Document);
    assert_eq!(MediaKind::from_mime(""), MediaKind::Document);
}

#[test]
fn validation_names_every_bad_field() {
    let v = Validator::new(5);
    let req = TextInput {
        to: Some("+1".into()),
        text: Some("too long".into()),
        ..Default::default()
    };
    let errors = v.text(&req, "items[2].").unwrap_err();
    let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["items[2].to", "items[2].text"]);

    let errors = v.text(&TextInput::default(), "").unwrap_err();
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().all(|e| e.message == "is required"));

    let blank = TextInput {
        to: Some("15551234567".into()),
        text: Some("  \n".into()),
        ..Default::default()
    };
    assert_eq!(v.text(&blank, "").unwrap_err()[0].message, "must not be empty");

    let ok = TextInput {
        to: Some("15551234567".into()),
        text: Some("héllo".into()),
        ..Default::default()
    };
    assert_eq!(*v.text(&ok, "").unwrap().content(), Content::Text("héllo".into()));
}

#[test]
fn templates_are_refused_while_no_plugin_can_render_them() {
    let v = Validator::new(100);
    let req = TextInput {
        to: Some("15551234567".into()),
        text: Some("hi".into()),
        template: Some("welcome".into()),
        ..Default::default()
    };
    let errors = v.text(&req, "").unwrap_err();
    assert_eq!(errors[0].field, "template");
    let vars = TextInput {
        template: None,
        vars: Some(Default::default()),
        ..req
    };
    assert_eq!(v.text(&vars, "items[0].").unwrap_err()[0].field, "items[0].vars");
}
