//! Model files: safetensors with the model's description as JSON metadata.
//!
//! Layout: for head `i`, `head.{i}.columns` (U32 `[n]`, hash buckets with a non-zero
//! weight), `head.{i}.weights` (F16 `[n, labels]`) and `head.{i}.bias` (F32 `[labels]`);
//! `training.seen_texts` (U8, a Bloom filter of the training texts, see `seen.rs`; older
//! files have none); one metadata key, `stancer`, holds [`ModelMeta`] plus the lexicon as
//! JSON. Only non-zero rows are stored and weights are f16, which keeps the shipped models a few MB; the
//! trainer rounds weights the same way before it hands a model out, so a model predicts the
//! same before saving and after loading. Everything in the file is readable from numpy.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use half::f16;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Head, LinearModel, ModelMeta, SeenTexts, WeightTable};
use crate::error::{Error, Result};
use crate::features::Lexicon;

/// Version of the file layout; files of another version are refused.
pub const FORMAT_VERSION: u32 = 1;
const META_KEY: &str = "stancer";
/// The filter of training texts ([`super::SeenTexts`]), when the metadata says there is one.
const SEEN_TENSOR: &str = "training.seen_texts";

#[derive(Serialize, Deserialize)]
struct FileMeta {
    #[serde(flatten)]
    meta: ModelMeta,
    lexicon: Option<Lexicon>,
}

/// SHA-256 of a file's bytes, hex.
pub fn file_digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `model` to `path` atomically: a temporary file in the same directory, synced,
/// then renamed over the target, so a reader (a serving process reloading) never sees half
/// a file.
pub fn save(model: &LinearModel, path: &Path) -> Result<()> {
    let bytes = to_bytes(model)?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Serialises `model` to safetensors bytes.
pub fn to_bytes(model: &LinearModel) -> Result<Vec<u8>> {
    let k = model.labels().len();
    let mut buffers: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (i, h) in model.heads().iter().enumerate() {
        let mut cols = Vec::new();
        let mut ws = Vec::new();
        for (c, row) in h.weights.rows() {
            cols.extend_from_slice(&c.to_le_bytes());
            for &w in row {
                ws.extend_from_slice(&f16::from_f32(w).to_le_bytes());
            }
        }
        let n = cols.len() / 4;
        let bias: Vec<u8> = h.bias.iter().flat_map(|b| b.to_le_bytes()).collect();
        buffers.push((format!("head.{i}.columns"), Dtype::U32, vec![n], cols));
        buffers.push((format!("head.{i}.weights"), Dtype::F16, vec![n, k], ws));
        buffers.push((format!("head.{i}.bias"), Dtype::F32, vec![k], bias));
    }
    if let Some(seen) = model.seen_texts() {
        let bytes = seen.to_bytes();
        buffers.push((SEEN_TENSOR.to_string(), Dtype::U8, vec![bytes.len()], bytes));
    }
    let views: Vec<(String, TensorView<'_>)> = buffers
        .iter()
        .map(|(name, dt, shape, data)| {
            TensorView::new(*dt, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Data(format!("tensor {name}: {e}")))
        })
        .collect::<Result<_>>()?;
    let file_meta = FileMeta { meta: model.meta().clone(), lexicon: model.featurizer().lexicon().cloned() };
    let json = serde_json::to_string(&file_meta).map_err(|e| Error::Data(format!("metadata: {e}")))?;
    let metadata = Some(HashMap::from([(META_KEY.to_string(), json)]));
    safetensors::serialize(views, &metadata).map_err(|e| Error::Data(format!("serialising: {e}")))
}

/// Loads a model file, refusing truncated, corrupt or incompatible files with an error
/// that names the file and the problem.
pub fn load(path: &Path) -> Result<LinearModel> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&bytes).map_err(|message| Error::BadModel { path: path.to_path_buf(), message })
}

/// Parses safetensors bytes into a model; the error is a message without the path.
pub fn from_bytes(bytes: &[u8]) -> std::result::Result<LinearModel, String> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| format!("not a readable safetensors file (truncated or corrupt?): {e}"))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| format!("unreadable header: {e}"))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| format!("no {META_KEY:?} metadata entry: not a stancer model"))?;
    let version: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("metadata is not JSON: {e}"))?;
    match version.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v == FORMAT_VERSION as u64 => {}
        Some(v) => {
            return Err(format!("format version {v}, this build reads version {FORMAT_VERSION}"));
        }
        None => return Err("metadata has no format_version".into()),
    }
    let FileMeta { meta, lexicon } = serde_json::from_value(version).map_err(|e| format!("metadata: {e}"))?;
    let k = meta.labels.len();
    if k < 2 {
        return Err(format!("{} labels; a model needs at least 2", k));
    }
    let dim = 1usize
        .checked_shl(meta.featurizer.hash_bits)
        .filter(|_| (10..=26).contains(&meta.featurizer.hash_bits))
        .ok_or_else(|| format!("hash_bits {} out of range", meta.featurizer.hash_bits))?;
    let mut heads = Vec::with_capacity(meta.heads.len());
    for (i, name) in meta.heads.iter().enumerate() {
        let get = |part: &str, dtype: Dtype, shape: &[usize]| -> std::result::Result<Vec<u8>, String> {
            let tname = format!("head.{i}.{part}");
            let t = st.tensor(&tname).map_err(|e| format!("tensor {tname}: {e}"))?;
            if t.dtype() != dtype || t.shape() != shape {
                return Err(format!(
                    "tensor {tname} is {:?} {:?}, expected {:?} {:?}",
                    t.dtype(),
                    t.shape(),
                    dtype,
                    shape
                ));
            }
            Ok(t.data().to_vec())
        };
        let n = st
            .tensor(&format!("head.{i}.columns"))
            .map_err(|e| format!("tensor head.{i}.columns: {e}"))?
            .shape()
            .first()
            .copied()
            .unwrap_or(0);
        let cols = get("columns", Dtype::U32, &[n])?;
        let ws = get("weights", Dtype::F16, &[n, k])?;
        let bias = get("bias", Dtype::F32, &[k])?;
        let values: Vec<f32> = ws.chunks_exact(2).map(|w| f16::from_le_bytes([w[0], w[1]]).to_f32()).collect();
        let bias: Vec<f32> = bias.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if values.iter().chain(&bias).any(|w| !w.is_finite()) {
            return Err(format!("head {name:?} has non-finite weights"));
        }
        let buckets = cols.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let weights = WeightTable::from_rows(dim, k, buckets.zip(values.chunks_exact(k)))
            .map_err(|e| format!("head {name:?}: {e}"))?;
        heads.push(Head { name: name.clone(), weights, bias });
    }
    let seen = match &meta.training.seen_texts {
        Some(info) => {
            let t = st.tensor(SEEN_TENSOR).map_err(|e| format!("tensor {SEEN_TENSOR}: {e}"))?;
            if t.dtype() != Dtype::U8 {
                return Err(format!("tensor {SEEN_TENSOR} is {:?}, expected U8", t.dtype()));
            }
            Some((SeenTexts::from_bytes(t.data(), info.hashes).map_err(|e| e.to_string())?, info.texts))
        }
        None => None,
    };
    let model = LinearModel::new(meta, lexicon, heads).map_err(|e| e.to_string())?;
    Ok(match seen {
        Some((seen, texts)) => model.with_seen_texts(seen, texts),
        None => model,
    })
}
