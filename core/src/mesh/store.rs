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
        // Loading a key derives its public key (an X25519 multiplication): spread them over the cores.
        let files: Vec<(usize, std::path::PathBuf)> = mesh
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, node)| node.private_key_file.as_ref().map(|file| (i, base.join(file))))
            .collect();
        let workers = if files.len() < 32 { 1 } else { crate::parallel::worker_threads() };
        let chunk = files.len().div_ceil(workers).max(1);
        let loaded: Vec<Result<PrivateKey, crate::Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = files
                .chunks(chunk)
                .map(|group| {
                    scope.spawn(move || group.iter().map(|(_, path)| PrivateKey::load(path)).collect::<Vec<_>>())
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("key loading thread panicked")).collect()
        });
        for ((index, _), key) in files.iter().zip(loaded) {
            let key = key?;
            let node = &mut mesh.nodes[*index];
            if let Some(public) = node.public_key {
                if key.public_key() != public {
                    return Err(MeshError::KeyMismatch { node: node.name.to_string() }.into());
                }
            }
            node.private_key = Some(key);
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
        // Every key file that is missing or stale, written together (in parallel, one batch of renames).
        let mut key_files: Vec<(std::path::PathBuf, String)> = Vec::new();
        let mut need_dir = false;
        for node in &mut self.nodes {
            if let Some(key) = &node.private_key {
                node.public_key = Some(key.public_key());
                let file = match &node.private_key_file {
                    Some(file) => file.clone(),
                    None => {
                        need_dir = true;
                        format!("{key_dir}/{}.key", node.name)
                    }
                };
                let key_path = base.join(&file);
                let up_to_date = PrivateKey::load(&key_path).map(|existing| existing == *key).unwrap_or(false);
                if !up_to_date {
                    key_files.push((key_path, key.to_base64() + "\n"));
                }
                node.private_key_file = Some(file);
            }
        }
        if need_dir {
            fsutil::create_private_dir(&base.join(&key_dir))?;
        }
        let written = fsutil::write_many_atomic(&key_files, fsutil::SECRET_FILE_MODE);
        for (_, text) in &mut key_files {
            zeroize::Zeroize::zeroize(text);
        }
        written?;
        let ensure_dir = || fsutil::create_private_dir(&base.join(&key_dir));
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
        let text = if is_json(path) {
            self.to_json_string() + "\n"
        } else {
            let fresh = self.to_toml_string();
            // Keep what a person wrote: comments, layout and order survive; only changed values move.
            match std::fs::read_to_string(path) {
                Ok(existing) => merge_toml(&existing, &fresh).unwrap_or(fresh),
                Err(_) => fresh,
            }
        };
        fsutil::write_atomic(path, text.as_bytes(), fsutil::PUBLIC_FILE_MODE)
    }
}

/// Rewrites the TOML document `existing` so it says what `fresh` says, keeping its comments, blank
/// lines, key order and formatting wherever the value did not change. Nodes are matched by name.
/// `None` when `existing` does not parse (then the fresh text is written as is).
fn merge_toml(existing: &str, fresh: &str) -> Option<String> {
    let mut document: toml_edit::DocumentMut = existing.parse().ok()?;
    let fresh: toml_edit::DocumentMut = fresh.parse().ok()?;
    merge_table(document.as_table_mut(), fresh.as_table());
    Some(document.to_string())
}

fn merge_table(old: &mut toml_edit::Table, new: &toml_edit::Table) {
    use toml_edit::Item;
    let stale: Vec<String> = old.iter().map(|(k, _)| k.to_string()).filter(|k| !new.contains_key(k)).collect();
    for key in stale {
        old.remove(&key);
    }
    for (key, item) in new.iter() {
        match (old.get_mut(key), item) {
            (Some(Item::Table(old_table)), Item::Table(new_table)) => merge_table(old_table, new_table),
            (Some(Item::ArrayOfTables(old_array)), Item::ArrayOfTables(new_array)) => {
                let mut merged = toml_edit::ArrayOfTables::new();
                for new_table in new_array.iter() {
                    let name = new_table.get("name").and_then(|n| n.as_str());
                    let previous =
                        old_array.iter().find(|t| name.is_some() && t.get("name").and_then(|n| n.as_str()) == name);
                    let mut table = previous.cloned().unwrap_or_else(|| new_table.clone());
                    merge_table(&mut table, new_table);
                    merged.push(table);
                }
                *old_array = merged;
            }
            (Some(Item::Value(old_value)), Item::Value(new_value)) => {
                if old_value.to_string().trim() != new_value.to_string().trim() {
                    let decor = old_value.decor().clone();
                    *old_value = new_value.clone();
                    *old_value.decor_mut() = decor;
                }
            }
            _ => {
                old.insert(key, item.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saving_keeps_comments_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed.toml");
        let original = "# The seed deployment\n[mesh]\nname = \"seed\"   # short\nnetworks = [\"10.88.0.0/24\"]\n\n# the hub\n[[nodes]]\nname = \"hub\"\nendpoint = \"192.0.2.1:51820\"  # public\nrelay = true\n\n[[nodes]]\nname = \"gone\"\n";
        std::fs::write(&path, original).unwrap();
        let mut mesh = Mesh::load(&path).unwrap();
        mesh.remove_node("gone").unwrap();
        mesh.add_node(crate::Node::new(crate::Name::new("node-1", "t").unwrap())).unwrap();
        mesh.generate_missing().unwrap();
        mesh.save(&path).unwrap();
        let saved = std::fs::read_to_string(&path).unwrap();
        for kept in [
            "# The seed deployment",
            "name = \"seed\"   # short",
            "# the hub",
            "endpoint = \"192.0.2.1:51820\"  # public",
        ] {
            assert!(saved.contains(kept), "{kept:?} lost:\n{saved}");
        }
        assert!(!saved.contains("gone"));
        assert!(saved.contains("name = \"node-1\"") && saved.contains("private_key_file"));
        let reloaded = Mesh::load(&path).unwrap();
        assert_eq!(reloaded.nodes.len(), 2);
        assert_eq!(reloaded.nodes[1].addresses, mesh.nodes[1].addresses);
    }
}
