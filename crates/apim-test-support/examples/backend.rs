//! The benchmark's backend: `cargo run --release -p apim-test-support --example backend -- 127.0.0.1:PORT`.
//! One runtime thread (the load tool and the proxies share the machine's cores); `GET /bytes/1024` answers
//! 1 KiB. Prints `listening ADDR` and serves until killed.

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let addr: std::net::SocketAddr =
        addr.parse().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let bound = apim_test_support::backend::spawn(addr).await?;
        println!("listening {bound}");
        std::future::pending::<()>().await;
        Ok(())
    })
}
