//! The TFRecord framing of an event file: each record is its length, the length's masked
//! CRC32C, the bytes, and their masked CRC32C (TensorFlow's `record_writer`).

/// TensorFlow's masked CRC32C: the CRC rotated right by 15 bits plus a constant, so that a
/// CRC of data that hold CRCs is not itself a plain CRC.
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Appends one record holding `data` to `out`: `u64` little-endian length, masked CRC32C of
/// those 8 bytes (`u32` LE), the data, masked CRC32C of the data (`u32` LE).
pub fn append_record(out: &mut Vec<u8>, data: &[u8]) {
    let length = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&length);
    out.extend_from_slice(&masked_crc32c(&length).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    // The expected values come from TensorBoard 2.21's own pure-Python implementation
    // (`tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c` and
    // `tensorboard.summary.writer.record_writer.RecordWriter`).

    #[test]
    fn crc32c_of_the_check_string_is_the_standard_check_value() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn masked_crc32c_equals_tensorboards_for_known_bytes() {
        assert_eq!(masked_crc32c(b"123456789"), 0xc78a_b0e5);
        assert_eq!(masked_crc32c(b""), 0xa282_ead8);
        assert_eq!(masked_crc32c(&5u64.to_le_bytes()), 0x3e04_b2ea);
    }

    #[test]
    fn a_record_is_byte_for_byte_the_one_tensorboards_record_writer_writes() {
        let mut out = Vec::new();
        append_record(&mut out, b"hello");
        let tensorboard: [u8; 21] = [
            5, 0, 0, 0, 0, 0, 0, 0, 234, 178, 4, 62, 104, 101, 108, 108, 111, 187, 31, 28, 25,
        ];
        assert_eq!(out, tensorboard);
    }
}
