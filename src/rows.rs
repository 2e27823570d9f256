//! Rows of a file read with positioned reads (`pread`), for X kept in a `.npy` file.
//!
//! Reading a memory map of a file that another process cuts short touches a page past the
//! file's end and the kernel kills the process with SIGBUS, which nothing in Python can catch.
//! A positioned read of the same bytes comes back short instead, and the caller refuses it.

use std::fs::File;
use std::io;

/// What [`read_rows`] can meet: the file ended before a row did, or another I/O error.
#[derive(Debug)]
pub enum ReadError {
    /// The file holds only `size` bytes: it was cut short.
    Short {
        size: u64,
    },
    Io(io::Error),
}

/// Rows read in one go: sorted rows whose gaps are at most `GAP_BYTES` share one read of
/// everything between them (a read costs about as much as copying a few KiB), up to
/// `SPAN_BYTES` a read.
const GAP_BYTES: u64 = 16 << 10;
const SPAN_BYTES: u64 = 8 << 20;

/// Fewest bytes a thread of [`read_rows`] takes: below this, one thread reads them all.
const BYTES_PER_THREAD: usize = 1 << 20;

/// Reads the rows `index` (each `width` bytes, row `i` at `offset + i * width`) of `file` into
/// `out`, row after row in the order given, on up to `threads` threads (each reads a run of the
/// index). Increasing rows close together are read together (see [`GAP_BYTES`]).
pub fn read_rows(
    file: &File,
    offset: u64,
    width: usize,
    index: &[u64],
    out: &mut [u8],
    threads: usize,
) -> Result<(), ReadError> {
    assert_eq!(out.len(), index.len() * width, "out must hold every row");
    let threads = threads.clamp(1, 1 + out.len() / BYTES_PER_THREAD);
    if threads == 1 || width == 0 {
        return read_share(file, offset, width, index, out);
    }
    let per = index.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let jobs: Vec<_> = index
            .chunks(per)
            .zip(out.chunks_mut(per * width))
            .map(|(rows, part)| scope.spawn(move || read_share(file, offset, width, rows, part)))
            .collect();
        jobs.into_iter()
            .try_for_each(|job| job.join().expect("a row reader panicked"))
    })
}

fn read_share(
    file: &File,
    offset: u64,
    width: usize,
    index: &[u64],
    out: &mut [u8],
) -> Result<(), ReadError> {
    let w = width as u64;
    let place = |row: u64| {
        row.checked_mul(w)
            .and_then(|b| b.checked_add(offset))
            .ok_or_else(|| {
                ReadError::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "row offset overflows",
                ))
            })
    };
    let mut scratch = Vec::new();
    let mut start = 0;
    while start < index.len() {
        let first = index[start];
        let mut stop = start + 1;
        while stop < index.len()
            && index[stop] > index[stop - 1]
            && (index[stop] - index[stop - 1] - 1) * w <= GAP_BYTES
            && (index[stop] - first + 1) * w <= SPAN_BYTES
        {
            stop += 1;
        }
        let last = index[stop - 1];
        let at = place(first)?;
        if last - first == (stop - start - 1) as u64 {
            read_exactly(file, &mut out[start * width..stop * width], at)?;
        } else {
            scratch.resize(((last - first + 1) * w) as usize, 0);
            read_exactly(file, &mut scratch, at)?;
            for (k, &row) in index[start..stop].iter().enumerate() {
                let from = ((row - first) * w) as usize;
                out[(start + k) * width..(start + k + 1) * width]
                    .copy_from_slice(&scratch[from..from + width]);
            }
        }
        start = stop;
    }
    Ok(())
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, at)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, at)
}

fn read_exactly(file: &File, mut buf: &mut [u8], mut at: u64) -> Result<(), ReadError> {
    while !buf.is_empty() {
        match read_at(file, buf, at) {
            Ok(0) => {
                let size = file.metadata().map_err(ReadError::Io)?.len();
                return Err(ReadError::Short { size });
            }
            Ok(got) => {
                buf = &mut buf[got..];
                at += got as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_of(bytes: &[u8]) -> (std::path::PathBuf, File) {
        let path = std::env::temp_dir().join(format!(
            "cgfast-rows-{}-{}",
            std::process::id(),
            bytes.len()
        ));
        File::create(&path).unwrap().write_all(bytes).unwrap();
        let file = File::open(&path).unwrap();
        (path, file)
    }

    #[test]
    fn rows_come_back_in_the_order_asked() {
        let bytes: Vec<u8> = (0..40).collect();
        let (path, file) = file_of(&bytes);
        let mut out = vec![0u8; 4 * 3];
        read_rows(&file, 4, 3, &[2, 3, 0, 9], &mut out, 1).unwrap();
        assert_eq!(out, [10, 11, 12, 13, 14, 15, 4, 5, 6, 31, 32, 33]);
        let mut again = vec![0u8; 4 * 3]; // 0 and 9 are close: one read of the rows between
        read_rows(&file, 4, 3, &[0, 9, 2, 3], &mut again, 1).unwrap();
        assert_eq!(again, [4, 5, 6, 31, 32, 33, 10, 11, 12, 13, 14, 15]);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_row_past_the_end_is_a_short_read() {
        let bytes: Vec<u8> = (0..20).collect();
        let (path, file) = file_of(&bytes);
        let mut out = vec![0u8; 8];
        match read_rows(&file, 0, 4, &[1, 5], &mut out, 1) {
            Err(ReadError::Short { size }) => assert_eq!(size, 20),
            other => panic!("expected a short read, got {other:?}"),
        }
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn threads_and_spans_read_the_same_rows() {
        let width = 1031; // 3 MiB in all: up to three threads read shares
        let rows = 3000u64;
        let bytes: Vec<u8> = (0..rows * width as u64)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let (path, file) = file_of(&bytes);
        let mut index: Vec<u64> = (0..rows).filter(|i| i % 3 != 1).collect();
        index.extend([5, 5, 2999, 0, 4000 / 2]);
        let expected: Vec<u8> = index
            .iter()
            .flat_map(|&i| bytes[i as usize * width..(i as usize + 1) * width].to_vec())
            .collect();
        for threads in [1, 2, 5] {
            let mut out = vec![0u8; index.len() * width];
            read_rows(&file, 0, width, &index, &mut out, threads).unwrap();
            assert_eq!(out, expected, "{threads} threads");
        }
        std::fs::remove_file(path).unwrap();
    }
}
