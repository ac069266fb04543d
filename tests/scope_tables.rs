//! Every service's scope table (`METHODS`) names exactly the RPCs its contract declares.
//!
//! An RPC missing from a table is refused to every key but an admin's, silently; a name
//! left in a table after an RPC is renamed grants nothing. Both are caught here, from the
//! compiled contracts themselves rather than from a list kept by hand.

use std::collections::BTreeSet;

use idic_runtime::auth::Access;
use prost::Message;
use prost_types::FileDescriptorSet;

fn contract_methods(service: &str) -> BTreeSet<String> {
    let set = FileDescriptorSet::decode(idic_proto::FILE_DESCRIPTOR_SET)
        .expect("the compiled contracts decode");
    let found: Vec<BTreeSet<String>> = set
        .file
        .iter()
        .filter(|file| file.package() == "idic.v1")
        .flat_map(|file| file.service.iter())
        .filter(|declared| declared.name() == service)
        .map(|declared| {
            declared
                .method
                .iter()
                .map(|m| m.name().to_owned())
                .collect()
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one idic.v1.{service} in the contracts"
    );
    found.into_iter().next().unwrap_or_default()
}

fn table_methods(table: &[(&str, Access)]) -> BTreeSet<String> {
    let names: BTreeSet<String> = table.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_eq!(names.len(), table.len(), "a method is listed twice");
    names
}

fn assert_matches(service: &str, table: &[(&str, Access)]) {
    let declared = contract_methods(service);
    let listed = table_methods(table);
    let missing: Vec<_> = declared.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&declared).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "{service}: RPCs without a scope {missing:?}; scopes for no RPC {stale:?}"
    );
}

#[test]
fn identity_scopes_cover_its_contract() {
    assert_matches("IdentityService", idic_identity::METHODS);
}

#[test]
fn differentiation_scopes_cover_its_contract() {
    assert_matches("DifferentiationService", idic_differentiation::METHODS);
}

#[test]
fn interaction_scopes_cover_its_contract() {
    assert_matches("InteractionService", idic_interaction::METHODS);
}

#[test]
fn customization_scopes_cover_its_contract() {
    assert_matches("CustomizationService", idic_customization::METHODS);
}

#[test]
fn a_table_missing_an_rpc_or_naming_a_stale_one_is_caught() {
    let without_last = &idic_identity::METHODS[..idic_identity::METHODS.len() - 1];
    let missing = std::panic::catch_unwind(|| assert_matches("IdentityService", without_last));
    assert!(
        missing.is_err(),
        "a table without one RPC must fail the check"
    );

    let mut with_stale = idic_identity::METHODS.to_vec();
    with_stale.push(("NoSuchRpc", Access::Read));
    let stale = std::panic::catch_unwind(|| assert_matches("IdentityService", &with_stale));
    assert!(stale.is_err(), "a scope for no RPC must fail the check");
}
