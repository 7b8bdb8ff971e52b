//! Roles and permissions (DESIGN.md, Tenancy): admin can do everything; viewer reads; analyst
//! also runs simulations, uploads files and exports results; power_user also deletes,
//! downloads and sees analytics. Billing and managing the organisation (its members and API
//! keys: `organization.manage`) stay with admins.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::AuthError;

/// A member's role in an organisation (serialised as in the JWT: `"power_user"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    PowerUser,
    Analyst,
    Viewer,
}

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    SimulationCreate,
    SimulationRead,
    SimulationDelete,
    FileUpload,
    FileDownload,
    ResultsView,
    ResultsExport,
    OrganizationView,
    OrganizationAnalytics,
    OrganizationBilling,
    /// Invite, re-role and remove members; create, list and revoke API keys. Admins only,
    /// and never an API key scope (a leaked key must not mint keys or members).
    OrganizationManage,
}

/// Whether `role` grants `permission`.
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    let read_only = matches!(permission, SimulationRead | ResultsView | OrganizationView);
    let analyst = read_only || matches!(permission, SimulationCreate | FileUpload | ResultsExport);
    let power_user = analyst
        || matches!(
            permission,
            SimulationDelete | FileDownload | OrganizationAnalytics
        );
    match role {
        Role::Admin => true,
        Role::PowerUser => power_user,
        Role::Analyst => analyst,
        Role::Viewer => read_only,
    }
}

impl Permission {
    pub const ALL: [Permission; 11] = [
        Permission::SimulationCreate,
        Permission::SimulationRead,
        Permission::SimulationDelete,
        Permission::FileUpload,
        Permission::FileDownload,
        Permission::ResultsView,
        Permission::ResultsExport,
        Permission::OrganizationView,
        Permission::OrganizationAnalytics,
        Permission::OrganizationBilling,
        Permission::OrganizationManage,
    ];

    /// The name used in DESIGN.md and error messages, e.g. `"simulation.create"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::SimulationCreate => "simulation.create",
            Permission::SimulationRead => "simulation.read",
            Permission::SimulationDelete => "simulation.delete",
            Permission::FileUpload => "file.upload",
            Permission::FileDownload => "file.download",
            Permission::ResultsView => "results.view",
            Permission::ResultsExport => "results.export",
            Permission::OrganizationView => "organization.view",
            Permission::OrganizationAnalytics => "organization.analytics",
            Permission::OrganizationBilling => "organization.billing",
            Permission::OrganizationManage => "organization.manage",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::PowerUser, Role::Analyst, Role::Viewer];

    /// The stored and serialised name: `"admin"`, `"power_user"`, `"analyst"`, `"viewer"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::PowerUser => "power_user",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }

    /// The role of the gRPC contracts.
    pub fn to_proto(self) -> ultra_proto::v1::Role {
        match self {
            Role::Admin => ultra_proto::v1::Role::Admin,
            Role::PowerUser => ultra_proto::v1::Role::PowerUser,
            Role::Analyst => ultra_proto::v1::Role::Analyst,
            Role::Viewer => ultra_proto::v1::Role::Viewer,
        }
    }

    /// From the gRPC contracts; `ROLE_UNSPECIFIED` is no role.
    pub fn from_proto(role: ultra_proto::v1::Role) -> Option<Role> {
        match role {
            ultra_proto::v1::Role::Unspecified => None,
            ultra_proto::v1::Role::Admin => Some(Role::Admin),
            ultra_proto::v1::Role::PowerUser => Some(Role::PowerUser),
            ultra_proto::v1::Role::Analyst => Some(Role::Analyst),
            ultra_proto::v1::Role::Viewer => Some(Role::Viewer),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AuthError;

    fn from_str(name: &str) -> Result<Role, AuthError> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == name)
            .ok_or_else(|| AuthError::UnknownRole(name.to_owned()))
    }
}
