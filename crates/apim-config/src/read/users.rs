//! `[super_admin]` and `[user_store]`: the first user and where users live.

use super::reader::{Reader, Tbl};
use crate::model::{Secret, SuperAdmin, UserStoreKind};
use crate::resolve::join;

/// `[super_admin]`: WSO2's admin/admin when absent; the username must not be blank.
pub(super) fn super_admin(r: &mut Reader, top: Tbl<'_>) -> SuperAdmin {
    let (username, password, create_admin_account) = match r.table(top, "", &["super_admin"]) {
        Some((t, p)) => (
            r.str(t, &p, "username").unwrap_or_else(|| "admin".into()),
            r.secret(t, &p, "password").unwrap_or_else(|| Secret::new("admin")),
            r.bool(t, &p, "create_admin_account", true),
        ),
        None => ("admin".into(), Secret::new("admin"), true),
    };
    if username.trim().is_empty() {
        r.error("super_admin.username", None, "the admin username must not be empty");
    }
    SuperAdmin { username, password, create_admin_account }
}

/// `[user_store] type`: only WSO2's `database_unique_id` (users in `shared_db`).
pub(super) fn user_store(r: &mut Reader, top: Tbl<'_>) -> UserStoreKind {
    if let Some((t, p)) = r.table(top, "", &["user_store"])
        && let Some(kind) = r.str(t, &p, "type")
        && kind != "database_unique_id"
    {
        r.error(&join(&p, "type"), t.value_span("type"), format!("user store type `{kind}` is not supported; use database_unique_id"));
    }
    UserStoreKind::DatabaseUniqueId
}

/// `[identity_mgt.user_self_registration] allow_self_registration` (default true, as WSO2 ships API-M).
pub(super) fn self_sign_up(r: &mut Reader, top: Tbl<'_>) -> bool {
    let identity = r.table(top, "", &["identity_mgt"]);
    match r.within(identity.as_ref(), "user_self_registration") {
        Some((t, p)) => r.bool(t, &p, "allow_self_registration", true),
        None => true,
    }
}
