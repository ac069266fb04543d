//! Breaking-change check of `proto/` against the last released contracts
//! (`released/`), after buf's `WIRE_JSON` rules: a client generated from the released
//! files must keep working, in protobuf binary and in JSON, against the current server.
//!
//! Adding messages, fields, enum values, services and RPCs is allowed. Removing or
//! renumbering any of them, changing a field's type, cardinality, name (JSON) or oneof,
//! an enum value's name, or an RPC's types or streaming, is not, unless a removed
//! field's number and name (or a removed enum value's number) are `reserved`.

use std::collections::BTreeMap;
use std::path::Path;

use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet,
    MethodDescriptorProto, ServiceDescriptorProto,
};

const FILES: &[&str] = &[
    "idic/v1/common.proto",
    "idic/v1/identity.proto",
    "idic/v1/differentiation.proto",
    "idic/v1/interaction.proto",
    "idic/v1/customization.proto",
];

fn compile(root: &Path) -> FileDescriptorSet {
    protox::compile(FILES, [root]).unwrap_or_else(|error| panic!("{}: {error}", root.display()))
}

/// Every message, enum and service of the `idic.*` files, by fully qualified name.
#[derive(Default)]
struct Contracts {
    messages: BTreeMap<String, DescriptorProto>,
    enums: BTreeMap<String, EnumDescriptorProto>,
    services: BTreeMap<String, ServiceDescriptorProto>,
}

impl Contracts {
    fn of(set: &FileDescriptorSet) -> Self {
        let mut contracts = Contracts::default();
        for file in set.file.iter().filter(|f| f.package().starts_with("idic.")) {
            let package = file.package();
            for message in &file.message_type {
                contracts.add_message(package, message);
            }
            for enumeration in &file.enum_type {
                let name = format!("{package}.{}", enumeration.name());
                contracts.enums.insert(name, enumeration.clone());
            }
            for service in &file.service {
                let name = format!("{package}.{}", service.name());
                contracts.services.insert(name, service.clone());
            }
        }
        contracts
    }

    fn add_message(&mut self, scope: &str, message: &DescriptorProto) {
        let name = format!("{scope}.{}", message.name());
        for nested in &message.nested_type {
            self.add_message(&name, nested);
        }
        for enumeration in &message.enum_type {
            let enum_name = format!("{name}.{}", enumeration.name());
            self.enums.insert(enum_name, enumeration.clone());
        }
        self.messages.insert(name, message.clone());
    }
}

fn type_of(field: &FieldDescriptorProto) -> String {
    if field.type_name().is_empty() {
        format!("{:?}", field.r#type())
    } else {
        field.type_name().trim_start_matches('.').to_owned()
    }
}

/// The oneof a field belongs to; proto3 `optional` is a synthetic oneof, not a real one.
fn oneof_of(message: &DescriptorProto, field: &FieldDescriptorProto) -> Option<String> {
    field
        .oneof_index
        .filter(|_| !field.proto3_optional())
        .and_then(|index| message.oneof_decl.get(index as usize))
        .map(|oneof| oneof.name().to_owned())
}

fn removed_field_is_reserved(new: &DescriptorProto, old_field: &FieldDescriptorProto) -> bool {
    let number = old_field.number();
    let number_reserved = new
        .reserved_range
        .iter()
        .any(|range| range.start() <= number && number < range.end());
    let name_reserved = new
        .reserved_name
        .iter()
        .any(|name| name == old_field.name());
    number_reserved && name_reserved
}

fn field_problems(message: &str, old: &DescriptorProto, new: &DescriptorProto) -> Vec<String> {
    let mut problems = Vec::new();
    for old_field in &old.field {
        let number = old_field.number();
        let Some(new_field) = new.field.iter().find(|f| f.number() == number) else {
            if !removed_field_is_reserved(new, old_field) {
                problems.push(format!(
                    "{message}: field {} = {number} removed without reserving its number and name",
                    old_field.name()
                ));
            }
            continue;
        };
        let what = format!("{message}.{} (= {number})", old_field.name());
        if new_field.name() != old_field.name() {
            problems.push(format!(
                "{what}: renamed to {} (breaks JSON)",
                new_field.name()
            ));
        }
        if new_field.json_name() != old_field.json_name() {
            problems.push(format!(
                "{what}: JSON name changed to {}",
                new_field.json_name()
            ));
        }
        if type_of(new_field) != type_of(old_field) {
            problems.push(format!(
                "{what}: type changed from {} to {}",
                type_of(old_field),
                type_of(new_field)
            ));
        }
        if new_field.label() != old_field.label() {
            problems.push(format!("{what}: cardinality changed"));
        }
        if oneof_of(new, new_field) != oneof_of(old, old_field) {
            problems.push(format!("{what}: moved into or out of a oneof"));
        }
    }
    problems
}

fn enum_problems(name: &str, old: &EnumDescriptorProto, new: &EnumDescriptorProto) -> Vec<String> {
    // Enum reserved ranges are inclusive at both ends, unlike message ranges.
    let reserved = |number: i32| {
        new.reserved_range
            .iter()
            .any(|range| range.start() <= number && number <= range.end())
    };
    let mut problems = Vec::new();
    for old_value in &old.value {
        let number = old_value.number();
        match new.value.iter().find(|v| v.number() == number) {
            None if reserved(number) => {}
            None => problems.push(format!(
                "{name}: value {} = {number} removed without reserving it",
                old_value.name()
            )),
            Some(new_value) if new_value.name() != old_value.name() => problems.push(format!(
                "{name}: value {} renamed to {} (breaks JSON)",
                old_value.name(),
                new_value.name()
            )),
            Some(_) => {}
        }
    }
    problems
}

fn method_shape(method: &MethodDescriptorProto) -> (&str, &str, bool, bool) {
    (
        method.input_type(),
        method.output_type(),
        method.client_streaming(),
        method.server_streaming(),
    )
}

fn service_problems(
    name: &str,
    old: &ServiceDescriptorProto,
    new: &ServiceDescriptorProto,
) -> Vec<String> {
    let mut problems = Vec::new();
    for old_method in &old.method {
        let method = old_method.name();
        match new.method.iter().find(|m| m.name() == method) {
            None => problems.push(format!("{name}/{method} removed")),
            Some(new_method) if method_shape(new_method) != method_shape(old_method) => problems
                .push(format!(
                    "{name}/{method}: request, response or streaming changed"
                )),
            Some(_) => {}
        }
    }
    problems
}

/// Everything in `current` that breaks a client of `released`.
fn breaking_changes(released: &FileDescriptorSet, current: &FileDescriptorSet) -> Vec<String> {
    let old = Contracts::of(released);
    let new = Contracts::of(current);
    let mut problems = Vec::new();
    for (name, old_message) in &old.messages {
        match new.messages.get(name) {
            Some(new_message) => problems.extend(field_problems(name, old_message, new_message)),
            None => problems.push(format!("message {name} removed")),
        }
    }
    for (name, old_enum) in &old.enums {
        match new.enums.get(name) {
            Some(new_enum) => problems.extend(enum_problems(name, old_enum, new_enum)),
            None => problems.push(format!("enum {name} removed")),
        }
    }
    for (name, old_service) in &old.services {
        match new.services.get(name) {
            Some(new_service) => problems.extend(service_problems(name, old_service, new_service)),
            None => problems.push(format!("service {name} removed")),
        }
    }
    problems
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn current_contracts_keep_every_released_client_working() {
    let released = compile(&manifest_dir().join("released"));
    let current = compile(&manifest_dir().join("../../proto"));
    let problems = breaking_changes(&released, &current);
    assert!(
        problems.is_empty(),
        "proto/ breaks clients of the released contracts:\n  {}",
        problems.join("\n  ")
    );
}

/// Copies the released files to a scratch root with one text replacement in `file`.
fn released_with_edit(file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let released = manifest_dir().join("released/idic/v1");
    let scratch = tempfile::tempdir().expect("scratch dir");
    let target = scratch.path().join("idic/v1");
    std::fs::create_dir_all(&target).expect("scratch tree");
    for entry in std::fs::read_dir(&released).expect("released files") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, target.join(path.file_name().expect("name"))).expect("copy");
    }
    let edited = target.join(file);
    let text = std::fs::read_to_string(&edited).expect("read");
    assert!(text.contains(from), "{file} has no `{from}`");
    std::fs::write(&edited, text.replacen(from, to, 1)).expect("write");
    scratch
}

/// The check must catch what it claims to: each kind of breaking change, made to a
/// copy of the released files, is reported; additions and reserved removals are not.
#[test]
fn the_check_reports_each_kind_of_breaking_change() {
    let released = compile(&manifest_dir().join("released"));
    let postcode = "string postcode = 5;";
    let device = "IDENTIFIER_KIND_DEVICE_ID = 6;";
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        ("common.proto", postcode, "", Some("postcode = 5 removed")),
        (
            "common.proto",
            postcode,
            "int64 postcode = 5;",
            Some("type changed"),
        ),
        (
            "common.proto",
            postcode,
            "string post_code = 5;",
            Some("renamed"),
        ),
        (
            "common.proto",
            postcode,
            "repeated string postcode = 5;",
            Some("cardinality"),
        ),
        (
            "common.proto",
            device,
            "",
            Some("IDENTIFIER_KIND_DEVICE_ID = 6 removed"),
        ),
        (
            "common.proto",
            device,
            "IDENTIFIER_KIND_GADGET = 6;",
            Some("renamed"),
        ),
        (
            "identity.proto",
            "rpc Resolve(",
            "rpc Find(",
            Some("Resolve removed"),
        ),
        (
            "identity.proto",
            "ImportRecords(stream ImportRecordsRequest)",
            "ImportRecords(ImportRecordsRequest)",
            Some("streaming changed"),
        ),
        (
            "common.proto",
            postcode,
            "reserved 5; reserved \"postcode\";",
            None,
        ),
        (
            "common.proto",
            postcode,
            "string postcode = 5; string plus4 = 99;",
            None,
        ),
    ];
    for (file, from, to, expected) in cases {
        let scratch = released_with_edit(file, from, to);
        let problems = breaking_changes(&released, &compile(scratch.path()));
        match expected {
            None => assert!(problems.is_empty(), "`{to}` was reported: {problems:?}"),
            Some(expected) => assert!(
                problems.iter().any(|p| p.contains(expected)),
                "`{from}` -> `{to}` not reported as `{expected}`: {problems:?}"
            ),
        }
    }
}
