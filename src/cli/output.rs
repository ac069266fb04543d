//! Standard output of the client commands that print a stream of rows (exports,
//! timelines, listings). They write through [`stdout`] and return write errors instead
//! of panicking, so that a reader that stops early (`idic export clusters | head`)
//! ends the command quietly: [`ignore_broken_pipe`] turns that one error into success.

use std::io::{self, BufWriter, StdoutLock};

/// Buffered, locked standard output. Flush it before returning so that the last rows
/// and any write error reach the caller.
pub fn stdout() -> BufWriter<StdoutLock<'static>> {
    BufWriter::new(io::stdout().lock())
}

/// `Ok` when the command failed only because its reader closed the pipe.
pub fn ignore_broken_pipe(result: anyhow::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(error) if is_broken_pipe(&error) => Ok(()),
        other => other,
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let io_kind = cause
            .downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .or_else(|| match cause.downcast_ref::<csv::Error>()?.kind() {
                csv::ErrorKind::Io(error) => Some(error.kind()),
                _ => None,
            });
        io_kind == Some(io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_pipe_is_quiet() {
        let closed = || io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(ignore_broken_pipe(Err(closed().into())).is_ok());
        let through_csv = csv::Error::from(closed());
        assert!(ignore_broken_pipe(Err(anyhow::Error::new(through_csv).context("row"))).is_ok());
        let full = io::Error::from(io::ErrorKind::StorageFull);
        assert!(ignore_broken_pipe(Err(full.into())).is_err());
        assert!(ignore_broken_pipe(Err(anyhow::anyhow!("unavailable"))).is_err());
    }
}
