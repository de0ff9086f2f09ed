//! Permissions: a resource and an action from the catalogue, `*` standing for any.

use crate::error::ApiError;

pub const WILDCARD: &str = "*";
/// What this service itself guards.
pub const BUILT_IN_RESOURCES: [&str; 6] = [
    "Users",
    "Roles",
    "Organizations",
    "Tokens",
    "AuditEvents",
    "Invitations",
];
/// The actions every resource has.
pub const ACTIONS: [&str; 4] = ["read", "create", "update", "delete"];
/// Asking what a token is and may do (RFC 7662 introspection): an action of `Tokens` alone.
pub const INTROSPECT: &str = "introspect";
const TOKEN_ACTIONS: [&str; 5] = ["read", "create", "update", "delete", INTROSPECT];
/// Every action some resource has: what `*` as the resource may be paired with.
const EVERY_ACTION: [&str; 5] = TOKEN_ACTIONS;

/// The actions a permission may name on `resource` (any spelling; `*` for any resource).
pub fn actions_of(resource: &str) -> &'static [&'static str] {
    if resource == WILDCARD {
        &EVERY_ACTION
    } else if resource.eq_ignore_ascii_case("Tokens") {
        &TOKEN_ACTIONS
    } else {
        &ACTIONS
    }
}

/// A resource/action pair, spelled as the catalogue spells it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    resource: String,
    action: String,
}

impl Permission {
    pub fn resource(&self) -> &str {
        &self.resource
    }

    pub fn action(&self) -> &str {
        &self.action
    }

    /// Everything, as the `Administrator` role holds it.
    pub fn all() -> Self {
        Self {
            resource: WILDCARD.into(),
            action: WILDCARD.into(),
        }
    }

    /// Rebuilds a permission read back from the store, where only catalogue names are written.
    pub fn from_stored(resource: String, action: String) -> Self {
        Self { resource, action }
    }

    /// The same resource and action, compared as the store compares them (case-insensitively).
    pub fn same_as(&self, other: &Permission) -> bool {
        self.resource.eq_ignore_ascii_case(&other.resource)
            && self.action.eq_ignore_ascii_case(&other.action)
    }

    /// Whether holding `self` lets one do `action` on `resource`.
    pub fn covers(&self, resource: &str, action: &str) -> bool {
        (self.resource == WILDCARD || self.resource.eq_ignore_ascii_case(resource))
            && (self.action == WILDCARD || self.action.eq_ignore_ascii_case(action))
    }
}

/// How a role's permissions change when `wanted` becomes its whole set: which of the
/// `existing` ones stay and which go (by position), and which are new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    pub kept: Vec<usize>,
    pub removed: Vec<usize>,
    pub added: Vec<Permission>,
}

pub fn diff(existing: &[Permission], wanted: &[Permission]) -> Diff {
    let (kept, removed) =
        (0..existing.len()).partition(|&i| wanted.iter().any(|w| w.same_as(&existing[i])));
    let mut added: Vec<Permission> = Vec::new();
    for w in wanted {
        if !existing.iter().any(|e| e.same_as(w)) && !added.iter().any(|a| a.same_as(w)) {
            added.push(w.clone());
        }
    }
    Diff {
        kept,
        removed,
        added,
    }
}

/// The resources and actions a role may name: the built-in ones plus the configured ones.
#[derive(Debug, Clone)]
pub struct Catalogue {
    resources: Vec<String>,
}

impl Catalogue {
    pub fn new(extra_resources: &[String]) -> Self {
        let mut resources: Vec<String> = BUILT_IN_RESOURCES.iter().map(|s| s.to_string()).collect();
        for r in extra_resources {
            if !resources.iter().any(|known| known.eq_ignore_ascii_case(r)) {
                resources.push(r.clone());
            }
        }
        Self { resources }
    }

    pub fn resources(&self) -> &[String] {
        &self.resources
    }

    /// Case-insensitive; answers a 400 naming the field for a name outside the catalogue.
    pub fn parse(&self, resource: &str, action: &str) -> Result<Permission, ApiError> {
        let resource = resource.trim();
        let action = action.trim();
        let resource = if resource == WILDCARD {
            WILDCARD.to_string()
        } else {
            self.resources
                .iter()
                .find(|r| r.eq_ignore_ascii_case(resource))
                .cloned()
                .ok_or_else(|| {
                    ApiError::invalid(
                        "resource",
                        format!(
                            "unknown resource {resource:?}; known: {}, or {WILDCARD} for any",
                            self.resources.join(", ")
                        ),
                    )
                })?
        };
        let action = if action == WILDCARD {
            WILDCARD.to_string()
        } else {
            let known = actions_of(&resource);
            known
                .iter()
                .find(|a| a.eq_ignore_ascii_case(action))
                .map(|a| a.to_string())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "action",
                        format!(
                            "unknown action {action:?} of {resource}; known: {}, or {WILDCARD} \
                             for any",
                            known.join(", ")
                        ),
                    )
                })?
        };
        Ok(Permission { resource, action })
    }
}

/// The effective permissions of a user in one organization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet {
    permissions: Vec<Permission>,
    everything: bool,
}

impl PermissionSet {
    pub fn new(permissions: Vec<Permission>) -> Self {
        let everything = permissions
            .iter()
            .any(|p| p.resource == WILDCARD && p.action == WILDCARD);
        Self {
            permissions,
            everything,
        }
    }

    /// What a platform administrator holds.
    pub fn everything() -> Self {
        Self::new(vec![Permission::all()])
    }

    pub fn allows(&self, resource: &str, action: &str) -> bool {
        self.everything || self.permissions.iter().any(|p| p.covers(resource, action))
    }

    /// Whether everything `p` grants is granted here too (no escalation by granting it).
    pub fn includes(&self, p: &Permission) -> bool {
        if self.everything {
            return true;
        }
        self.permissions.iter().any(|mine| {
            (mine.resource == WILDCARD || mine.resource.eq_ignore_ascii_case(&p.resource))
                && (mine.action == WILDCARD || mine.action.eq_ignore_ascii_case(&p.action))
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Permission> {
        self.permissions.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(resource: &str, action: &str) -> Permission {
        Permission::from_stored(resource.into(), action.into())
    }

    #[test]
    fn a_diff_keeps_what_stays_removes_what_goes_and_adds_what_is_new() {
        let existing = [p("Users", "read"), p("Roles", "*"), p("Tokens", "create")];
        let wanted = [
            p("users", "READ"),
            p("Organizations", "read"),
            p("Tokens", "create"),
        ];
        assert_eq!(
            diff(&existing, &wanted),
            Diff {
                kept: vec![0, 2],
                removed: vec![1],
                added: vec![p("Organizations", "read")],
            }
        );
    }

    #[test]
    fn a_diff_to_nothing_removes_everything_and_from_nothing_adds_once() {
        let existing = [p("Users", "read"), p("*", "*")];
        assert_eq!(
            diff(&existing, &[]),
            Diff {
                kept: vec![],
                removed: vec![0, 1],
                added: vec![],
            }
        );
        let wanted = [p("Users", "read"), p("USERS", "read"), p("*", "*")];
        assert_eq!(
            diff(&[], &wanted),
            Diff {
                kept: vec![],
                removed: vec![],
                added: vec![p("Users", "read"), p("*", "*")],
            }
        );
    }

    #[test]
    fn a_wildcard_is_its_own_permission_in_a_diff() {
        // `Roles:*` does not stand for `Roles:read` when the set is replaced, nor the reverse.
        let d = diff(&[p("Roles", "*")], &[p("Roles", "read")]);
        assert_eq!((d.kept, d.removed), (vec![], vec![0]));
        assert_eq!(d.added, vec![p("Roles", "read")]);
    }

    #[test]
    fn catalogue_is_case_insensitive_and_spells_names_its_way() {
        let c = Catalogue::new(&["Invoices".to_string()]);
        let p = c.parse("users", "READ").unwrap();
        assert_eq!((p.resource(), p.action()), ("Users", "read"));
        assert_eq!(c.parse("invoices", "*").unwrap().resource(), "Invoices");
        assert!(c
            .parse("Gadgets", "read")
            .unwrap_err()
            .to_string()
            .contains("Gadgets"));
        assert!(c.parse("Users", "fly").is_err());
    }

    #[test]
    fn introspect_is_an_action_of_tokens_alone() {
        let c = Catalogue::new(&["Invoices".to_string()]);
        let p = c.parse("tokens", "INTROSPECT").unwrap();
        assert_eq!((p.resource(), p.action()), ("Tokens", "introspect"));
        assert_eq!(c.parse("*", "introspect").unwrap().resource(), "*");
        for resource in ["Users", "Invoices", "Organizations"] {
            let refused = c.parse(resource, "introspect").unwrap_err().to_string();
            assert!(
                refused.contains("read, create, update, delete"),
                "{refused}"
            );
        }
        let set = PermissionSet::new(vec![c.parse("Tokens", "*").unwrap()]);
        assert!(set.allows("Tokens", INTROSPECT));
        let set = PermissionSet::new(vec![c.parse("Tokens", "read").unwrap()]);
        assert!(!set.allows("Tokens", INTROSPECT));
    }

    #[test]
    fn wildcards_cover_and_include() {
        let c = Catalogue::new(&[]);
        let set = PermissionSet::new(vec![c.parse("Users", "*").unwrap()]);
        assert!(set.allows("users", "delete"));
        assert!(!set.allows("Roles", "read"));
        assert!(set.includes(&c.parse("Users", "read").unwrap()));
        assert!(!set.includes(&c.parse("*", "read").unwrap()));
        assert!(PermissionSet::everything().includes(&Permission::all()));
    }
}
