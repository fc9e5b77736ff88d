//! Reads the typed [`DeploymentConfig`] out of a resolved tree, one reader per section, each in the module of its
//! area beside the part of the model it fills. Every key read is marked; whatever is left unmarked is a key this
//! version does not implement, reported once each ([`Reader::unread_keys`]).
//!
//! - `reader`: the typed getters every section uses, and [`parse_endpoint`].
//! - `server`: `[server]`, `[transport]` (with `[transport.limits]`) and the ports the offset moves.
//! - `users`: `[super_admin]`, `[user_store]`.
//! - `database`: `[database.apim_db]`, `[database.shared_db]`.
//! - `keystore`: `[keystore.tls]`, `[truststore]`.
//! - `services`: `[apim.key_manager]`, `[apim.event_hub]`, `[apim.throttling]`, `[apim.devportal]`.
//! - `gateway`: `[apim.gateway]` (environments and request settings), `[apim.sync_runtime_artifacts]`,
//!   `[apim.cors]`, `[apim.jwt]`.
//! - `oauth`: `[[event_listener]]`, `[oauth]`.

mod database;
mod gateway;
mod keystore;
mod oauth;
mod reader;
mod server;
mod services;
mod users;

pub(crate) use reader::{BuildInputs, Reader};
pub use reader::{EndpointError, parse_endpoint};

use crate::model::DeploymentConfig;
use crate::tree::Table;
use reader::Tbl;

/// Reads every implemented key, one section after another. Errors and the typed value come
/// back together so all errors are reported at once; the caller discards the value if there are errors.
pub(crate) fn build(root: &Table, inputs: &BuildInputs<'_>, r: &mut Reader) -> DeploymentConfig {
    let top = Tbl::root(root);
    let node = server::server(r, top, inputs);
    let transport = server::transport(r, top, &node);
    let super_admin = users::super_admin(r, top);
    let user_store = users::user_store(r, top);
    let self_sign_up = users::self_sign_up(r, top);
    let (apim_db, shared_db) = database::databases(r, top);
    // [keystore] is read once, like [apim] below.
    let keystores = r.table(top, "", &["keystore"]);
    let keystore_tls = keystore::keystore_tls(r, keystores.as_ref());
    let keystore_tls_ecdsa = keystore::keystore_tls_ecdsa(r, keystores.as_ref());
    let truststore = keystore::truststore(r, top);
    // [apim] is read once; a value that is not a table is one error, not one per section.
    let apim = r.table(top, "", &["apim"]);
    let apim = apim.as_ref();
    let backend_jwt = gateway::backend_jwt(r, apim);
    let key_manager = services::key_manager(r, apim);
    let event_hub = services::event_hub(r, apim);
    let throttling = services::throttling(r, apim);
    let (gateway_request, gateway_environments) = gateway::gateway(r, apim);
    let gateway_sync = gateway::gateway_sync(r, apim);
    let devportal_url = services::devportal_url(r, apim);
    let publisher_private_hosts = services::publisher_private_hosts(r, apim);
    let cors = gateway::cors(r, apim);
    let analytics = services::analytics(r, apim, inputs.data_dir);
    let event_listeners = oauth::event_listeners(r, top);
    let oauth = oauth::oauth(r, top);
    DeploymentConfig {
        server: node.server,
        transport,
        super_admin,
        user_store,
        self_sign_up,
        analytics,
        apim_db,
        shared_db,
        keystore_tls,
        keystore_tls_ecdsa,
        truststore,
        key_manager,
        event_hub,
        throttling,
        gateway_environments,
        gateway_sync,
        devportal_url,
        publisher_private_hosts,
        cors,
        gateway_request,
        backend_jwt,
        event_listeners,
        oauth,
        data_dir: inputs.data_dir.to_path_buf(),
        config_dir: inputs.config_dir.to_path_buf(),
    }
}
