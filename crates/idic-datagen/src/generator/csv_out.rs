//! The record file (what the import reads) and the truth file (what scoring
//! reads), kept apart so that the truth never leaks into the data under test.

use std::fmt::Write as _;
use std::io;

use super::GeneratedRecord;

/// Header of the record file, in column order. A contract with
/// `idic import records FILE.csv`.
pub const RECORD_COLUMNS: [&str; 21] = [
    "source_system",
    "source_record_id",
    "channel",
    "given_name",
    "middle_name",
    "family_name",
    "organization_name",
    "date_of_birth",
    "email",
    "phone",
    "street_number",
    "street",
    "address_line2",
    "locality",
    "postcode",
    "region",
    "country",
    "id:loyalty",
    "id:account",
    "id:national",
    "id:device",
];

/// Header of the truth file.
pub const TRUTH_COLUMNS: [&str; 3] = ["source_system", "source_record_id", "entity_id"];

/// Writes the records as CSV with a header; empty cells are missing values.
pub fn write_records_csv<W: io::Write>(records: &[GeneratedRecord], out: W) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(RECORD_COLUMNS)?;
    for record in records {
        writer.write_record([
            record.source_system.as_str(),
            &record.source_record_id,
            record.channel,
            &record.given_name,
            &record.middle_name,
            &record.family_name,
            &record.organization_name,
            &record.date_of_birth,
            &record.email,
            &record.phone,
            &record.street_number,
            &record.street,
            &record.address_line2,
            &record.locality,
            &record.postcode,
            &record.region,
            &record.country,
            &record.loyalty_id,
            &record.account_code,
            &record.national_id,
            &record.device_id,
        ])?;
    }
    writer.flush()
}

/// Writes `source_system,source_record_id,entity_id` for every record.
pub fn write_truth_csv<W: io::Write>(records: &[GeneratedRecord], out: W) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(TRUTH_COLUMNS)?;
    let mut entity_id = String::new();
    for record in records {
        entity_id.clear();
        write!(entity_id, "{}", record.entity_id).expect("writing to a String cannot fail");
        writer.write_record([
            record.source_system.as_str(),
            &record.source_record_id,
            &entity_id,
        ])?;
    }
    writer.flush()
}

/// Reads a truth file back as `("{source_system}/{source_record_id}", entity_id)`,
/// the truth side of [`pairwise_scores`](super::pairwise_scores).
pub fn read_truth_csv<R: io::Read>(input: R) -> io::Result<Vec<(String, u64)>> {
    let mut reader = csv::Reader::from_reader(input);
    let header = reader.headers()?;
    if header.iter().ne(TRUTH_COLUMNS) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("truth file header is {header:?}, expected {TRUTH_COLUMNS:?}"),
        ));
    }
    let mut truth = Vec::new();
    for row in reader.records() {
        let row = row?;
        let entity_id = row[2].parse::<u64>().map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad entity_id {:?}: {error}", &row[2]),
            )
        })?;
        truth.push((format!("{}/{}", &row[0], &row[1]), entity_id));
    }
    Ok(truth)
}
