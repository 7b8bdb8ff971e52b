//! Who a request acts for and what it may do: a [`Principal`] is a member of an
//! organisation acting either with their role (a password login) or with the scopes of an
//! API key. Permission checks ask the principal, never the role directly, so a key scoped to
//! `results.view` cannot upload even when its creator is an admin.

use std::fmt;
use std::str::FromStr;

use crate::{AuthError, Permission, Role, allows};

/// A set of [`Permission`]s (a bit per permission, in the order of [`Permission::ALL`]).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u32);

impl PermissionSet {
    pub const EMPTY: PermissionSet = PermissionSet(0);

    /// Every permission `role` grants.
    pub fn of_role(role: Role) -> PermissionSet {
        Permission::ALL
            .into_iter()
            .filter(|permission| allows(role, *permission))
            .collect()
    }

    /// What an API key may be scoped to: everything but managing the organisation.
    pub fn api_key_scopes() -> PermissionSet {
        Permission::ALL
            .into_iter()
            .filter(|permission| *permission != Permission::OrganizationManage)
            .collect()
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & bit(permission) != 0
    }

    pub fn insert(&mut self, permission: Permission) {
        self.0 |= bit(permission);
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every permission of `self` is also in `other`.
    pub fn is_subset(self, other: PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn intersection(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & other.0)
    }

    /// The permissions of `self` that are not in `other`.
    pub fn difference(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & !other.0)
    }

    /// The permissions in the order of [`Permission::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |permission| self.contains(*permission))
    }

    /// The names (`"results.view"`, ...), in the order of [`Permission::ALL`].
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }

    /// Parses permission names; an unknown name is an error that names it.
    pub fn parse<I, S>(names: I) -> Result<PermissionSet, AuthError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        names
            .into_iter()
            .map(|name| name.as_ref().trim().parse::<Permission>())
            .collect()
    }
}

fn bit(permission: Permission) -> u32 {
    let index = Permission::ALL
        .iter()
        .position(|candidate| *candidate == permission)
        .unwrap_or(31);
    1 << index
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<T: IntoIterator<Item = Permission>>(permissions: T) -> PermissionSet {
        let mut set = PermissionSet::EMPTY;
        for permission in permissions {
            set.insert(permission);
        }
        set
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_set().entries(self.names()).finish()
    }
}

impl FromStr for Permission {
    type Err = AuthError;

    fn from_str(name: &str) -> Result<Permission, AuthError> {
        Permission::ALL
            .into_iter()
            .find(|permission| permission.as_str() == name)
            .ok_or_else(|| AuthError::UnknownPermission(name.to_owned()))
    }
}

/// The identity a request acts for, as the gateway established it (from an access token or
/// an API key) and as services receive it in signed metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub org_id: String,
    /// The user; for an API key, the member who created it (rows it creates are theirs).
    pub user_id: String,
    /// The member's role for a password login; `None` for an API key, whose power is its
    /// scopes alone.
    pub role: Option<Role>,
    /// What the request may do: the role's permissions, or the key's scopes.
    pub permissions: PermissionSet,
    /// The API key the request came with, if any.
    pub api_key_id: Option<String>,
}

impl Principal {
    /// A member acting with their role.
    pub fn member(org_id: impl Into<String>, user_id: impl Into<String>, role: Role) -> Principal {
        Principal {
            org_id: org_id.into(),
            user_id: user_id.into(),
            role: Some(role),
            permissions: PermissionSet::of_role(role),
            api_key_id: None,
        }
    }

    /// An API key of `org_id` created by `user_id`, acting with `scopes` only.
    pub fn api_key(
        org_id: impl Into<String>,
        user_id: impl Into<String>,
        key_id: impl Into<String>,
        scopes: PermissionSet,
    ) -> Principal {
        Principal {
            org_id: org_id.into(),
            user_id: user_id.into(),
            role: None,
            permissions: scopes,
            api_key_id: Some(key_id.into()),
        }
    }

    /// Whether the principal may do `permission` in its own organisation.
    pub fn allows(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_follow_roles_and_parse_names() {
        let viewer = PermissionSet::of_role(Role::Viewer);
        assert_eq!(
            viewer.names(),
            ["simulation.read", "results.view", "organization.view"]
        );
        assert!(viewer.is_subset(PermissionSet::of_role(Role::Analyst)));
        assert!(!PermissionSet::of_role(Role::Analyst).is_subset(viewer));
        assert_eq!(
            PermissionSet::parse(["results.view", " simulation.read"]),
            Ok([Permission::ResultsView, Permission::SimulationRead]
                .into_iter()
                .collect())
        );
        assert_eq!(
            PermissionSet::parse(["results.admin"]),
            Err(AuthError::UnknownPermission("results.admin".into()))
        );
        assert!(!PermissionSet::api_key_scopes().contains(Permission::OrganizationManage));
        assert_eq!(
            PermissionSet::of_role(Role::Admin).difference(PermissionSet::api_key_scopes()),
            [Permission::OrganizationManage].into_iter().collect()
        );
    }

    #[test]
    fn a_key_allows_its_scopes_only() {
        let key = Principal::api_key(
            "org",
            "admin-user",
            "key-1",
            [Permission::ResultsView].into_iter().collect(),
        );
        assert!(key.allows(Permission::ResultsView));
        assert!(!key.allows(Permission::FileUpload));
        let admin = Principal::member("org", "admin-user", Role::Admin);
        assert!(admin.allows(Permission::FileUpload));
        assert!(admin.allows(Permission::OrganizationManage));
    }
}
