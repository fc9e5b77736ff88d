//! Generates the event hub's and the traffic managers' messages and gRPC stubs from `proto/` with protox (no system protoc).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["eventhub.proto", "throttle.proto"], ["proto"])?;
    tonic_prost_build::configure().build_transport(false).compile_fds(fds)?;
    Ok(())
}
