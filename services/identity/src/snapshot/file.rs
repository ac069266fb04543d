//! One snapshot file: what it covers (a header), the engine image (postcard) and a
//! trailer with a CRC-32 of everything before it. Written to a temporary name, synced,
//! then renamed, so a crash leaves either the old file or the new one whole; read back
//! only when the magic, the format version, the length and the checksum all agree.
//!
//! Layout: `IDICSNAP` | format version (u32 LE) | header length (u32 LE) | header
//! (postcard) | payload (postcard) | payload length (u64 LE) | CRC-32 (u32 LE).

use std::fs::File;
use std::io::{BufWriter, Read as _, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"IDICSNAP";

/// Raised whenever the header or the engine image changes shape: an older file is then
/// refused and the engine rebuilt from the tables.
pub const FORMAT_VERSION: u32 = 1;

const TRAILER: usize = 12;

/// What a snapshot covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The database's instance id (`identity_generation`): a snapshot of another
    /// database is never loaded.
    pub instance: String,
    pub position: Position,
    /// Microseconds since the epoch.
    pub taken_at: i64,
    pub records: u64,
    pub customers: u64,
}

/// Where in the database's history the engine image stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Position {
    /// Embedded: the change counter every commit raises, in the same transaction.
    Changes(u64),
    /// Replicas on PostgreSQL: the last change log entry the engine holds.
    Log(u64),
}

/// A [`Write`] that keeps the CRC-32 and the length of what went through it.
struct Summed<W> {
    inner: W,
    crc: crc32fast::Hasher,
    length: u64,
}

impl<W: Write> Write for Summed<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.crc.update(&bytes[..written]);
        self.length += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A snapshot being written under a temporary name in its directory.
pub struct Draft {
    path: PathBuf,
    out: Summed<BufWriter<File>>,
    payload_start: u64,
}

impl Draft {
    /// Creates the temporary file and writes the header.
    pub fn create(dir: &Path, header: &Header) -> anyhow::Result<Draft> {
        let path = dir.join(format!(
            ".identity-{}.snap.tmp",
            uuid::Uuid::new_v4().simple()
        ));
        let file = File::create(&path)
            .with_context(|| format!("creating the snapshot file {}", path.display()))?;
        let mut out = Summed {
            inner: BufWriter::with_capacity(1 << 20, file),
            crc: crc32fast::Hasher::new(),
            length: 0,
        };
        let header_bytes = postcard::to_allocvec(header)?;
        out.write_all(MAGIC)?;
        out.write_all(&FORMAT_VERSION.to_le_bytes())?;
        out.write_all(&(header_bytes.len() as u32).to_le_bytes())?;
        out.write_all(&header_bytes)?;
        let payload_start = out.length;
        Ok(Draft {
            path,
            out,
            payload_start,
        })
    }

    /// Where the payload goes (postcard's `to_io`).
    pub fn payload(&mut self) -> &mut impl Write {
        &mut self.out
    }

    /// Writes the trailer and syncs the file; the caller then publishes or discards it.
    pub fn finish(mut self) -> anyhow::Result<Finished> {
        let payload_length = self.out.length - self.payload_start;
        self.out.write_all(&payload_length.to_le_bytes())?;
        let crc = self.out.crc.clone().finalize();
        let mut file = self
            .out
            .inner
            .into_inner()
            .map_err(|error| error.into_error())?;
        file.write_all(&crc.to_le_bytes())?;
        file.sync_all()?;
        Ok(Finished {
            path: self.path,
            bytes: self.out.length + 4,
        })
    }

    /// Removes the unfinished file (overwritten first: it may hold personal data).
    pub fn discard(self) {
        let path = self.path.clone();
        drop(self);
        shred(&path);
    }
}

/// A complete snapshot under its temporary name.
pub struct Finished {
    path: PathBuf,
    pub bytes: u64,
}

impl Finished {
    /// Gives the file its final name, atomically, and syncs the directory so the name
    /// survives a crash.
    pub fn publish(self, target: &Path) -> anyhow::Result<()> {
        std::fs::rename(&self.path, target)
            .with_context(|| format!("renaming the snapshot to {}", target.display()))?;
        if let Some(dir) = target.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    pub fn discard(self) {
        shred(&self.path);
    }
}

/// A snapshot read back whole and checked: its header and its payload's bytes.
pub struct Loaded {
    pub header: Header,
    bytes: Vec<u8>,
    payload: std::ops::Range<usize>,
}

impl Loaded {
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.payload.clone()]
    }
}

/// Reads and checks a snapshot file; an error says why it cannot be trusted.
pub fn read(path: &Path) -> anyhow::Result<Loaded> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    check(bytes)
}

fn check(bytes: Vec<u8>) -> anyhow::Result<Loaded> {
    ensure!(
        bytes.len() >= MAGIC.len() + 8 + TRAILER,
        "too short to be a snapshot ({} bytes)",
        bytes.len()
    );
    ensure!(&bytes[..8] == MAGIC, "not an identity snapshot");
    let version = u32::from_le_bytes(bytes[8..12].try_into()?);
    if version != FORMAT_VERSION {
        bail!("snapshot format {version}, this build reads {FORMAT_VERSION}");
    }
    let end = bytes.len() - TRAILER;
    let crc = u32::from_le_bytes(bytes[end + 8..].try_into()?);
    ensure!(
        crc32fast::hash(&bytes[..end + 8]) == crc,
        "checksum mismatch (torn or damaged file)"
    );
    let header_length = u32::from_le_bytes(bytes[12..16].try_into()?) as usize;
    let payload_start = 16usize
        .checked_add(header_length)
        .filter(|start| *start <= end)
        .context("header longer than the file")?;
    let header: Header = postcard::from_bytes(&bytes[16..payload_start])?;
    let payload_length = u64::from_le_bytes(bytes[end..end + 8].try_into()?);
    ensure!(
        payload_length == (end - payload_start) as u64,
        "payload length mismatch"
    );
    Ok(Loaded {
        header,
        bytes,
        payload: payload_start..end,
    })
}

/// Overwrites a file with zeros, syncs it and removes it: a deleted snapshot should
/// not leave personal data in the blocks it used. (On copy-on-write file systems and
/// some SSDs the old blocks may survive the overwrite; disk encryption covers those.)
pub fn shred(path: &Path) {
    let overwrite = || -> std::io::Result<()> {
        let length = std::fs::metadata(path)?.len();
        let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
        let zeros = vec![0u8; 1 << 20];
        let mut left = length;
        while left > 0 {
            let chunk = left.min(zeros.len() as u64) as usize;
            file.write_all(&zeros[..chunk])?;
            left -= chunk as u64;
        }
        file.sync_all()
    };
    if let Err(error) = overwrite()
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%error, path = %path.display(), "overwriting a snapshot file failed");
    }
    if let Err(error) = std::fs::remove_file(path)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%error, path = %path.display(), "removing a snapshot file failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            instance: "db-1".to_owned(),
            position: Position::Log(42),
            taken_at: 7,
            records: 2,
            customers: 1,
        }
    }

    fn written(dir: &Path, payload: &[u8]) -> PathBuf {
        let mut draft = Draft::create(dir, &header()).unwrap();
        draft.payload().write_all(payload).unwrap();
        let target = dir.join("identity.snap");
        draft.finish().unwrap().publish(&target).unwrap();
        target
    }

    #[test]
    fn a_snapshot_reads_back_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), b"the engine image");
        let loaded = read(&path).unwrap();
        assert_eq!(loaded.header, header());
        assert_eq!(loaded.payload(), b"the engine image");
        let good = std::fs::read(&path).unwrap();
        // Torn (cut short), one byte flipped, another format version, another file.
        let mut cases = vec![good[..good.len() - 5].to_vec()];
        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 0x40;
        cases.push(flipped);
        let mut newer = good.clone();
        newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        cases.push(newer);
        cases.push(b"SQLite format 3\0 and more bytes here".to_vec());
        for case in cases {
            std::fs::write(&path, &case).unwrap();
            assert!(read(&path).is_err());
        }
        assert!(
            std::fs::read_dir(dir.path()).unwrap().count() == 1,
            "no temporary file left"
        );
    }

    #[test]
    fn shredding_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), b"ann@example.com");
        shred(&path);
        assert!(!path.exists());
        shred(&path);
    }
}
