//! Identifiers (loyalty, account, device, national, external ids) in comparable form.

use crate::record::{IdKind, NormalizedIdentifier, RawIdentifier};

/// Why an identifier cannot be used, by the part of it that is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum IdentifierError {
    Value(&'static str),
    System(&'static str),
}

/// The comparable form of an identifier. Codes that people copy by hand (loyalty,
/// account, national, external) are trimmed, upper-cased and lose spaces and dashes,
/// since "ab-12 34" and "AB1234" are the same card; device ids are machine-made and
/// only trimmed and lower-cased. The system is trimmed and lower-cased. An external id
/// must name its system.
pub(super) fn normalize_identifier(
    raw: &RawIdentifier,
) -> Result<NormalizedIdentifier, Vec<IdentifierError>> {
    let mut errors = Vec::new();
    let system = raw.system.trim().to_lowercase();
    if raw.kind == IdKind::External && system.is_empty() {
        errors.push(IdentifierError::System(
            "is required for an external identifier: name the system that issued it",
        ));
    }
    let value = match raw.kind {
        IdKind::Device => raw.value.trim().to_lowercase(),
        IdKind::Loyalty | IdKind::Account | IdKind::National | IdKind::External => raw
            .value
            .chars()
            .filter(|ch| !ch.is_whitespace() && *ch != '-')
            .flat_map(char::to_uppercase)
            .collect(),
    };
    if value.is_empty() {
        errors.push(IdentifierError::Value(
            "is empty: give the identifier's value",
        ));
    }
    if errors.is_empty() {
        Ok(NormalizedIdentifier {
            kind: raw.kind,
            system: system.into(),
            value: value.into(),
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: IdKind, system: &str, value: &str) -> RawIdentifier {
        RawIdentifier {
            kind,
            system: system.to_owned(),
            value: value.to_owned(),
        }
    }

    #[test]
    fn codes_lose_spaces_and_dashes_and_are_upper_cased() {
        let normalized = normalize_identifier(&raw(IdKind::Loyalty, "", " ab-12 34\t")).unwrap();
        assert_eq!(
            normalized,
            NormalizedIdentifier {
                kind: IdKind::Loyalty,
                system: Default::default(),
                value: "AB1234".into()
            }
        );
        assert_eq!(
            normalize_identifier(&raw(IdKind::Account, "", "acc-001"))
                .unwrap()
                .value,
            "ACC001"
        );
        assert_eq!(
            normalize_identifier(&raw(IdKind::National, "", "123-45-6789"))
                .unwrap()
                .value,
            "123456789"
        );
    }

    #[test]
    fn device_ids_are_only_trimmed_and_lower_cased() {
        let normalized =
            normalize_identifier(&raw(IdKind::Device, "", "  3F2504E0-4F89-11D3 ")).unwrap();
        assert_eq!(normalized.value, "3f2504e0-4f89-11d3");
    }

    #[test]
    fn external_ids_need_a_system() {
        let normalized = normalize_identifier(&raw(IdKind::External, " Shopify ", "c-42")).unwrap();
        assert_eq!(
            normalized,
            NormalizedIdentifier {
                kind: IdKind::External,
                system: "shopify".into(),
                value: "C42".into()
            }
        );
        let errors = normalize_identifier(&raw(IdKind::External, " ", "c-42")).unwrap_err();
        assert!(matches!(errors.as_slice(), [IdentifierError::System(_)]));
    }

    #[test]
    fn empty_values_are_errors() {
        assert!(matches!(
            normalize_identifier(&raw(IdKind::Loyalty, "", " - "))
                .unwrap_err()
                .as_slice(),
            [IdentifierError::Value(_)]
        ));
        assert!(matches!(
            normalize_identifier(&raw(IdKind::External, "", ""))
                .unwrap_err()
                .as_slice(),
            [IdentifierError::System(_), IdentifierError::Value(_)]
        ));
    }
}
