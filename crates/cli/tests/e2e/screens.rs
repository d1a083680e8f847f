//! Screens over the SDK: an automated system's screen arrives typed, the phone acknowledges it
//! and presses a region, and the system hears both, typed too.

use super::*;
use callside_client::proto::admin::{CreateServiceAccount, Scope};
use callside_client::proto::screen::{
    Action, Region, RegionDisplay, ScreenBody, ScreenMode, ScreenOwner, ScreenStatus, ScreenTarget,
    VoicemailCommand,
};
use callside_client::screens::{ScreenEvent, ScreenMessage};

const VOICEMAIL: &str = "+442079460901";

async fn screen_event(ch: &mut Channel) -> ScreenEvent {
    next(ch, |e| match e {
        Event::Screen(s) => Some(s),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn a_screen_arrives_typed_and_its_acknowledgement_and_press_go_back() {
    let w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let created = w
        .admin
        .create_service_account(&CreateServiceAccount {
            name: "Bob's voicemail".into(),
            scopes: vec![Scope::AutomatedSystem],
            ranges: vec!["+4420794609".into()],
        })
        .await
        .unwrap();
    let system = Client::new(&w.base, &created.token).unwrap();
    let mut on_alice = Channel::connect(&alice).await.unwrap();
    let mut on_system = Channel::connect(&system).await.unwrap();
    alice
        .report_leg(
            &leg(ALICE, Some(VOICEMAIL), Direction::Outgoing),
            Duration::ZERO,
        )
        .await
        .unwrap();
    let key = system
        .report_leg(
            &leg(VOICEMAIL, Some(ALICE), Direction::Incoming),
            Duration::ZERO,
        )
        .await
        .unwrap()
        .session
        .unwrap()
        .key;

    let screen = ScreenBody {
        id: "voicemail".into(),
        owner: ScreenOwner {
            system: None,
            number: Some(VOICEMAIL.into()),
        },
        mode: ScreenMode::Predetermined,
        target: ScreenTarget::Call,
        automated: true,
        title: Some("Bob's voicemail".into()),
        image: None,
        regions: vec![Region {
            id: "record".into(),
            label: "Record".into(),
            icon: Some("record".into()),
            position: None,
            display: RegionDisplay::Flashing,
            overlay: false,
            action: Action::Voicemail {
                command: VoicemailCommand::Record,
            },
        }],
    };
    on_system.sender().send_screen(&key, &screen).await.unwrap();
    let shown = screen_event(&mut on_alice).await;
    let ScreenMessage::Screen(body) = &shown.message else {
        panic!("{shown:?}")
    };
    assert_eq!(
        body.owner.system.as_deref(),
        Some(created.account.id.as_str())
    );
    assert_eq!(body.regions[0].action, screen.regions[0].action);
    let sender = on_alice.sender();
    sender
        .acknowledge_screen(&key, "voicemail", ScreenStatus::Shown, None)
        .await
        .unwrap();
    sender
        .press(&key, "voicemail", "record", None)
        .await
        .unwrap();
    let err = sender
        .press(&key, "voicemail", "delete", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("unknown_region"));

    // The system's own screen comes back to it too; then the acknowledgement and the press.
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let e = screen_event(&mut on_system).await;
        if !matches!(e.message, ScreenMessage::Screen(_)) {
            heard.push(e.message);
        }
    }
    assert!(matches!(&heard[0], ScreenMessage::Ack(a) if a.status == ScreenStatus::Shown));
    assert!(matches!(&heard[1], ScreenMessage::Action(a) if a.region == "record"));
    w.stop().await;
}

/// A predetermined screen the system keeps on the server greets a caller whose device shows
/// screens (S1-F11, F20) — with the system not even connected — and not one whose device does not.
#[tokio::test]
async fn a_kept_screen_greets_callers_whose_devices_show_screens() {
    use callside_client::proto::component::Capabilities;
    let w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", "+442079460002").await;
    let created = w
        .admin
        .create_service_account(&CreateServiceAccount {
            name: "Bob's voicemail".into(),
            scopes: vec![Scope::AutomatedSystem],
            ranges: vec!["+4420794609".into()],
        })
        .await
        .unwrap();
    let system = Client::new(&w.base, &created.token).unwrap();
    let kept = ScreenBody {
        id: "greeting".into(),
        owner: ScreenOwner::default(),
        mode: ScreenMode::Predetermined,
        target: ScreenTarget::Call,
        automated: true,
        title: None,
        image: None,
        regions: vec![Region {
            id: "end".into(),
            label: "End call".into(),
            icon: None,
            position: None,
            display: RegionDisplay::Steady,
            overlay: false,
            action: Action::EndCall,
        }],
    };
    system.put_screen(&kept).await.unwrap();
    alice
        .declare_capabilities(&Capabilities {
            features: vec!["screens".into()],
            components: vec![],
        })
        .await
        .unwrap();
    let mut on_alice = Channel::connect(&alice).await.unwrap();
    let key = alice
        .report_leg(
            &leg(ALICE, Some(VOICEMAIL), Direction::Outgoing),
            Duration::ZERO,
        )
        .await
        .unwrap()
        .session
        .unwrap()
        .key;
    let greeted = screen_event(&mut on_alice).await;
    assert_eq!(greeted.session, key);
    assert_eq!(greeted.sender, created.account.id);
    let ScreenMessage::Screen(body) = &greeted.message else {
        panic!("{greeted:?}")
    };
    assert_eq!(
        body.owner.number.as_deref(),
        Some(VOICEMAIL),
        "the number called"
    );
    on_alice
        .sender()
        .press(&key, "greeting", "end", None)
        .await
        .unwrap();

    // Bob's device says nothing about screens: his call gets none. Screens go out in the order
    // sessions open, so once Alice's next call is greeted, Bob's has been passed over.
    let key = bob
        .report_leg(
            &leg("+442079460002", Some(VOICEMAIL), Direction::Outgoing),
            Duration::ZERO,
        )
        .await
        .unwrap()
        .session
        .unwrap()
        .key;
    let again = alice
        .report_leg(
            &leg(ALICE, Some(VOICEMAIL), Direction::Outgoing),
            Duration::ZERO,
        )
        .await
        .unwrap()
        .session
        .unwrap()
        .key;
    let greeted = next(&mut on_alice, |e| match e {
        Event::Screen(s) if matches!(s.message, ScreenMessage::Screen(_)) => Some(s),
        _ => None,
    })
    .await;
    assert_eq!(greeted.session, again);
    let log = bob
        .messages(&key, callside_client::MessageQuery::default())
        .await
        .unwrap();
    assert!(
        log.messages.iter().all(|m| m.kind != "screen"),
        "{:?}",
        log.messages
    );
    w.stop().await;
}
