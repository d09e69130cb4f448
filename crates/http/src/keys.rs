//! JWS keys from disk: the directory reading that `fspiop` (no I/O) leaves to its callers.

use fspiop::jws::{key_file_name, KeyError, KeyStore};
use std::path::Path;

/// Reads a directory in the hub's layout: `<fspId>.pem` public keys or certificates (as in
/// `JWS_VERIFICATION_KEYS_DIRECTORY`) and `<fspId>.key` private keys, in name order; other
/// files are ignored. Errors name the directory or the file.
pub fn load_dir(dir: &Path) -> Result<KeyStore, KeyError> {
    let io = |path: &Path, source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut paths: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path().display().to_string())
        .filter(|p| key_file_name(p).is_some())
        .collect();
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let pem = std::fs::read(&path).map_err(|e| io(Path::new(&path), e))?;
        files.push((path, pem));
    }
    KeyStore::from_pem_files(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())))
}

#[cfg(test)]
mod tests {
    use super::load_dir;
    use fspiop::jws::{generate_pem, Alg};

    #[test]
    fn key_directory_in_the_hubs_layout() {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).expect("write a key file");
        };
        let (rsa_priv, rsa_pub) = generate_pem(Alg::RS256).expect("RSA key");
        let (ec_priv, ec_pub) = generate_pem(Alg::ES256).expect("EC key");
        write("perffsp1.key", &rsa_priv);
        write("perffsp1.pem", &rsa_pub);
        write("perffsp2.key", &ec_priv);
        write("perffsp2.pem", &ec_pub);
        write("perffsp3.pem", &rsa_pub);
        write("README.md", "ignored");
        let store = load_dir(dir.path()).expect("the directory loads");
        assert_eq!(store.signing_ids(), ["perffsp1", "perffsp2"]);
        assert_eq!(store.verifying_ids(), ["perffsp1", "perffsp2", "perffsp3"]);
        assert_eq!(
            store.signing("perffsp2").expect("perffsp2 signs").alg(),
            Alg::ES256
        );

        write("broken.pem", "nope");
        let err = load_dir(dir.path()).expect_err("a broken key").to_string();
        assert!(err.contains("broken.pem"), "{err}");
        let err = load_dir(&dir.path().join("missing"))
            .expect_err("no directory")
            .to_string();
        assert!(err.contains("missing"), "{err}");
    }
}
