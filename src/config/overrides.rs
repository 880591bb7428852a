//! Run-time configuration (SPEC §2, §10): profiles, users and branches
//! created or changed through the admin API are stored in LMDB as
//! overrides keyed `profiles/{number}`, `users/{login}`, `branches/{id}`.
//! The effective configuration is the file's entries with the overrides on
//! top (an override wins over the file's entry with the same id until it is
//! deleted), checked by the same loader rules as the file.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::raw::{
    BranchSpec, BuyerSpec, CampaignSpec, DncSpec, ExtensionSpec, FeedbackReasonSpec, ProfileSpec,
    RawConfig, RuleSpec, UserSpec,
};

/// The collections that can be changed at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Profiles,
    Users,
    Branches,
    Buyers,
    Rules,
    FeedbackReasons,
    Campaigns,
    Extensions,
    Dnc,
}

impl Kind {
    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "profiles" => Kind::Profiles,
            "users" => Kind::Users,
            "branches" => Kind::Branches,
            "buyers" => Kind::Buyers,
            "rules" => Kind::Rules,
            "feedback_reasons" => Kind::FeedbackReasons,
            "campaigns" => Kind::Campaigns,
            "extensions" => Kind::Extensions,
            "dnc" => Kind::Dnc,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Profiles => "profiles",
            Kind::Users => "users",
            Kind::Branches => "branches",
            Kind::Buyers => "buyers",
            Kind::Rules => "rules",
            Kind::FeedbackReasons => "feedback_reasons",
            Kind::Campaigns => "campaigns",
            Kind::Extensions => "extensions",
            Kind::Dnc => "dnc",
        }
    }

    /// An entry's id in its one spelling: a login in lower case, a DNC
    /// number in its normal form, anything else as written. Every
    /// comparison and every stored key goes through it.
    pub fn canonical(self, id: &str) -> String {
        match self {
            Kind::Users => id.to_ascii_lowercase(),
            Kind::Dnc => crate::vocab::dial::normalize_target(id).unwrap_or_else(|| id.to_string()),
            _ => id.to_string(),
        }
    }

    pub fn key(self, id: &str) -> String {
        format!("{}/{id}", self.name())
    }
}

/// The id of an entry as its key uses it.
pub trait Entry: Serialize + DeserializeOwned + Clone {
    fn id(&self) -> String;
}

impl Entry for ProfileSpec {
    fn id(&self) -> String {
        self.number.to_string()
    }
}

impl Entry for UserSpec {
    fn id(&self) -> String {
        Kind::Users.canonical(&self.login)
    }
}

impl Entry for BuyerSpec {
    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Entry for RuleSpec {
    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Entry for FeedbackReasonSpec {
    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Entry for CampaignSpec {
    fn id(&self) -> String {
        self.code.clone()
    }
}

impl Entry for ExtensionSpec {
    fn id(&self) -> String {
        self.member.clone()
    }
}

impl Entry for DncSpec {
    fn id(&self) -> String {
        Kind::Dnc.canonical(&self.phone)
    }
}

impl Entry for BranchSpec {
    fn id(&self) -> String {
        self.id.clone()
    }
}

fn apply<T: Entry>(
    list: &mut Vec<T>,
    kind: Kind,
    overrides: &[(String, Vec<u8>)],
) -> Result<(), String> {
    let prefix = format!("{}/", kind.name());
    for (key, json) in overrides.iter().filter(|(k, _)| k.starts_with(&prefix)) {
        let entry: T =
            serde_json::from_slice(json).map_err(|e| format!("stored override {key}: {e}"))?;
        match list.iter_mut().find(|e| e.id() == entry.id()) {
            Some(slot) => *slot = entry,
            None => list.push(entry),
        }
    }
    Ok(())
}

/// The file's configuration with the stored overrides on top.
pub fn merge(file: &RawConfig, overrides: &[(String, Vec<u8>)]) -> Result<RawConfig, String> {
    let mut raw = file.clone();
    apply(&mut raw.profiles, Kind::Profiles, overrides)?;
    apply(&mut raw.users, Kind::Users, overrides)?;
    apply(&mut raw.branches, Kind::Branches, overrides)?;
    apply(&mut raw.buyers, Kind::Buyers, overrides)?;
    apply(&mut raw.rules, Kind::Rules, overrides)?;
    apply(&mut raw.feedback_reasons, Kind::FeedbackReasons, overrides)?;
    apply(&mut raw.dialer.campaigns, Kind::Campaigns, overrides)?;
    apply(&mut raw.dialer.extensions, Kind::Extensions, overrides)?;
    apply(&mut raw.dnc, Kind::Dnc, overrides)?;
    Ok(raw)
}

/// Whether the file defines the entry `id` of `kind`.
pub fn in_file(file: &RawConfig, kind: Kind, id: &str) -> bool {
    let id = kind.canonical(id);
    let id = id.as_str();
    match kind {
        Kind::Profiles => file.profiles.iter().any(|p| p.id() == id),
        Kind::Users => file.users.iter().any(|u| u.id() == id),
        Kind::Branches => file.branches.iter().any(|b| b.id() == id),
        Kind::Buyers => file.buyers.iter().any(|b| b.id() == id),
        Kind::Rules => file.rules.iter().any(|b| b.id() == id),
        Kind::FeedbackReasons => file.feedback_reasons.iter().any(|b| b.id() == id),
        Kind::Campaigns => file.dialer.campaigns.iter().any(|b| b.id() == id),
        Kind::Extensions => file.dialer.extensions.iter().any(|b| b.id() == id),
        Kind::Dnc => file.dnc.iter().any(|b| b.id() == id),
    }
}

/// Every effective entry of `kind` as JSON, with `source`: "file" or "api".
pub fn list(
    effective: &RawConfig,
    overrides: &[(String, Vec<u8>)],
    kind: Kind,
) -> Vec<serde_json::Value> {
    fn tag<T: Entry>(
        items: &[T],
        kind: Kind,
        overrides: &[(String, Vec<u8>)],
    ) -> Vec<serde_json::Value> {
        items
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).unwrap_or_default();
                let from_api = overrides.iter().any(|(k, _)| *k == kind.key(&e.id()));
                if let Some(o) = v.as_object_mut() {
                    o.insert(
                        "source".into(),
                        (if from_api { "api" } else { "file" }).into(),
                    );
                }
                v
            })
            .collect()
    }
    match kind {
        Kind::Profiles => tag(&effective.profiles, kind, overrides),
        Kind::Users => tag(&effective.users, kind, overrides),
        Kind::Branches => tag(&effective.branches, kind, overrides),
        Kind::Buyers => tag(&effective.buyers, kind, overrides),
        Kind::Rules => tag(&effective.rules, kind, overrides),
        Kind::FeedbackReasons => tag(&effective.feedback_reasons, kind, overrides),
        Kind::Campaigns => tag(&effective.dialer.campaigns, kind, overrides),
        Kind::Extensions => tag(&effective.dialer.extensions, kind, overrides),
        Kind::Dnc => tag(&effective.dnc, kind, overrides),
    }
}

/// Parses an admin API body into an entry of `kind` and gives its id and JSON.
pub fn parse_entry(kind: Kind, body: &[u8]) -> Result<(String, Vec<u8>), String> {
    fn one<T: Entry>(body: &[u8]) -> Result<(String, Vec<u8>), String> {
        let mut v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        if let Some(o) = v.as_object_mut() {
            o.remove("source");
        }
        let e: T = super::unknown::from_json(v)?;
        Ok((e.id(), serde_json::to_vec(&e).map_err(|e| e.to_string())?))
    }
    match kind {
        Kind::Profiles => one::<ProfileSpec>(body),
        Kind::Users => one::<UserSpec>(body),
        Kind::Branches => one::<BranchSpec>(body),
        Kind::Buyers => one::<BuyerSpec>(body),
        Kind::Rules => one::<RuleSpec>(body),
        Kind::FeedbackReasons => one::<FeedbackReasonSpec>(body),
        Kind::Campaigns => one::<CampaignSpec>(body),
        Kind::Extensions => one::<ExtensionSpec>(body),
        Kind::Dnc => one::<DncSpec>(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_and_add() {
        let file: RawConfig = toml::from_str(
            "[[branches]]\nid = \"A1\"\nname = \"file\"\n[[users]]\nlogin = \"Dana@x.com\"\nname = \"file\"\n",
        )
        .unwrap();
        let ov = vec![
            (
                "branches/A1".to_string(),
                br#"{"id":"A1","name":"api"}"#.to_vec(),
            ),
            (
                "branches/A2".to_string(),
                br#"{"id":"A2","name":"new"}"#.to_vec(),
            ),
            (
                "users/dana@x.com".to_string(),
                br#"{"login":"dana@x.com","name":"api"}"#.to_vec(),
            ),
        ];
        let m = merge(&file, &ov).unwrap();
        assert_eq!(m.branches.len(), 2);
        assert_eq!(m.branches[0].name, "api");
        assert_eq!(m.users.len(), 1, "logins match case-insensitively");
        assert_eq!(m.users[0].name, "api");
        let listed = list(&m, &ov, Kind::Branches);
        assert_eq!(listed[0]["source"], "api");
        assert!(in_file(&file, Kind::Users, "DANA@x.com"));
    }
}
