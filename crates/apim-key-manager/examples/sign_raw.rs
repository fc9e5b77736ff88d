//! The ceiling for a key manager's JWT issuance (`bench/km.sh`): raw signatures per second with a key, on one
//! thread, over a message the size of a token's signing input. `sign_raw RS256|ES256|EdDSA KEY.der SECONDS`
//! (PKCS#8 DER; RS256 also takes PKCS#1).

use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [alg, file, secs] = args.as_slice() else {
        anyhow::bail!("usage: sign_raw RS256|ES256|EdDSA KEY.der SECONDS");
    };
    let alg = apim_key_manager::Alg::parse(alg).ok_or_else(|| anyhow::anyhow!("unknown algorithm {alg}"))?;
    let key = apim_key_manager::SigningKey::from_pkcs8(alg, &std::fs::read(file)?)?;
    let secs: f64 = secs.parse()?;
    // A client_credentials token's header and claims are about 500 bytes once encoded.
    let msg = vec![b'e'; 500];
    let (started, limit) = (Instant::now(), Duration::from_secs_f64(secs));
    let mut n = 0u64;
    while started.elapsed() < limit {
        for _ in 0..16 {
            std::hint::black_box(key.sign_raw(std::hint::black_box(&msg))?);
        }
        n += 16;
    }
    println!("{:.0}", n as f64 / started.elapsed().as_secs_f64());
    Ok(())
}
