//! Digests and the precompiled-artefact cache: `<cache_dir>/<sha256>-<engine hash>.cwasm`.
//!
//! The engine hash is [`Engine::precompile_compatibility_hash`] (wasmtime version, target and
//! every setting that changes the code, e.g. fuel), so an artefact is only reused by an engine
//! that can run it. Artefacts are only ever produced by this host; judge authors ship `.wasm`.

use std::fmt::Write as _;
#[cfg(feature = "cranelift")]
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::HostError;
use crate::host::{CodeSource, HostInner};

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A [`Hasher`] that feeds everything into sha256, so the key is stable across processes.
#[cfg(feature = "cranelift")]
struct ShaHasher(Sha256);

#[cfg(feature = "cranelift")]
impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The first 16 hex digits of the sha256 of the engine's precompile-compatibility hash.
///
/// Only engines with a compiler can compute it (`cranelift` feature); an evaluate-only host
/// returns `None` and tries every cached artefact of the digest instead (wasmtime refuses
/// incompatible ones with an error).
#[cfg(feature = "cranelift")]
pub(crate) fn engine_hash(engine: &Engine) -> Option<String> {
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    let mut s = hex(&h.0.finalize());
    s.truncate(16);
    Some(s)
}

/// See the `cranelift` version: without a compiler there is no compatibility hash.
#[cfg(not(feature = "cranelift"))]
pub(crate) fn engine_hash(_engine: &Engine) -> Option<String> {
    None
}

/// Checks that `bytes` look like a component (not a core module, not a precompiled artefact).
fn check_header(bytes: &[u8]) -> Result<(), HostError> {
    if Engine::detect_precompiled(bytes).is_some() {
        return Err(HostError::NotAComponent(
            "precompiled artefacts are never accepted from outside; ship the .wasm component".into(),
        ));
    }
    let Some((magic, rest)) = bytes.split_first_chunk::<4>() else {
        return Err(HostError::NotAComponent(format!("only {} bytes", bytes.len())));
    };
    if magic != b"\0asm" {
        return Err(HostError::NotAComponent("missing the \\0asm magic number".into()));
    }
    match rest.first_chunk::<4>() {
        Some([0x0d, 0x00, 0x01, 0x00]) => Ok(()),
        Some([0x01, 0x00, 0x00, 0x00]) => Err(HostError::NotAComponent(
            "this is a core wasm module; wrap it with `wasm-tools component new`".into(),
        )),
        Some(other) => Err(HostError::NotAComponent(format!(
            "unknown wasm version/layer {other:02x?}"
        ))),
        None => Err(HostError::NotAComponent(format!("only {} bytes", bytes.len()))),
    }
}

/// The cache file this engine writes for `sha256` (needs the engine hash).
fn cache_path(host: &HostInner, sha256: &str) -> Option<PathBuf> {
    let dir = host.config.cache_dir.as_ref()?;
    let hash = host.engine_hash.as_ref()?;
    Some(dir.join(format!("{sha256}-{hash}.cwasm")))
}

/// Cache files that may hold `sha256`: the exact one, or (without an engine hash) all of them.
fn candidates(host: &HostInner, sha256: &str) -> Vec<PathBuf> {
    if let Some(path) = cache_path(host, sha256) {
        return vec![path];
    }
    let Some(dir) = host.config.cache_dir.as_ref() else {
        return Vec::new();
    };
    let prefix = format!("{sha256}-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".cwasm"))
        })
        .collect();
    paths.sort();
    paths
}

/// The compiled component: from the cache if there, else compiled (and cached).
pub(crate) fn compile(
    host: &HostInner,
    bytes: &[u8],
    sha256: &str,
) -> Result<(Component, CodeSource), HostError> {
    check_header(bytes)?;
    let exact = host.engine_hash.is_some();
    for path in candidates(host, sha256) {
        let Ok(artefact) = std::fs::read(&path) else {
            continue;
        };
        // Read into memory rather than `deserialize_file`: an mmap of a file that someone
        // truncates later would fault (SIGBUS) inside the host.
        // SAFETY: the cache directory only holds artefacts this host serialized itself (see the
        // module docs); wasmtime's header check rejects artefacts from another wasmtime version
        // or engine configuration with an error, not UB.
        match unsafe { Component::deserialize(&host.engine, &artefact) } {
            Ok(component) => return Ok((component, CodeSource::Cache)),
            // A stale or damaged entry of our own engine: drop it, recompile and rewrite it.
            Err(_) if exact => {
                let _ = std::fs::remove_file(&path);
            }
            // Another engine's artefact: leave it alone.
            Err(_) => {}
        }
    }
    compile_fresh(host, bytes, sha256, cache_path(host, sha256))
}

#[cfg(feature = "cranelift")]
fn compile_fresh(
    host: &HostInner,
    bytes: &[u8],
    _sha256: &str,
    path: Option<PathBuf>,
) -> Result<(Component, CodeSource), HostError> {
    let component =
        Component::new(&host.engine, bytes).map_err(|e| HostError::Malformed(format!("{e:#}")))?;
    if let Some(path) = path
        && let Ok(serialized) = component.serialize()
    {
        // The cache is an optimisation: a failed write only costs a recompile next time.
        let _ = write_atomically(&path, &serialized);
    }
    Ok((component, CodeSource::Compiled))
}

#[cfg(not(feature = "cranelift"))]
fn compile_fresh(
    _host: &HostInner,
    _bytes: &[u8],
    sha256: &str,
    _path: Option<PathBuf>,
) -> Result<(Component, CodeSource), HostError> {
    Err(HostError::CompilerUnavailable {
        digest: sha256.to_string(),
    })
}

#[cfg(feature = "cranelift")]
fn write_atomically(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_text() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn header_check_names_the_problem() {
        let msg = |b: &[u8]| check_header(b).map_err(|e| e.to_string());
        assert_eq!(
            msg(b"\0as"),
            Err("not a WebAssembly component: only 3 bytes".into())
        );
        assert_eq!(
            msg(b"ELF\x7f\0\0\0\0"),
            Err("not a WebAssembly component: missing the \\0asm magic number".into())
        );
        assert!(msg(b"\0asm\x01\0\0\0").is_err_and(|e| e.contains("core wasm module")));
        assert_eq!(msg(b"\0asm\x0d\0\x01\0"), Ok(()));
    }
}
