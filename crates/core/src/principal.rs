//! Who is asking: devices, service accounts and the operator, and what each may report.

use crate::number::{NumberRange, PhoneNumber};
use std::fmt;

/// Stable id of a device or account (`dev_…`, `svc_…`, `adm_…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrincipalId(pub String);

impl PrincipalId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PrincipalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a service account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A SIP proxy or switch that reports both parties of calls (S1-F3–F5); authoritative.
    NetworkElement,
    /// Voicemail, IVR or a contact centre answering calls to its service numbers (S1-F11–F21).
    AutomatedSystem,
    /// An SMS gateway (Kannel, an SMS provider) forwarding mobile-originated SMS; it attests the
    /// sender's number of SMS from numbers within its ranges (S2-R).
    SmsGateway,
    /// An app vendor's key: creates devices that own no number until they prove one.
    DeviceEnrollment,
    /// A business or operator that has callside sign its caller data (RFC 9795 PASSporT) for
    /// numbers in its ranges.
    CallerData,
    /// A merchant's server (S4): manages its buttons' links, pages and routing, and reads the
    /// calls started from its own pages only.
    Merchant,
    /// An agent of a merchant's call centre (S4's ACD): sets its presence and takes the calls
    /// of its groups.
    Agent,
    /// A visitor on a merchant's web call (S4): made when an agent answers its click and
    /// deleted when the call ends; it takes part in that call's session and nothing else.
    Visitor,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::NetworkElement => "network_element",
            Scope::AutomatedSystem => "automated_system",
            Scope::SmsGateway => "sms_gateway",
            Scope::DeviceEnrollment => "device_enrollment",
            Scope::CallerData => "caller_data",
            Scope::Merchant => "merchant",
            Scope::Agent => "agent",
            Scope::Visitor => "visitor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "network_element" => Some(Scope::NetworkElement),
            "automated_system" => Some(Scope::AutomatedSystem),
            "sms_gateway" => Some(Scope::SmsGateway),
            "device_enrollment" => Some(Scope::DeviceEnrollment),
            "caller_data" => Some(Scope::CallerData),
            "merchant" => Some(Scope::Merchant),
            "agent" => Some(Scope::Agent),
            "visitor" => Some(Scope::Visitor),
            _ => None,
        }
    }
}

/// How a device is coupled to the plain phone line of its numbers (S1-F0/F3): whether it gets
/// the session of a call the network reports for one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Coupling {
    /// Always (the default): a PC beside a desk phone, or the phone's own app.
    #[default]
    Always,
    /// Only while it says it is near the phone (`near_until` in the future).
    WhenNear,
    /// Never: it takes part only in calls it reports itself.
    Never,
}

impl Coupling {
    pub fn as_str(self) -> &'static str {
        match self {
            Coupling::Always => "always",
            Coupling::WhenNear => "when_near",
            Coupling::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "always" => Some(Coupling::Always),
            "when_near" => Some(Coupling::WhenNear),
            "never" => Some(Coupling::Never),
            _ => None,
        }
    }

    /// Whether a device coupled this way gets a network call's session at `now`.
    pub fn takes_network_calls(self, near_until: crate::Millis, now: crate::Millis) -> bool {
        match self {
            Coupling::Always => true,
            Coupling::WhenNear => near_until > now,
            Coupling::Never => false,
        }
    }
}

/// The kind of principal, with what it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A phone or desktop app bound to the numbers it owns.
    Device { numbers: Vec<PhoneNumber> },
    /// A network element or automated system with number ranges.
    Service {
        scopes: Vec<Scope>,
        ranges: Vec<NumberRange>,
    },
    /// The operator: provisions devices and accounts, takes part in no call.
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: PrincipalId,
    pub name: String,
    pub kind: PrincipalKind,
}

impl Principal {
    /// May this principal report a call leg whose own end is `own`? A device must own the number
    /// (S2: ownership is proven or provisioned); an automated system must hold it in a range.
    pub fn may_report_leg(&self, own: &PhoneNumber) -> bool {
        match &self.kind {
            PrincipalKind::Device { numbers } => numbers.contains(own),
            PrincipalKind::Service { scopes, ranges } => {
                scopes.contains(&Scope::AutomatedSystem) && ranges.iter().any(|r| r.contains(own))
            }
            PrincipalKind::Admin => false,
        }
    }

    /// May this principal report a whole call between `caller` and `callee` as the network?
    /// One of the two parties must be within its ranges.
    pub fn may_report_call(&self, caller: Option<&PhoneNumber>, callee: &PhoneNumber) -> bool {
        match &self.kind {
            PrincipalKind::Service { scopes, ranges } => {
                scopes.contains(&Scope::NetworkElement)
                    && ranges
                        .iter()
                        .any(|r| r.contains(callee) || caller.is_some_and(|c| r.contains(c)))
            }
            _ => false,
        }
    }

    /// May this principal vouch that an SMS came from `sender`? Only an SMS gateway, and only
    /// for senders within its ranges.
    pub fn may_attest_sender(&self, sender: &PhoneNumber) -> bool {
        self.has_scope(Scope::SmsGateway) && self.holds(sender)
    }

    /// May this principal have caller data signed for `number`?
    pub fn may_sign_for(&self, number: &PhoneNumber) -> bool {
        self.has_scope(Scope::CallerData) && self.holds(number)
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        matches!(&self.kind, PrincipalKind::Service { scopes, .. } if scopes.contains(&scope))
    }

    /// Whether a service account holds `number` in one of its ranges (devices and the operator
    /// hold none this way).
    pub fn holds(&self, number: &PhoneNumber) -> bool {
        matches!(&self.kind, PrincipalKind::Service { ranges, .. } if ranges.iter().any(|r| r.contains(number)))
    }

    pub fn is_admin(&self) -> bool {
        matches!(self.kind, PrincipalKind::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s, None).unwrap()
    }

    #[test]
    fn devices_report_only_their_own_numbers() {
        let d = Principal {
            id: PrincipalId("dev_a".into()),
            name: "a".into(),
            kind: PrincipalKind::Device {
                numbers: vec![n("+442079460958")],
            },
        };
        assert!(d.may_report_leg(&n("+442079460958")));
        assert!(!d.may_report_leg(&n("+442079460959")));
        assert!(!d.may_report_call(None, &n("+442079460958")));
    }

    #[test]
    fn coupling_decides_who_gets_network_calls() {
        assert!(Coupling::default().takes_network_calls(0, 100));
        assert!(Coupling::WhenNear.takes_network_calls(101, 100));
        assert!(!Coupling::WhenNear.takes_network_calls(100, 100), "expired");
        assert!(!Coupling::Never.takes_network_calls(i64::MAX, 100));
        for c in [Coupling::Always, Coupling::WhenNear, Coupling::Never] {
            assert_eq!(Coupling::parse(c.as_str()), Some(c));
        }
        assert_eq!(Coupling::parse("sometimes"), None);
    }

    #[test]
    fn services_need_the_scope_and_the_range() {
        let svc = |scopes| Principal {
            id: PrincipalId("svc_a".into()),
            name: "vm".into(),
            kind: PrincipalKind::Service {
                scopes,
                ranges: vec![NumberRange::parse("+4420").unwrap()],
            },
        };
        let vm = svc(vec![Scope::AutomatedSystem]);
        assert!(vm.may_report_leg(&n("+442079460958")));
        assert!(!vm.may_report_leg(&n("+441134960000")));
        assert!(!vm.may_report_call(None, &n("+442079460958")));
        let sip = svc(vec![Scope::NetworkElement]);
        assert!(!sip.may_report_leg(&n("+442079460958")));
        assert!(sip.may_report_call(Some(&n("+441134960000")), &n("+442079460958")));
        assert!(sip.may_report_call(Some(&n("+442079460958")), &n("+441134960000")));
        assert!(!sip.may_report_call(None, &n("+441134960000")));
        assert!(!sip.may_attest_sender(&n("+442079460958")));
        let sms = svc(vec![Scope::SmsGateway]);
        assert!(sms.may_attest_sender(&n("+442079460958")));
        assert!(!sms.may_attest_sender(&n("+441134960000")));
        assert!(!sms.may_report_leg(&n("+442079460958")));
        for s in [
            Scope::NetworkElement,
            Scope::AutomatedSystem,
            Scope::SmsGateway,
            Scope::DeviceEnrollment,
        ] {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
    }
}
