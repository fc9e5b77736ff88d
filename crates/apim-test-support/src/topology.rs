//! Pieces of multi-node set-ups shared by end-to-end tests and benchmark programs: configuration snippets and
//! nodes started in directories of their own that share the control plane's generated certificate.

use std::path::Path;

use crate::process::Node;

/// `[server]` at `offset` and the admin/admin super admin.
pub fn node_header(offset: u16) -> String {
    format!(
        "[server]\nhostname = \"localhost\"\noffset = {offset}\n[super_admin]\nusername = \"admin\"\npassword = \"admin\"\ncreate_admin_account = true\n"
    )
}

/// A control plane (or all-in-one node) called `cp` at `offset`: SQLite databases under `cp/` and the event hub
/// served, with admin/admin; writes `cp.toml` in `dir` with `extra` appended.
pub fn write_control_plane(dir: &Path, offset: u16, extra: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("cp"))?;
    std::fs::write(
        dir.join("cp.toml"),
        format!(
            "{}[database.apim_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cp/apim.db\"\n[database.shared_db]\ntype = \"sqlite\"\nurl = \"jdbc:sqlite:cp/shared.db\"\n\
             [apim.event_hub]\nenable = true\nusername = \"admin\"\npassword = \"admin\"\n{extra}",
            node_header(offset)
        ),
    )
}

/// `[apim.event_hub]` following a control plane at offset `cp` on localhost.
pub fn event_hub_client(cp: u16) -> String {
    format!(
        "[apim.event_hub]\nenable = true\nusername = \"admin\"\npassword = \"admin\"\nservice_url = \"https://localhost:{}/services/\"\n\
         event_listening_endpoints = [\"tcp://localhost:{}\"]\n",
        9443 + cp,
        5672 + cp
    )
}

/// Starts `bin role -c <name>.toml --data-dir <name>` in `dir`. Each node keeps its own data directory (its node
/// id, its saved state) but uses the certificate the node called `cp` generated, so every node trusts every other.
pub fn spawn_node(bin: &Path, dir: &Path, role: &str, name: &str, extra: &[&str]) -> Node {
    let tls = dir.join(name).join("tls");
    let _ = std::fs::create_dir_all(&tls);
    if name != "cp" {
        for f in std::fs::read_dir(dir.join("cp").join("tls")).into_iter().flatten().flatten() {
            let _ = std::fs::copy(f.path(), tls.join(f.file_name()));
        }
    }
    let config = format!("{name}.toml");
    let mut args = vec![role, "-c", &config, "--data-dir", name, "--bind", "127.0.0.1"];
    args.extend_from_slice(extra);
    Node::spawn(bin, &args, dir)
}
