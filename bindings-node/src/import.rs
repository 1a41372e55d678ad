//! Moving existing deployments over: `importWgQuick` and `importMeshconf`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::{CoreResult, IntoJs};
use crate::mesh::Mesh;

/// Options of the importers.
#[napi(object)]
pub struct ImportOptions {
    /// The new mesh's name (default `imported`).
    pub name: Option<String>,
    /// Labels error locations (`importMeshconf` only; default `database.csv`).
    pub source_name: Option<String>,
}

fn mesh_name(options: &Option<ImportOptions>) -> CoreResult<wiremesh::Name> {
    let name = options.as_ref().and_then(|o| o.name.as_deref()).unwrap_or("imported");
    Ok(wiremesh::Name::new(name, "name")?)
}

/// Builds a mesh from wg-quick files, one per node: `{ nodeName: fileText, … }` in node order. Each
/// file's `[Interface]` gives the node's key, addresses (whose networks become the mesh networks) and
/// settings; what the other files say about it gives its endpoint, subnets and whether it relays.
/// Throws a `config_*` code (with `location.source` = the node name) or a `mesh_*` code.
#[napi(ts_args_type = "files: Record<string, string>, options?: ImportOptions")]
pub fn import_wg_quick(env: Env, files: Object<'_>, options: Option<ImportOptions>) -> Result<Mesh> {
    let mut inputs = Vec::new();
    for key in Object::keys(&files)? {
        let text: String = files.get_named_property(&key)?;
        let name = wiremesh::Name::new(&key, &format!("files.{key}")).js(&env)?;
        inputs.push((name, text, key));
    }
    let name = mesh_name(&options).js(&env)?;
    wiremesh::import_wg_quick(name, &inputs).map(Mesh::wrap).js(&env)
}

/// Builds a mesh from a wg-meshconf `database.csv` text (a full mesh; extra AllowedIPs become subnets).
/// Throws a `config_*` code with its line, or a `mesh_*` code.
#[napi]
pub fn import_meshconf(env: Env, csv_text: String, options: Option<ImportOptions>) -> Result<Mesh> {
    let name = mesh_name(&options).js(&env)?;
    let source = options.as_ref().and_then(|o| o.source_name.clone()).unwrap_or_else(|| "database.csv".into());
    wiremesh::import_meshconf_csv(&csv_text, name, &source).map(Mesh::wrap).js(&env)
}
