//! `perfbed pki`: JWS key pairs per FSP and an mTLS CA with server and client certificates,
//! all TEST ONLY, in the layout `perfbed sim --keys` and the hub's JWS keys directory expect.

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use fspiop::jws::{generate_pem, Alg};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum AlgArg {
    /// RSA-2048, RS256 (Mojaloop's default).
    Rs256,
    /// EC P-256, ES256.
    Es256,
}

/// Make TEST-ONLY keys and certificates.
///
/// Layout of OUT (use it as `perfbed sim --keys OUT`; the `.pem` files are what the hub's
/// JWS_VERIFICATION_KEYS_DIRECTORY wants):
///
///   OUT/<fsp>.key, OUT/<fsp>.pem      JWS private / public key per FSP
///   OUT/tls/ca.pem, ca.key            the test CA
///   OUT/tls/server.pem, server.key    server certificate for --server-name
///   OUT/tls/<fsp>.pem, <fsp>.key      client certificate per FSP (mTLS)
///
/// Example: perfbed pki --out ./pki --fsp perffsp1 --fsp perffsp5
#[derive(Debug, Args)]
pub(crate) struct PkiArgs {
    /// Directory to write (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// FSP ids to make keys for (repeatable, or comma-separated). Default: perffsp1..perffsp8.
    #[arg(long = "fsp", value_name = "ID", value_delimiter = ',')]
    fsps: Vec<String>,
    /// JWS algorithm.
    #[arg(long, value_enum, default_value = "rs256")]
    alg: AlgArg,
    /// Names the server certificate is valid for (DNS names or IPs; repeatable).
    #[arg(long = "server-name", value_name = "NAME", value_delimiter = ',', default_values = ["localhost", "127.0.0.1"])]
    server_names: Vec<String>,
    /// Overwrite files that already exist.
    #[arg(long)]
    force: bool,
}

/// Who may read a file `perfbed pki` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// A private key: 0600, the owner only.
    Private,
    /// A certificate, a public key, the README: 0644.
    Public,
}

/// Writes `text` to a file created new at `path` (`O_CREAT | O_EXCL`: an existing file, or a
/// symbolic link planted there, is never followed or written through) with the permissions of
/// `access` from the start, so a private key is never readable by others, not even for a
/// moment. With `force`, what is at `path` is removed first (a link itself, not its target).
fn write(path: &Path, text: &str, force: bool, access: Access) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if force {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot replace {}", path.display())),
        }
    }
    let mode = match access {
        Access::Private => 0o600,
        Access::Public => 0o644,
    };
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} exists; pass --force to overwrite", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

pub(crate) fn run(args: PkiArgs) -> Result<()> {
    let fsps = if args.fsps.is_empty() {
        (1..=8).map(fspiop::testbed::fsp_id).collect()
    } else {
        args.fsps
    };
    for f in &fsps {
        let ok = fspiop::types::FspId::parse(f.as_str()).is_ok_and(|id| id.is_ledger_name());
        if !ok {
            bail!("'{f}' is not a valid FSP id: central-ledger wants 2–30 letters and digits (e.g. perffsp1)");
        }
    }
    let alg = match args.alg {
        AlgArg::Rs256 => Alg::RS256,
        AlgArg::Es256 => Alg::ES256,
    };
    let tls_dir = args.out.join("tls");
    std::fs::create_dir_all(&tls_dir)
        .with_context(|| format!("cannot create {}", tls_dir.display()))?;
    for f in &fsps {
        let (private, public) = generate_pem(alg).context("key generation failed")?;
        write(
            &args.out.join(format!("{f}.key")),
            &private,
            args.force,
            Access::Private,
        )?;
        write(
            &args.out.join(format!("{f}.pem")),
            &public,
            args.force,
            Access::Public,
        )?;
    }
    let pki = perfbed_http::tls::generate_test_pki(&args.server_names, &fsps)?;
    write(
        &tls_dir.join("ca.pem"),
        &pki.ca.cert,
        args.force,
        Access::Public,
    )?;
    write(
        &tls_dir.join("ca.key"),
        &pki.ca.key,
        args.force,
        Access::Private,
    )?;
    write(
        &tls_dir.join("server.pem"),
        &pki.server.cert,
        args.force,
        Access::Public,
    )?;
    write(
        &tls_dir.join("server.key"),
        &pki.server.key,
        args.force,
        Access::Private,
    )?;
    for (f, pair) in &pki.clients {
        write(
            &tls_dir.join(format!("{f}.pem")),
            &pair.cert,
            args.force,
            Access::Public,
        )?;
        write(
            &tls_dir.join(format!("{f}.key")),
            &pair.key,
            args.force,
            Access::Private,
        )?;
    }
    write(
        &args.out.join("README.txt"),
        &format!(
            "TEST ONLY — generated by `perfbed pki`. These keys and certificates are for load tests\n\
             of test schemes. Never use them for real money or real users.\n\n\
             JWS: <fsp>.key (private, {alg}) and <fsp>.pem (public, SPKI) for {}.\n\
             mTLS: tls/ca.pem (CA), tls/server.pem|key (valid for {}), tls/<fsp>.pem|key (clients).\n",
            fsps.join(", "),
            args.server_names.join(", ")
        ),
        true,
        Access::Public,
    )?;
    println!(
        "wrote TEST-ONLY keys to {}: JWS {alg} for {} FSPs ({}), CA, server certificate for {}, {} client certificates",
        args.out.display(),
        fsps.len(),
        fsps.join(", "),
        args.server_names.join(", "),
        fsps.len()
    );
    Ok(())
}
