//! What a node runs, decided once from its roles and its configuration: where its key manager is, whether it
//! runs a control plane, how its gateway is fed, what its traffic manager does, whether it serves the event hub,
//! and so which listeners it binds. Every role is then built from this and its own configuration.

use apim_config::{DeploymentConfig, ports};
use apim_domain::NodeRole;

/// Where the key manager that checks this node's tokens runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyManager {
    /// In this process: its own role, or resident in a control plane whose `[apim.key_manager]` points nowhere
    /// else.
    Local,
    /// Elsewhere: `[apim.key_manager]`, or (for a gateway on its own) the control plane's resident one.
    Remote,
}

/// How this node's gateway learns its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gateway {
    None,
    /// In the same process as a control plane (all-in-one): fed in-process, tokens checked by the resident key
    /// manager or the configured remote one.
    Resident,
    /// On its own: synced from a control plane over the internal data service and the event hub, tokens checked
    /// over HTTP(S).
    Remote,
}

/// What this node's traffic manager does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrafficManager {
    None,
    /// With a control plane in its process: nothing to run; the one gateway counts alone.
    Local,
    /// On its own: follows the control plane's policies and block conditions, takes usage and serves decisions.
    Remote,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// The roles named, sorted, each once.
    pub roles: Vec<NodeRole>,
    pub key_manager: KeyManager,
    pub control_plane: bool,
    pub gateway: Gateway,
    pub traffic_manager: TrafficManager,
    /// The control plane serves its event log on the event-hub port (5672 + offset): when `[apim.event_hub]` is
    /// enabled, or when no gateway runs in the same process (the embedded all-in-one binds no fixed internal
    /// port).
    pub event_hub: bool,
}

impl Topology {
    pub fn of(roles: &[NodeRole], config: &DeploymentConfig) -> Topology {
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let has = |r| roles.contains(&r);
        let control_plane = has(NodeRole::ControlPlane);
        let key_manager = match has(NodeRole::KeyManager) || (control_plane && config.key_manager.is_none()) {
            true => KeyManager::Local,
            false => KeyManager::Remote,
        };
        let gateway = match (has(NodeRole::Gateway), control_plane) {
            (false, _) => Gateway::None,
            (true, true) => Gateway::Resident,
            (true, false) => Gateway::Remote,
        };
        let traffic_manager = match (has(NodeRole::TrafficManager), control_plane) {
            (false, _) => TrafficManager::None,
            (true, true) => TrafficManager::Local,
            (true, false) => TrafficManager::Remote,
        };
        let event_hub = control_plane && (config.event_hub.as_ref().is_some_and(|h| h.enable) || !has(NodeRole::Gateway));
        Topology { roles, key_manager, control_plane, gateway, traffic_manager, event_hub }
    }

    /// Which databases the roles open: (`apim_db`, `shared_db`).
    pub fn databases(&self) -> (bool, bool) {
        self.roles.iter().fold((false, false), |acc, r| {
            let (a, s) = r.needs_databases();
            (acc.0 || a, acc.1 || s)
        })
    }

    /// The readiness checks besides the pools, each set once what it names is up.
    pub fn checks(&self, create_admin: bool) -> Vec<&'static str> {
        let mut checks = Vec::new();
        if self.databases().1 && create_admin {
            checks.push("super_admin");
        }
        if self.key_manager == KeyManager::Local {
            checks.push("key_manager");
        }
        if self.control_plane {
            checks.push("control_plane");
        }
        if self.gateway != Gateway::None {
            checks.push("gateway");
        }
        if self.traffic_manager == TrafficManager::Remote {
            checks.push("event_hub");
        }
        checks
    }

    /// A gateway or a traffic manager of its own: what `/metrics` is served for.
    pub fn serves_metrics(&self) -> bool {
        self.gateway != Gateway::None || self.traffic_manager == TrafficManager::Remote
    }

    /// Every listener this node binds, in the order they are bound and reported: the management listeners
    /// (HTTPS 9443 and HTTP 9763 plus offset), the event hub (5672 plus offset) for a control plane that serves
    /// it, for a traffic manager on its own its usage ports (9611 and 9711) and decision port (5672), and for a
    /// gateway its traffic listeners (8280, 8243) and WebSocket ones (9099, 8099).
    pub fn listeners(&self, config: &DeploymentConfig, gateway: Option<&apim_gateway::Config>) -> Vec<ListenerSpec> {
        use ListenerKind::*;
        let t = &config.transport;
        let mut all = vec![
            ListenerSpec { name: "management https", port: t.https_port(), kind: Management { tls: true } },
            ListenerSpec { name: "management http", port: t.http_port(), kind: Management { tls: false } },
        ];
        if self.event_hub {
            all.push(ListenerSpec { name: "event hub", port: t.effective(ports::EVENT_HUB), kind: EventHub });
        }
        if self.traffic_manager == TrafficManager::Remote {
            all.extend([
                ListenerSpec { name: "traffic manager usage", port: t.effective(ports::TM_INGEST), kind: Usage { scheme: "tcp" } },
                ListenerSpec { name: "traffic manager usage tls", port: t.effective(ports::TM_INGEST_TLS), kind: Usage { scheme: "ssl" } },
                ListenerSpec { name: "traffic manager decisions", port: t.effective(ports::EVENT_HUB), kind: Decisions },
            ]);
        }
        if let Some(g) = gateway {
            all.extend([
                ListenerSpec { name: "gateway http", port: g.http_port, kind: Traffic { tls: false } },
                ListenerSpec { name: "gateway https", port: g.https_port, kind: Traffic { tls: true } },
                ListenerSpec { name: "gateway ws", port: g.ws_port, kind: WebSocket { tls: false } },
                ListenerSpec { name: "gateway wss", port: g.wss_port, kind: WebSocket { tls: true } },
            ]);
        }
        all
    }
}

/// A listener to bind: its name (in logs, `/metrics` and the `listening` lines), its port (offset applied) and
/// what it serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerSpec {
    pub name: &'static str,
    pub port: u16,
    pub kind: ListenerKind,
}

/// What a bound listener serves, and so how its connections are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenerKind {
    /// Health, the roles' REST APIs, `/metrics` (axum), TLS on the HTTPS one.
    Management { tls: bool },
    /// A gateway's API traffic: the gateway's own HTTP/1.1 server first, hyper for what it hands over.
    Traffic { tls: bool },
    /// A gateway's WebSocket APIs: hyper, upgrades only.
    WebSocket { tls: bool },
    /// A control plane's event hub (gRPC).
    EventHub,
    /// A traffic manager's usage port (gRPC); `scheme` is what gateways name it by (`tcp` 9611, `ssl` 9711).
    Usage { scheme: &'static str },
    /// A traffic manager's decision port (gRPC).
    Decisions,
}

impl ListenerKind {
    /// The scheme the `listening` line reports. The gRPC ports tell plain and TLS apart by the first byte.
    pub fn scheme(self) -> &'static str {
        match self {
            ListenerKind::Management { tls } | ListenerKind::Traffic { tls } | ListenerKind::WebSocket { tls } => match tls {
                true => "https",
                false => "http",
            },
            ListenerKind::Usage { scheme } => scheme,
            ListenerKind::EventHub | ListenerKind::Decisions => "tcp",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> DeploymentConfig {
        let source = apim_config::Source::new("deployment.toml", text);
        apim_config::load_str(source, &apim_config::LoadOptions::default(), &|_: &str| None).expect("config").config
    }

    #[test]
    fn roles_and_configuration_decide_the_topology() {
        let plain = config("");
        let all = [NodeRole::Gateway, NodeRole::ControlPlane, NodeRole::KeyManager, NodeRole::TrafficManager, NodeRole::Gateway];
        let aio = Topology::of(&all, &plain);
        assert_eq!(aio.roles.len(), 4);
        assert_eq!(
            (aio.key_manager, aio.control_plane, aio.gateway, aio.traffic_manager, aio.event_hub),
            (KeyManager::Local, true, Gateway::Resident, TrafficManager::Local, false)
        );
        assert_eq!(aio.checks(true), ["super_admin", "key_manager", "control_plane", "gateway"]);
        let with_hub = Topology::of(&all, &config("[apim.event_hub]\nenable = true\n"));
        assert!(with_hub.event_hub);

        let cp = Topology::of(&[NodeRole::ControlPlane], &plain);
        assert_eq!((cp.key_manager, cp.gateway, cp.event_hub), (KeyManager::Local, Gateway::None, true));
        let km_elsewhere = config("[apim.key_manager]\nservice_url = \"https://km.example:9443/services/\"\n");
        let cp = Topology::of(&[NodeRole::ControlPlane], &km_elsewhere);
        assert_eq!((cp.key_manager, cp.checks(false)), (KeyManager::Remote, vec!["control_plane"]));

        let gw = Topology::of(&[NodeRole::Gateway], &plain);
        assert_eq!((gw.key_manager, gw.control_plane, gw.gateway, gw.event_hub), (KeyManager::Remote, false, Gateway::Remote, false));
        assert_eq!((gw.databases(), gw.checks(true)), ((false, false), vec!["gateway"]));

        let tm = Topology::of(&[NodeRole::TrafficManager], &plain);
        assert_eq!((tm.traffic_manager, tm.databases()), (TrafficManager::Remote, (false, true)));
        assert_eq!(tm.checks(true), ["super_admin", "event_hub"]);
    }

    #[test]
    fn each_listener_has_its_kind() {
        let plain = config("[server]\noffset = 3\n");
        let gw_cfg = apim_gateway::Config::from_deployment(&plain);
        let tm = Topology::of(&[NodeRole::TrafficManager], &plain).listeners(&plain, None);
        let got: Vec<(&str, u16, &str)> = tm.iter().map(|l| (l.name, l.port, l.kind.scheme())).collect();
        assert_eq!(
            got,
            [
                ("management https", 9446, "https"),
                ("management http", 9766, "http"),
                ("traffic manager usage", 9614, "tcp"),
                ("traffic manager usage tls", 9714, "ssl"),
                ("traffic manager decisions", 5675, "tcp"),
            ]
        );
        let gw = Topology::of(&[NodeRole::Gateway], &plain).listeners(&plain, Some(&gw_cfg));
        let kinds: Vec<ListenerKind> = gw.iter().skip(2).map(|l| l.kind).collect();
        assert_eq!(
            kinds,
            [
                ListenerKind::Traffic { tls: false },
                ListenerKind::Traffic { tls: true },
                ListenerKind::WebSocket { tls: false },
                ListenerKind::WebSocket { tls: true }
            ]
        );
    }
}
