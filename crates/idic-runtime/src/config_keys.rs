//! Unknown configuration keys: a misspelled key would otherwise be ignored and its
//! default used without a word. Keys from the TOML file are refused; `IDIC_` variables
//! are warnings (see [`crate::config::Config::load`] for why), each naming the closest
//! valid key.

use std::path::Path;

use figment::providers::Serialized;
use figment::value::{Dict, Value};
use figment::{Figment, Source};

use crate::config::{Config, ConfigError};

/// Refuses unknown keys set in `file`; returns one warning per unknown `IDIC_` variable.
pub(crate) fn check_unknown_keys(
    figment: &Figment,
    file: Option<&Path>,
) -> Result<Vec<String>, ConfigError> {
    let known = known_keys();
    let mut warnings = Vec::new();
    for path in ignored_paths(figment) {
        let origin = figment.find_metadata(&metadata_key(figment, &path));
        let from_file =
            origin.is_some_and(|metadata| matches!(metadata.source, Some(Source::File(_))));
        if from_file || origin.is_none() {
            let file = file.map_or_else(
                || "the configuration".to_owned(),
                |file| file.display().to_string(),
            );
            return Err(ConfigError(format!(
                "{file}: unknown key '{path}'{}",
                did_you_mean(&path, known.iter().map(String::as_str))
            )));
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

/// The keys the merged configuration holds that `Config` does not read.
fn ignored_paths(figment: &Figment) -> Vec<String> {
    let mut ignored = Vec::new();
    let Ok(merged) = figment.extract::<Value>() else {
        return ignored;
    };
    // Errors are reported by the typed extraction; only the ignored keys matter here.
    let _: Result<Config, _> =
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

/// Every key (tables and values) of the configuration, dotted.
fn known_keys() -> Vec<String> {
    let defaults = Figment::from(Serialized::defaults(Config::default()));
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
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_include_unset_options_and_tables() {
        let keys = known_keys();
        for key in [
            "customization",
            "grpc.concurrency_limit",
            "grpc.tls_client_ca_file",
            "peers.api_key",
            "database_url",
        ] {
            assert!(keys.iter().any(|known| known == key), "{key} in {keys:?}");
        }
    }

    #[test]
    fn a_misspelled_key_in_the_file_is_refused_with_the_closest_one() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "idic.toml",
                r#"
                [customisation]
                cache_ttl_ms = 5
                "#,
            )?;
            let error = Config::load(Some(Path::new("idic.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("unknown key 'customisation'"), "{error}");
            assert!(error.contains("did you mean 'customization'"), "{error}");
            jail.create_file(
                "idic.toml",
                r#"
                [[auth.keys]]
                client = "orders"
                kye = "0123456789abcdef0123"
                key = "0123456789abcdef0124"
                scopes = ["customization:read"]
                "#,
            )?;
            let error = Config::load(Some(Path::new("idic.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("auth.keys.0.kye"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_misspelled_variable_is_a_warning_naming_the_closest_one() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("IDIC_GRPC__CONCURENCY_LIMIT", "9");
            jail.set_env("IDIC_TEST_DATABASE_URL", "postgres://elsewhere/test");
            jail.set_env("IDIC_SERVER", "http://127.0.0.1:1");
            jail.set_env("IDIC_LOG_FILTER", "debug");
            jail.set_env("IDIC_FEBRL_DIR", "/var/cache/febrl");
            let config = Config::load(None).expect("variables only warn");
            assert_eq!(config.grpc.concurrency_limit, 1024, "the default stays");
            assert_eq!(config.load_warnings.len(), 1, "{:?}", config.load_warnings);
            let warning = &config.load_warnings[0];
            assert!(warning.contains("IDIC_GRPC__CONCURENCY_LIMIT"), "{warning}");
            assert!(
                warning.contains("did you mean 'IDIC_GRPC__CONCURRENCY_LIMIT'"),
                "{warning}"
            );
            Ok(())
        });
    }
}
