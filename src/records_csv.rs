//! The CSV format of source records that `idic import records` reads: one record per
//! row, the columns named in the README, empty cells missing. Shared by the command
//! line and the benchmarks, so that both load data the same way.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use idic_proto::v1 as pb;

/// A CSV file of source records.
pub struct RecordCsv<R: std::io::Read> {
    reader: csv::Reader<R>,
    columns: Columns,
    row: csv::StringRecord,
    /// What the last row had that the wire record cannot carry (an unknown channel).
    warnings: Vec<pb::FieldWarning>,
}

impl RecordCsv<std::fs::File> {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let reader =
            csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
        RecordCsv::new(reader)
    }
}

impl<R: std::io::Read> RecordCsv<R> {
    pub fn from_reader(input: R) -> anyhow::Result<Self> {
        RecordCsv::new(csv::Reader::from_reader(input))
    }

    fn new(mut reader: csv::Reader<R>) -> anyhow::Result<Self> {
        let columns = Columns::new(reader.headers()?)?;
        Ok(RecordCsv {
            reader,
            columns,
            row: csv::StringRecord::new(),
            warnings: Vec::new(),
        })
    }

    /// The next row as a source record, or `None` at the end.
    pub fn next_record(&mut self) -> anyhow::Result<Option<pb::SourceRecord>> {
        self.warnings.clear();
        if !self.reader.read_record(&mut self.row)? {
            return Ok(None);
        }
        Ok(Some(self.columns.record(&self.row, &mut self.warnings)))
    }

    /// The warnings of the row `next_record` returned last: cells that the record
    /// leaves out because they could not be read (the row is still a record).
    pub fn row_warnings(&self) -> &[pb::FieldWarning] {
        &self.warnings
    }
}

/// The column layout of an import file.
struct Columns {
    index: HashMap<String, usize>,
    identifiers: Vec<(usize, pb::IdentifierKind, String)>,
}

impl Columns {
    fn new(headers: &csv::StringRecord) -> anyhow::Result<Columns> {
        let index: HashMap<String, usize> = headers
            .iter()
            .enumerate()
            .map(|(i, name)| (name.trim().to_owned(), i))
            .collect();
        for required in ["source_system", "source_record_id"] {
            anyhow::ensure!(
                index.contains_key(required),
                "the CSV has no '{required}' column"
            );
        }
        let identifiers = headers
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let kind = name.trim().strip_prefix("id:")?;
                Some(match kind {
                    "loyalty" => (i, pb::IdentifierKind::LoyaltyId, String::new()),
                    "account" => (i, pb::IdentifierKind::AccountCode, String::new()),
                    "device" => (i, pb::IdentifierKind::DeviceId, String::new()),
                    "national" => (i, pb::IdentifierKind::NationalId, String::new()),
                    "email" => (i, pb::IdentifierKind::Email, String::new()),
                    "phone" => (i, pb::IdentifierKind::Phone, String::new()),
                    system => (i, pb::IdentifierKind::ExternalId, system.to_owned()),
                })
            })
            .collect();
        Ok(Columns { index, identifiers })
    }

    fn get<'a>(&self, row: &'a csv::StringRecord, name: &str) -> &'a str {
        self.index
            .get(name)
            .and_then(|i| row.get(*i))
            .unwrap_or("")
            .trim()
    }

    fn record(
        &self,
        row: &csv::StringRecord,
        warnings: &mut Vec<pb::FieldWarning>,
    ) -> pb::SourceRecord {
        let text = |name: &str| self.get(row, name).to_owned();
        let list = |name: &str| {
            let value = self.get(row, name);
            if value.is_empty() {
                Vec::new()
            } else {
                vec![value.to_owned()]
            }
        };
        let address = pb::PostalAddress {
            street_number: text("street_number"),
            street: text("street"),
            address_line2: text("address_line2"),
            locality: text("locality"),
            postcode: text("postcode"),
            region: text("region"),
            country: text("country"),
        };
        let has_address = address != pb::PostalAddress::default();
        let channel_name = self.get(row, "channel");
        let channel = parse_channel(channel_name).unwrap_or_else(|| {
            warnings.push(pb::FieldWarning {
                field: "channel".to_owned(),
                reason: format!("is not a known channel; the valid ones are {CHANNEL_NAMES}"),
                value: channel_name.to_owned(),
            });
            pb::Channel::Unspecified
        });
        pb::SourceRecord {
            source_system: text("source_system"),
            source_record_id: text("source_record_id"),
            channel: channel as i32,
            name: Some(pb::PersonName {
                prefix: String::new(),
                given: text("given_name"),
                middle: text("middle_name"),
                family: text("family_name"),
                suffix: String::new(),
            }),
            organization_name: text("organization_name"),
            date_of_birth: text("date_of_birth"),
            emails: list("email"),
            phones: list("phone"),
            addresses: if has_address {
                vec![address]
            } else {
                Vec::new()
            },
            identifiers: self
                .identifiers
                .iter()
                .filter_map(|(i, kind, system)| {
                    let value = row.get(*i)?.trim();
                    (!value.is_empty()).then(|| pb::Identifier {
                        kind: *kind as i32,
                        value: value.to_owned(),
                        system: system.clone(),
                        address: None,
                    })
                })
                .collect(),
            attributes: Default::default(),
            observed_at: None,
        }
    }
}

/// The channel names a CSV cell may hold (with their aliases, any case, `-` or ` `
/// for `_`), as a warning lists them.
pub const CHANNEL_NAMES: &str = "call_center, web, email, store, mobile_app, partner, mail";

/// The channel named in a CSV cell: an empty cell is "unspecified", an unknown name is
/// `None`.
pub fn parse_channel(name: &str) -> Option<pb::Channel> {
    Some(
        match name
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "call_center" | "callcenter" | "phone" => pb::Channel::CallCenter,
            "web" | "website" => pb::Channel::Web,
            "email" | "e_mail" => pb::Channel::Email,
            "store" | "pos" => pb::Channel::Store,
            "mobile_app" | "app" | "mobile" => pb::Channel::MobileApp,
            "partner" | "intermediary" => pb::Channel::Partner,
            "mail" | "post" => pb::Channel::Mail,
            "" | "unspecified" => pb::Channel::Unspecified,
            _ => return None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_records_with_identifier_columns() {
        let data = "source_system,source_record_id,channel,given_name,family_name,email,street,postcode,id:loyalty,id:sap\n\
                    crm,1,call_center,Ann,Lee,ann@example.com,High St,62704,L-1,S-9\n\
                    crm,2,web,Bob,,,,,,\n";
        let mut csv = RecordCsv::from_reader(data.as_bytes()).unwrap();
        let first = csv.next_record().unwrap().unwrap();
        assert_eq!(first.channel, pb::Channel::CallCenter as i32);
        assert_eq!(first.emails, ["ann@example.com"]);
        assert_eq!(first.addresses[0].postcode, "62704");
        assert_eq!(first.identifiers.len(), 2);
        assert_eq!(
            first.identifiers[1].kind,
            pb::IdentifierKind::ExternalId as i32
        );
        assert_eq!(first.identifiers[1].system, "sap");
        let second = csv.next_record().unwrap().unwrap();
        assert!(
            second.emails.is_empty()
                && second.addresses.is_empty()
                && second.identifiers.is_empty()
        );
        assert!(csv.next_record().unwrap().is_none());
    }

    #[test]
    fn an_unknown_channel_is_a_warning_naming_the_valid_ones_and_the_row_is_kept() {
        let data = "source_system,source_record_id,channel,given_name\n\
                    crm,1,fax,Ann\n\
                    crm,2,,Bob\n\
                    crm,3,Call Center,Cy\n";
        let mut csv = RecordCsv::from_reader(data.as_bytes()).unwrap();
        let fax = csv.next_record().unwrap().unwrap();
        assert_eq!(fax.source_record_id, "1");
        assert_eq!(fax.channel, pb::Channel::Unspecified as i32);
        let warnings = csv.row_warnings();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].field, "channel");
        assert_eq!(warnings[0].value, "fax");
        assert!(
            warnings[0].reason.contains("call_center, web, email"),
            "{}",
            warnings[0].reason
        );
        // An empty cell is a missing value, not a mistake.
        csv.next_record().unwrap().unwrap();
        assert!(csv.row_warnings().is_empty());
        let known = csv.next_record().unwrap().unwrap();
        assert_eq!(known.channel, pb::Channel::CallCenter as i32);
        assert!(csv.row_warnings().is_empty());
    }

    #[test]
    fn a_file_without_keys_is_refused() {
        assert!(RecordCsv::from_reader("given_name\nAnn\n".as_bytes()).is_err());
    }

    #[test]
    fn the_import_reader_accepts_every_record() {
        use idic_datagen::generator::{GeneratorConfig, generate_with_summary, write_records_csv};

        // The generator's records, as `idic-generate` and `idic demo` write them.
        let generated = generate_with_summary(&GeneratorConfig::new(3_000, 11));
        let records = &generated.records;
        let mut bytes = Vec::new();
        write_records_csv(records, &mut bytes).expect("writing to memory");
        let mut reader = RecordCsv::from_reader(bytes.as_slice()).expect("header accepted");
        for record in records {
            let imported = reader
                .next_record()
                .expect("row parses")
                .expect("one row per record");
            assert_eq!(imported.source_system, record.source_system);
            assert_eq!(imported.source_record_id, record.source_record_id);
            assert_ne!(
                imported.channel,
                pb::Channel::Unspecified as i32,
                "{}",
                record.channel
            );
            let identifiers = [
                &record.loyalty_id,
                &record.account_code,
                &record.national_id,
                &record.device_id,
            ];
            let expected = identifiers.iter().filter(|value| !value.is_empty()).count();
            assert_eq!(imported.identifiers.len(), expected);
            assert!(
                imported
                    .identifiers
                    .iter()
                    .all(|id| id.kind != pb::IdentifierKind::ExternalId as i32)
            );
        }
        assert!(reader.next_record().expect("end of file").is_none());
    }
}
