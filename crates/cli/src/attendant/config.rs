//! The attendant's TOML file: the system's screens, what each region's press does, and how it
//! reacts to what callers send. Placeholders in any text of a screen — `{caller}` (the caller's
//! number), `{mailbox}` (the number the caller dialled when the call was diverted to this
//! voicemail, else the system's own), `{number}` (the system's number on the call) — are filled
//! in per call.

use anyhow::{bail, Context};
use callside_client::proto::screen::{
    Action, Position, Region, RegionDisplay, ScreenBody, ScreenMode, ScreenOwner, ScreenTarget,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What kind of system the file describes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// Keeps messages callers leave, with their files, and plays them to the mailbox's owner
    /// (S1-F15–F18).
    Voicemail,
    /// An IVR or a contact centre's data part: screens and reactions only.
    #[default]
    Menu,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttendantConfig {
    /// Shown in logs.
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) kind: Kind,
    /// The screen a caller gets when the session opens (S1-F11).
    pub(crate) start: String,
    /// Voicemail: the screen the mailbox's owner gets when calling the voicemail.
    #[serde(default)]
    pub(crate) listen: Option<String>,
    /// Voicemail: where messages and their files are kept (default `attendant-messages`).
    #[serde(default)]
    pub(crate) store_dir: Option<PathBuf>,
    /// Sent as a text when no participant's device shows screens (S1-F20).
    #[serde(default)]
    pub(crate) no_screens_text: Option<String>,
    pub(crate) screens: BTreeMap<String, ScreenConfig>,
    /// Reactions to what callers send (`location`, `file`, `card`, `text`, `app/<name>`).
    #[serde(default)]
    pub(crate) on: Vec<OnMessage>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScreenConfig {
    #[serde(default)]
    pub(crate) title: Option<String>,
    #[serde(default = "call_target")]
    pub(crate) target: ScreenTarget,
    /// Tell the user the call is with an automated system (default true).
    #[serde(default = "yes")]
    pub(crate) automated: bool,
    /// An image shown with the screen (a file next to the configuration, uploaded at start).
    #[serde(default)]
    pub(crate) image: Option<PathBuf>,
    pub(crate) regions: Vec<RegionConfig>,
}

fn call_target() -> ScreenTarget {
    ScreenTarget::Call
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegionConfig {
    pub(crate) id: String,
    pub(crate) label: String,
    #[serde(default)]
    pub(crate) icon: Option<String>,
    #[serde(default)]
    pub(crate) position: Option<Position>,
    #[serde(default)]
    pub(crate) display: RegionDisplay,
    #[serde(default)]
    pub(crate) overlay: bool,
    pub(crate) action: Action,
    /// What the system does when the region is pressed.
    #[serde(default)]
    pub(crate) then: Then,
}

/// A reaction: any of these, in this order.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Then {
    /// Send this text.
    #[serde(default)]
    pub(crate) text: Option<String>,
    /// Send this screen (as a dynamic screen, S1-F12/F13).
    #[serde(default)]
    pub(crate) screen: Option<String>,
    /// Send an `app/<name>` message with this body.
    #[serde(default)]
    pub(crate) app: Option<AppMessage>,
    /// End the call through the network (S1-F15).
    #[serde(default)]
    pub(crate) end_call: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppMessage {
    pub(crate) name: String,
    #[serde(default = "empty_object")]
    pub(crate) body: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OnMessage {
    /// The message kind it reacts to.
    pub(crate) kind: String,
    pub(crate) then: Then,
}

/// Values for the placeholders of one call.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fill {
    pub(crate) caller: String,
    pub(crate) mailbox: String,
    pub(crate) number: String,
}

impl Fill {
    pub(crate) fn apply(&self, text: &str) -> String {
        text.replace("{caller}", &self.caller)
            .replace("{mailbox}", &self.mailbox)
            .replace("{number}", &self.number)
    }

    /// Fills every string in a JSON value.
    fn apply_json(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.apply(s),
            Value::Array(a) => a.iter_mut().for_each(|x| self.apply_json(x)),
            Value::Object(o) => o.values_mut().for_each(|x| self.apply_json(x)),
            _ => {}
        }
    }
}

impl AttendantConfig {
    /// Reads and checks a file: every screen a reaction names exists, ids are unique.
    pub(crate) fn load(path: &Path) -> anyhow::Result<AttendantConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut config: AttendantConfig =
            toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for screen in config.screens.values_mut() {
            if let Some(image) = &mut screen.image {
                *image = base.join(&*image);
            }
        }
        if let Some(dir) = &mut config.store_dir {
            *dir = base.join(&*dir);
        }
        config
            .check()
            .with_context(|| format!("in {}", path.display()))?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        let known = |id: &str, what: &str| -> anyhow::Result<()> {
            if self.screens.contains_key(id) {
                Ok(())
            } else {
                bail!("{what} names screen `{id}`, which is not defined ([screens.{id}])")
            }
        };
        known(&self.start, "start")?;
        match (&self.listen, self.kind) {
            (Some(l), Kind::Voicemail) => known(l, "listen")?,
            (Some(_), Kind::Menu) => bail!("`listen` is for kind = \"voicemail\""),
            (None, Kind::Voicemail) => {
                bail!("a voicemail needs a `listen` screen for the mailbox's owner")
            }
            (None, Kind::Menu) => {}
        }
        for (id, screen) in &self.screens {
            if screen.regions.is_empty() {
                bail!("screen `{id}` has no regions");
            }
            let mut seen = std::collections::HashSet::new();
            for r in &screen.regions {
                if !seen.insert(&r.id) {
                    bail!("screen `{id}` has two regions `{}`", r.id);
                }
                if let Some(next) = &r.then.screen {
                    known(next, &format!("region `{}` of screen `{id}`", r.id))?;
                }
            }
        }
        for on in &self.on {
            if let Some(next) = &on.then.screen {
                known(next, &format!("the reaction to `{}`", on.kind))?;
            }
        }
        Ok(())
    }

    /// Screen `id` for one call, with its placeholders filled and `image` its uploaded blob.
    pub(crate) fn screen(
        &self,
        id: &str,
        mode: ScreenMode,
        fill: &Fill,
        image: Option<String>,
    ) -> anyhow::Result<ScreenBody> {
        let s = self
            .screens
            .get(id)
            .with_context(|| format!("no screen `{id}`"))?;
        let screen = ScreenBody {
            id: id.to_owned(),
            owner: ScreenOwner {
                system: None,
                number: (!fill.number.is_empty()).then(|| fill.number.clone()),
            },
            mode,
            target: s.target,
            automated: s.automated,
            title: s.title.as_deref().map(|t| fill.apply(t)),
            image,
            regions: s
                .regions
                .iter()
                .map(|r| Region {
                    id: r.id.clone(),
                    label: fill.apply(&r.label),
                    icon: r.icon.clone(),
                    position: r.position,
                    display: r.display,
                    overlay: r.overlay,
                    action: r.action.clone(),
                })
                .collect(),
        };
        // Placeholders in the actions (a message's destination and text, a URL).
        let mut json = serde_json::to_value(&screen)?;
        if let Some(regions) = json.get_mut("regions").and_then(Value::as_array_mut) {
            for r in regions {
                if let Some(a) = r.get_mut("action") {
                    fill.apply_json(a);
                }
            }
        }
        Ok(serde_json::from_value(json)?)
    }

    /// The reaction configured for a press of `region` on `screen`.
    pub(crate) fn on_press(&self, screen: &str, region: &str) -> Option<(&RegionConfig, &Then)> {
        let r = self
            .screens
            .get(screen)?
            .regions
            .iter()
            .find(|r| r.id == region)?;
        Some((r, &r.then))
    }

    /// The reaction configured for a message of `kind`.
    pub(crate) fn on_message(&self, kind: &str) -> Option<&Then> {
        self.on.iter().find(|o| o.kind == kind).map(|o| &o.then)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> anyhow::Result<AttendantConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.toml");
        std::fs::write(&path, text).unwrap();
        AttendantConfig::load(&path)
    }

    #[test]
    fn the_shipped_configurations_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/attendant");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                AttendantConfig::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
                seen += 1;
            }
        }
        assert!(seen >= 5, "voicemail, IVR and the contact-centre examples");
    }

    /// Every screen of every shipped file, as it would go out on a call, passes the server's own
    /// checks (kept as a predetermined screen, which checks it as a message would be).
    #[tokio::test]
    async fn the_shipped_screens_pass_the_servers_checks() {
        use callside_client::proto::admin::{CreateServiceAccount, Scope};
        let dir = tempfile::tempdir().unwrap();
        let mut config = callside_server::config::Config::for_dir(dir.path());
        config.listen = "127.0.0.1:0".parse().unwrap();
        let running = callside_server::start(config).await.unwrap();
        let base = format!("http://{}", running.addr);
        let admin = callside_client::Client::new(&base, &running.admin_token).unwrap();
        let created = admin
            .create_service_account(&CreateServiceAccount {
                name: "attendant".into(),
                scopes: vec![Scope::AutomatedSystem],
                ranges: vec!["+4420794609".into()],
            })
            .await
            .unwrap();
        let system = callside_client::Client::new(&base, &created.token).unwrap();
        let fill = Fill {
            caller: "+442079460001".into(),
            mailbox: "+442079460002".into(),
            number: "+442079460900".into(),
        };
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/attendant");
        for entry in std::fs::read_dir(&shipped).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let config = AttendantConfig::load(&path).unwrap();
            for id in config.screens.keys() {
                let screen = config
                    .screen(id, ScreenMode::Predetermined, &fill, None)
                    .unwrap();
                system
                    .put_screen(&screen)
                    .await
                    .unwrap_or_else(|e| panic!("{}: screen `{id}`: {e}", path.display()));
            }
        }
        running.shutdown().await;
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let base = "start = \"main\"\n[screens.main]\n[[screens.main.regions]]\nid = \"a\"\nlabel = \"A\"\n";
        let e = load(&format!(
            "{base}action = {{ type = \"end_call\" }}\nthen = {{ screen = \"nope\" }}\n"
        ))
        .unwrap_err();
        assert!(format!("{e:#}").contains("`nope`"), "{e:#}");
        let e = load(&format!("{base}action = {{ type = \"launch\" }}\n")).unwrap_err();
        assert!(format!("{e:#}").contains("launch"), "{e:#}");
        let e =
            load("kind = \"voicemail\"\nstart = \"m\"\n[screens.m]\nregions = []\n").unwrap_err();
        assert!(format!("{e:#}").contains("listen"), "{e:#}");
        let ok = load(&format!("{base}action = {{ type = \"send_message\", to = \"{{mailbox}}\", template = \"Hi {{mailbox}}\" }}\n")).unwrap();
        let fill = Fill {
            caller: "+1".into(),
            mailbox: "+442079460002".into(),
            number: "+442079460900".into(),
        };
        let s = ok.screen("main", ScreenMode::Dynamic, &fill, None).unwrap();
        assert_eq!(
            s.regions[0].action,
            Action::SendMessage {
                to: "+442079460002".into(),
                template: "Hi +442079460002".into()
            }
        );
        assert_eq!(s.owner.number.as_deref(), Some("+442079460900"));
    }
}
