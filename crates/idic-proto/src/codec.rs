//! The suite's protobuf codec: prost's, except that a message that cannot be decoded
//! is the sender's mistake (INVALID_ARGUMENT), not an internal error of the receiver.
//!
//! tonic's `ProstCodec` answers undecodable bytes (truncated varints, invalid UTF-8 in a
//! string, a wrong wire type) with INTERNAL. The generated servers and clients use this
//! codec instead (`codec_path` in `build.rs`), so every service answers the same way.
//! On the client side the same mapping applies to an undecodable response, which in
//! practice only a peer of another version or a broken proxy sends.

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// The longest decoder error echoed to the sender, in bytes.
const MAX_DECODE_ERROR_BYTES: usize = 200;

/// [`ProstCodec`] with undecodable messages answered INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct IdicCodec<T, U> {
    prost: ProstCodec<T, U>,
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for IdicCodec<T, U> {
    fn default() -> Self {
        IdicCodec {
            prost: ProstCodec::default(),
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for IdicCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = IdicDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.prost.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        IdicDecoder {
            prost: self.prost.decoder(),
        }
    }
}

/// Decodes with prost and reports a decode failure as the sender's mistake.
#[derive(Debug, Clone)]
pub struct IdicDecoder<U> {
    prost: ProstDecoder<U>,
}

impl<U: Message + Default> Decoder for IdicDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.prost.decode(buf).map_err(undecodable)
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.prost.buffer_settings()
    }
}

/// prost only fails on malformed bytes, which it reports as INTERNAL.
fn undecodable(status: Status) -> Status {
    if status.code() != Code::Internal {
        return status;
    }
    let mut reason = status.message().to_owned();
    if reason.len() > MAX_DECODE_ERROR_BYTES {
        let mut end = MAX_DECODE_ERROR_BYTES;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    Status::invalid_argument(format!("the message is not valid protobuf: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decode_failure_is_the_senders_mistake() {
        let status = undecodable(Status::internal(
            "failed to decode Protobuf message: buffer underflow",
        ));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("buffer underflow"));
        let other = undecodable(Status::out_of_range("too large"));
        assert_eq!(other.code(), Code::OutOfRange);
    }
}
