//! Unknown configuration keys: a misspelled key would otherwise be ignored and its
//! default used without a word. Keys from the TOML file are refused; `IDIC_` variables
//! are warnings (see `Config::load` for why), each naming the closest valid key.
//!
//! A leaf: it knows the configuration only as the type `C` it is asked about (its
//! defaults give the valid keys), so `config` uses it without being used back.

use std::path::Path;

use figment::providers::Serialized;
use figment::value::{Dict, Value};
use figment::{Figment, Source};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Refuses unknown keys set in `file` (the error is the message); returns one warning
/// per unknown `IDIC_` variable. `C` is the configuration the figment is read into.
pub(crate) fn check_unknown_keys<C: DeserializeOwned + Serialize + Default>(
    figment: &Figment,
    file: Option<&Path>,
) -> Result<Vec<String>, String> {
    let known = known_keys::<C>();
    let mut warnings = Vec::new();
    for path in ignored_paths::<C>(figment) {
        let origin = figment.find_metadata(&metadata_key(figment, &path));
        let from_file =
            origin.is_some_and(|metadata| matches!(metadata.source, Some(Source::File(_))));
        if from_file || origin.is_none() {
            let file = file.map_or_else(
                || "the configuration".to_owned(),
                |file| file.display().to_string(),
            );
            return Err(format!(
                "{file}: unknown key '{path}'{}",
                did_you_mean(&path, known.iter().map(String::as_str))
            ));
        }
        let variable = env_name(&path);
        let candidates: Vec<String> = known.iter().map(|key| env_name(key)).collect();
        warnings.push(format!(
            "unknown variable {variable} is ignored{}",
            did_you_mean(&variable, candidates.iter().map(String::as_str))
        ));
    }
    Ok(warnings)
}

/// The keys the merged configuration holds that `C` does not read.
fn ignored_paths<C: DeserializeOwned>(figment: &Figment) -> Vec<String> {
    let mut ignored = Vec::new();
    let Ok(merged) = figment.extract::<Value>() else {
        return ignored;
    };
    // Errors are reported by the typed extraction; only the ignored keys matter here.
    let _: Result<C, _> =
        serde_ignored::deserialize(&merged, |path| ignored.push(path.to_string()));
    ignored
}

/// The longest prefix of `path` that figment has metadata for (array items have none).
fn metadata_key(figment: &Figment, path: &str) -> String {
    let mut key = path.to_owned();
    while figment.find_metadata(&key).is_none() {
        match key.rsplit_once('.') {
            Some((parent, _)) => key = parent.to_owned(),
            None => break,
        }
    }
    key
}

/// The variable that sets `path` (`grpc.concurrency_limit` -> `IDIC_GRPC__CONCURRENCY_LIMIT`).
fn env_name(path: &str) -> String {
    format!("IDIC_{}", path.replace('.', "__").to_ascii_uppercase())
}

/// Every key (tables and values) of the configuration `C`, dotted.
pub(crate) fn known_keys<C: Serialize + Default>() -> Vec<String> {
    let defaults = Figment::from(Serialized::defaults(C::default()));
    let mut keys = Vec::new();
    if let Ok(dict) = defaults.extract::<Dict>() {
        collect_keys(&dict, "", &mut keys);
    }
    keys
}

fn collect_keys(dict: &Dict, prefix: &str, keys: &mut Vec<String>) {
    for (name, value) in dict {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if let Value::Dict(_, inner) = value {
            collect_keys(inner, &key, keys);
        }
        keys.push(key);
    }
}

/// ` (did you mean 'x'?)` when a candidate is close to `given`, else nothing.
pub(crate) fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    closest(given, candidates)
        .map(|candidate| format!(" (did you mean '{candidate}'?)"))
        .unwrap_or_default()
}

/// The candidate most like `given`, if any is close enough to be a likely typo.
fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(given, candidate), candidate))
        .filter(|(similarity, _)| *similarity >= 0.85)
        .max_by(|first, second| first.0.total_cmp(&second.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Serialize, serde::Deserialize)]
    struct Settings {
        listen: String,
        grpc: Grpc,
        api_key: Option<String>,
    }

    #[derive(Default, Serialize, serde::Deserialize)]
    struct Grpc {
        concurrency_limit: u32,
    }

    #[test]
    fn known_keys_include_unset_options_and_tables() {
        let mut keys = known_keys::<Settings>();
        keys.sort();
        assert_eq!(
            keys,
            ["api_key", "grpc", "grpc.concurrency_limit", "listen"].map(String::from)
        );
    }

    #[test]
    fn the_closest_key_is_suggested_only_when_close() {
        let known = ["grpc.concurrency_limit", "listen"];
        assert_eq!(
            did_you_mean("grpc.concurency_limit", known),
            " (did you mean 'grpc.concurrency_limit'?)"
        );
        assert_eq!(did_you_mean("database", known), "");
    }
}
