//! Mesh files on disk: the TOML (or JSON) description plus a private key directory beside it.
//!
//! `seed.toml` keeps only public material. Private keys wiremesh generated live in `seed.keys/<node>.key`
//! (directory 0700, files 0600, written atomically) and are referenced from the node as
//! `private_key_file = "seed.keys/hub.key"`, relative to the mesh file; the preshared-key seed lives in
//! `seed.keys/preshared.seed`. Loading reads those files back, so rendering twice is byte-identical.

use std::path::{Path, PathBuf};

use crate::error::MeshError;
use crate::fsutil;
use crate::keys::{PresharedKey, PrivateKey};
use crate::mesh::model::Mesh;

/// Whether a mesh file is TOML or JSON (by extension: `.json` is JSON, anything else TOML).
fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// The directory next to the mesh file that holds generated secrets: `<stem>.keys`.
pub fn key_dir_name(mesh_path: &Path) -> String {
    let stem = mesh_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "mesh".into());
    format!("{stem}.keys")
}

fn base_dir(mesh_path: &Path) -> PathBuf {
    match mesh_path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl Mesh {
    /// Loads and validates a mesh file and the secrets it references (key files relative to it).
    pub fn load(path: &Path) -> Result<Mesh, crate::Error> {
        let text = fsutil::read_to_string(path)?;
        let source_name = path.display().to_string();
        let mut mesh = if is_json(path) { Mesh::from_json_str(&text) } else { Mesh::from_toml_str(&text) }.map_err(
            |err| match err {
                crate::Error::Mesh(MeshError::Syntax { source_name: at, message }) => {
                    MeshError::Syntax { source_name: format!("{source_name} {at}"), message }.into()
                }
                other => other,
            },
        )?;
        let base = base_dir(path);
        for node in &mut mesh.nodes {
            if let Some(file) = &node.private_key_file {
                let key = PrivateKey::load(&base.join(file))?;
                if let Some(public) = node.public_key {
                    if key.public_key() != public {
                        return Err(MeshError::KeyMismatch { node: node.name.to_string() }.into());
                    }
                }
                node.private_key = Some(key);
            }
        }
        if let Some(file) = &mesh.mesh.preshared_key_seed_file {
            let seed_path = base.join(file);
            if seed_path.exists() {
                mesh.preshared_key_seed = Some(PresharedKey::load(&seed_path)?);
            }
        }
        Ok(mesh)
    }

    /// Saves the mesh to `path` atomically, first writing any in-memory secret that has no file yet
    /// into `<stem>.keys/` (0700 directory, 0600 files) and recording where it went. Public keys are
    /// filled in from private keys so the file alone describes the mesh's public side.
    pub fn save(&mut self, path: &Path) -> Result<(), crate::Error> {
        self.validate()?;
        let base = base_dir(path);
        let key_dir = key_dir_name(path);
        let ensure_dir = || fsutil::create_private_dir(&base.join(&key_dir));
        for node in &mut self.nodes {
            if let Some(key) = &node.private_key {
                node.public_key = Some(key.public_key());
                let file = match &node.private_key_file {
                    Some(file) => file.clone(),
                    None => format!("{key_dir}/{}.key", node.name),
                };
                let key_path = base.join(&file);
                let up_to_date = PrivateKey::load(&key_path).map(|existing| existing == *key).unwrap_or(false);
                if !up_to_date {
                    if node.private_key_file.is_none() {
                        ensure_dir()?;
                    }
                    key.save(&key_path)?;
                }
                node.private_key_file = Some(file);
            }
        }
        if let Some(seed) = &self.preshared_key_seed {
            let file = self.mesh.preshared_key_seed_file.clone().unwrap_or_else(|| format!("{key_dir}/preshared.seed"));
            let seed_path = base.join(&file);
            let up_to_date = PresharedKey::load(&seed_path).map(|existing| existing == *seed).unwrap_or(false);
            if !up_to_date {
                if self.mesh.preshared_key_seed_file.is_none() {
                    ensure_dir()?;
                }
                seed.save(&seed_path)?;
            }
            self.mesh.preshared_key_seed_file = Some(file);
        }
        let text = if is_json(path) { self.to_json_string() + "\n" } else { self.to_toml_string() };
        fsutil::write_atomic(path, text.as_bytes(), fsutil::PUBLIC_FILE_MODE)
    }
}
