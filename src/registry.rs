//! Named models loaded from a directory, swapped atomically on reload.
//!
//! Every `NAME.safetensors` in the directory is the model `NAME`. The set of models is an
//! immutable [`Snapshot`] behind an `Arc`: a request takes the current snapshot (one
//! read-lock and a reference-count increment) and keeps it to the end, so a reload never
//! changes the model under a request that has started, and never blocks one. A reload
//! builds a new snapshot off to the side and swaps the pointer.
//!
//! A file that does not load (truncated, corrupt, incompatible, half-copied), or that holds
//! a model of another task than the one serving under its name, is refused and logged with
//! the file and the reason; the model of that name that was serving keeps serving. A model
//! whose file is gone from the directory is dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{self, LinearModel};

/// File extension of model files.
pub const MODEL_EXT: &str = "safetensors";

/// A model as loaded from its file.
#[derive(Debug)]
pub struct LoadedModel {
    /// File stem: the name requests use.
    pub name: String,
    pub path: PathBuf,
    /// SHA-256 of the file bytes, hex: tells a client which model version answered.
    pub sha256: String,
    pub model: LinearModel,
}

/// The models serving at one moment. Never changes once built.
#[derive(Debug, Default)]
pub struct Snapshot {
    models: BTreeMap<String, Arc<LoadedModel>>,
}

impl Snapshot {
    /// The model called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<LoadedModel>> {
        self.models.get(name)
    }

    /// Every model, sorted by name.
    pub fn models(&self) -> impl Iterator<Item = &Arc<LoadedModel>> {
        self.models.values()
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

/// A model file that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadFailure {
    pub file: PathBuf,
    pub reason: String,
}

/// What one reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// Models whose file was read and accepted (new, changed or unchanged), sorted.
    pub loaded: Vec<String>,
    /// Files refused; the previous model of the same name, if any, still serves.
    pub failed: Vec<LoadFailure>,
    /// Models dropped because their file is gone.
    pub removed: Vec<String>,
}

/// The models directory and the snapshot serving from it.
#[derive(Debug)]
pub struct Registry {
    dir: PathBuf,
    current: RwLock<Arc<Snapshot>>,
    /// Serialises reloads, so two triggers (signal and file watcher) cannot interleave and
    /// have the older directory listing win.
    reload_lock: Mutex<()>,
}

impl Registry {
    /// Loads every model in `dir`. Fails only when the directory cannot be read; files
    /// that do not load are in the report (a server can start with some models refused).
    pub fn open(dir: impl Into<PathBuf>) -> Result<(Registry, ReloadReport)> {
        let registry = Registry {
            dir: dir.into(),
            current: RwLock::new(Arc::new(Snapshot::default())),
            reload_lock: Mutex::new(()),
        };
        let report = registry.reload()?;
        Ok((registry, report))
    }

    /// The models directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The models serving now. Hold on to it for the length of a request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        // A poisoned lock only means a writer panicked mid-swap of an `Arc`, which leaves
        // the old or the new value in place: either is a valid snapshot.
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The model called `name`, or [`Error::UnknownModel`].
    pub fn get(&self, name: &str) -> Result<Arc<LoadedModel>> {
        self.snapshot()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownModel { name: name.to_string(), dir: self.dir.display().to_string() })
    }

    /// Re-reads every model file in the directory and swaps in the new set. Blocking (file
    /// reads and parsing): call it from a blocking thread in async code. Every file is read
    /// and hashed even if unchanged (a timestamp can lie; a digest cannot), and a changed
    /// model is held twice in memory until the requests on the old one finish.
    pub fn reload(&self) -> Result<ReloadReport> {
        let _guard = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.snapshot();
        let mut report = ReloadReport::default();
        let mut next: BTreeMap<String, Arc<LoadedModel>> = BTreeMap::new();
        for (name, path) in model_files(&self.dir)? {
            // A model of another task under a served name (a sentiment model copied over
            // stance.safetensors) would fail every request for that name: the one serving
            // stays.
            let loaded = load_file(&name, &path).and_then(|m| match old.get(&name) {
                Some(o) if o.model.task() != m.model.task() => Err(format!(
                    "it is a {} model, and \"{name}\" serves a {} model; requests for it would fail \
                     (give it a name of its own)",
                    m.model.task(),
                    o.model.task()
                )),
                _ => Ok(m),
            });
            match loaded {
                Ok(m) => {
                    // Keep the old `Arc` when nothing changed: cheaper, and a model's
                    // identity stays stable across no-op reloads.
                    let keep = old.get(&name).filter(|o| o.sha256 == m.sha256).cloned();
                    next.insert(name.clone(), keep.unwrap_or_else(|| Arc::new(m)));
                    report.loaded.push(name);
                }
                Err(reason) => {
                    tracing::warn!(file = %path.display(), %reason, "model file refused; the previous model (if any) keeps serving");
                    if let Some(o) = old.get(&name) {
                        next.insert(name.clone(), o.clone());
                    }
                    report.failed.push(LoadFailure { file: path, reason });
                }
            }
        }
        report.removed = old.models.keys().filter(|n| !next.contains_key(*n)).cloned().collect();
        for name in &report.removed {
            tracing::info!(model = %name, "model file gone; model dropped");
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Snapshot { models: next });
        tracing::info!(
            dir = %self.dir.display(),
            loaded = %report.loaded.join(","),
            failed = report.failed.len(),
            removed = %report.removed.join(","),
            "models reloaded"
        );
        Ok(report)
    }
}

/// Whether `path` names a model file: `NAME.safetensors`, not hidden (the atomic writer's
/// temporary files start with a dot).
pub fn is_model_file(path: &Path) -> bool {
    let hidden = path.file_name().and_then(|f| f.to_str()).is_none_or(|f| f.starts_with('.'));
    !hidden && path.extension().and_then(|e| e.to_str()) == Some(MODEL_EXT)
}

/// `(name, path)` of every model file in `dir`, sorted by name.
fn model_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if !is_model_file(&path) || path.is_dir() {
            continue;
        }
        if let Some(name) = path.file_stem().and_then(|s| s.to_str()) {
            files.push((name.to_string(), path.clone()));
        }
    }
    files.sort();
    Ok(files)
}

/// Reads and checks one model file; the error is the reason, without the path.
fn load_file(name: &str, path: &Path) -> std::result::Result<LoadedModel, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let model = model::from_bytes(&bytes)?;
    Ok(LoadedModel { name: name.to_string(), path: path.to_path_buf(), sha256: model::file_digest(&bytes), model })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_files_are_visible_safetensors_files() {
        assert!(is_model_file(Path::new("/m/stance.safetensors")));
        assert!(is_model_file(Path::new("/m/stance.prev.safetensors")));
        assert!(!is_model_file(Path::new("/m/.stance.safetensors.tmp.12")));
        assert!(!is_model_file(Path::new("/m/.stance.safetensors")));
        assert!(!is_model_file(Path::new("/m/stance.json")));
        assert!(!is_model_file(Path::new("/m/MODELS.md")));
    }

    #[test]
    fn refused_files_are_reported_and_missing_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.safetensors"), b"\x08\0\0\0\0\0\0\0{}").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
        let (reg, report) = Registry::open(dir.path()).unwrap();
        assert!(report.loaded.is_empty());
        assert_eq!(report.failed.len(), 1);
        assert!(report.failed[0].file.ends_with("bad.safetensors"));
        assert!(reg.snapshot().is_empty());
        let err = reg.get("bad").unwrap_err();
        assert!(matches!(err, Error::UnknownModel { .. }), "{err}");
        assert!(Registry::open(dir.path().join("missing")).is_err());
    }
}
